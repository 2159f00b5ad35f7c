"""The offline generator's work never stalls the server's event loop (issue 7, item 1).

This is the one timed test the issue asks for, and it measures event-loop lag, not the
generator: while offline jobs chew on hostile and 100,000-character texts, /healthz (which
does no work of its own) must keep answering within 50 ms at the 99th percentile. Run on
the event loop, one 16,000-character chunk alone blocked it for well over that.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.test_generation import create, settle

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus"
MAX_CHARS = 100_000
HEALTHZ_P99_S = 0.050
MIN_SAMPLES = 200


def _long_text() -> str:
    text = "\n\n".join(p.read_text() for p in sorted(CORPUS.glob("*.md")))
    return (text * (MAX_CHARS // len(text) + 1))[:MAX_CHARS]


# The inputs that froze the loop before the patterns were made linear, at full size.
HOSTILE = [
    "# a" + " " * 20_000 + "b",
    "." * 50_000 + "a",
    "![" * 40_000,
    ("_a" + " " * 5) * 10_000,
    "The cat sat. " + "Aa " * 30_000,
    "Word A. " * 10_000,
]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def test_healthz_answers_within_50ms_p99_while_offline_jobs_work_on_hostile_input(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(llm_provider="offline", workers=2, user_concurrency=100,
                               rate_limit=1000)
    headers = {"Authorization": (await new_user("alice"))["Authorization"]}
    long_text = _long_text()
    jobs = [
        await create(client, headers, "flashcard_generation", {"content": text, "maxCards": 50})
        for text in [*HOSTILE, long_text, long_text]
    ]
    jobs.append(await create(client, headers, "skill_tree_generation",
                             {"goal": "Learn it", "content": long_text, "maxDepth": 4}))

    async def watch() -> None:
        # Ask the database, not the API: the test shares the server's loop, and decoding
        # jobs that carry 100,000 characters each would be lag of the test's own making.
        while await db.fetchval(
            "SELECT count(*) FROM background_jobs WHERE status IN ('pending', 'processing')"
        ):
            await asyncio.sleep(0.2)

    watcher = asyncio.ensure_future(watch())
    lags: list[float] = []
    while not watcher.done() or len(lags) < MIN_SAMPLES:
        began = time.perf_counter()
        resp = await client.get("/healthz")
        assert resp.status == 200
        lags.append(time.perf_counter() - began)
        await asyncio.sleep(0.005)
    await watcher
    for job in jobs:
        done = await settle(client, headers, job["id"], "completed", "failed")
        assert done["status"] == "completed" or "Traceback" not in done["error"], done
    worst = sorted(lags)[-5:]
    assert _p99(lags) < HEALTHZ_P99_S, (
        f"/healthz p99 {_p99(lags) * 1000:.0f} ms over {len(lags)} requests; "
        f"worst {[round(v * 1000) for v in worst]} ms"
    )


async def test_offline_job_past_its_time_limit_fails_with_a_clear_message(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(llm_provider="offline", workers=1,
                               offline_time_limit_seconds=0.001)
    headers = {"Authorization": (await new_user("alice"))["Authorization"]}
    job = await create(client, headers, "flashcard_generation", {"content": _long_text()})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "failed" and done["attempts"] == 1
    assert "took too long" in done["error"] and "API key" in done["error"]
    assert "TooSlow" not in done["error"] and " s" not in done["error"].split("long")[0]
