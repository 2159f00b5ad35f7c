"""Bad input never causes a 5xx: schemathesis generates requests from our own OpenAPI
document (valid, invalid and edge-case bodies, ids and query strings, plus stateful
sequences following the document's links) against a real server on a real socket."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from tests.support.jobs import ScriptedJobs, app_settings, wait_for

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Every check but two: no 5xx; each answer as documented (status, content type, headers,
# body schema); 405 with an Allow header for a method a path does not take; 401 without
# credentials; a deleted deck or card is gone. positive_data_acceptance and
# negative_data_rejection stay off: what a JSON Schema cannot say (a card side of spaces only,
# an invisible format character, a cursor that is not one of ours, an Idempotency-Key reused
# with another body) is refused with a 422 the schema calls valid, and the contract's
# ``?jobId=`` (empty: no filter) is accepted where the schema asks for a UUID.
EXCLUDED_CHECKS = ("positive_data_acceptance", "negative_data_rejection")
DECKS_SEEDED = 6  # the fuzzer deletes decks and cards as it goes: enough to go around
CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus"
# The study library's routes, each of which the fuzzer must get past validation to (2xx):
# a run that only ever met 404s and 422s would prove little.
LIBRARY_ROUTES = {
    ("GET", "/api/decks"), ("GET", "/api/decks/{id}"), ("PATCH", "/api/decks/{id}"),
    ("DELETE", "/api/decks/{id}"), ("GET", "/api/decks/{id}/export"),
    ("PATCH", "/api/flashcards/{id}"), ("POST", "/api/flashcards/{id}/reviews"),
    ("GET", "/api/reviews/due"), ("GET", "/api/settings"), ("PUT", "/api/settings"),
}


async def seed_decks(database_url: str, token: str, count: int) -> None:
    """Decks with cards, made as a learner makes them (offline flashcard jobs, real
    workers), so the library's routes are fuzzed with ids that exist, not only with 404s."""
    client = TestClient(TestServer(create_app(app_settings(database_url))))
    await client.start_server()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        ids = []
        for notes in sorted(CORPUS.glob("*.md"))[:count]:  # distinct: no duplicate skips
            resp = await client.post("/api/jobs", headers=headers, json={
                "type": "flashcard_generation",
                "payload": {"content": notes.read_text(), "maxCards": 5}})
            assert resp.status == 201, await resp.text()
            ids.append((await resp.json())["id"])

        async def all_done() -> bool:
            jobs = [await (await client.get(f"/api/jobs/{i}", headers=headers)).json()
                    for i in ids]
            assert all(j["status"] != "failed" for j in jobs), jobs
            return all(j["status"] == "completed" for j in jobs)

        await wait_for(all_done, timeout_s=60)
    finally:
        await client.close()


@pytest.mark.skipif(not SCHEMATHESIS.exists() and not shutil.which("schemathesis"),
                    reason="schemathesis is not installed (pip install -e '.[dev]')")
async def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    database_url: str, new_user: Any, tmp_path: Path
) -> None:
    token = (await new_user("fuzzer"))["token"]
    await seed_decks(database_url, token, DECKS_SEEDED)
    app = create_app(app_settings(database_url, rate_limit=100_000),
                     registry=ScriptedJobs().registry())
    answered: Counter[tuple[str, str, int]] = Counter()

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        route = request.match_info.route.resource
        answered[request.method, route.canonical if route else "?", response.status] += 1

    app.on_response_prepare.append(record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS) if SCHEMATHESIS.exists() else "schemathesis", "run",
            str(server.make_url("/api/openapi.json")),
            "-H", f"Authorization: Bearer {token}",
            "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
            "--exclude-path-regex", "events",  # streams never end by design
            # NUL and every other code point in strings, numbers past every bound (the
            # negative mode) and as large as the schema allows where it sets none
            "--generation-allow-x00", "true", "--generation-codec", "utf-8", "--mode", "all",
            "--max-examples", "30", "--request-timeout", "10", "--seed", "20261129",
            "--workers", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        await server.close()
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert " passed" in report and "failed" not in report.split("SUMMARY")[-1]
    assert not [key for key in answered if key[2] >= 500], answered
    reached = {(method, path) for method, path, status in answered if 200 <= status < 300}
    assert reached >= LIBRARY_ROUTES, LIBRARY_ROUTES - reached
