"""The HTTP contract of /api/jobs over real HTTP and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.jobs import ScriptedJobs, wait_for

FLASH = "flashcard_generation"


def job_body(content: str = "instant", **extra: Any) -> dict[str, Any]:
    return {"type": FLASH, "payload": {"content": content}, **extra}


async def job_status(client: Any, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/jobs/{job_id}", headers=headers)
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def wait_status(client: Any, headers: dict[str, str], job_id: str, status: str) -> dict:
    job: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal job
        job = await job_status(client, headers, job_id)
        return job["status"] == status

    await wait_for(reached)
    return job


@pytest.fixture
async def api(make_client: Any, new_user: Any, scripted: ScriptedJobs) -> Any:
    client = await make_client(scripted.registry(), workers=2)
    alice = await new_user("alice")
    return client, {"Authorization": alice["Authorization"]}


async def test_rate_limit_is_exact_under_50_concurrent_posts(
    make_client: Any, new_user: Any, scripted: ScriptedJobs
) -> None:
    client = await make_client(scripted.registry(), workers=0)
    alice = {"Authorization": (await new_user("alice"))["Authorization"]}
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    responses = await asyncio.gather(
        *(client.post("/api/jobs", json=job_body(f"c{i}"), headers=alice) for i in range(50))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) == 20 and statuses.count(429) == 30
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses if r.status == 201)
    assert remaining == list(range(20))
    for r in responses:
        if r.status == 429:
            body = await r.json()
            assert body["code"] == "RATE_LIMITED" and body["retryAfter"] >= 1
            assert int(r.headers["Retry-After"]) == body["retryAfter"]
            assert r.headers["RateLimit-Remaining"] == "0"
    late = await client.post("/api/jobs", json=job_body("21st"), headers=alice)
    assert late.status == 429
    other_type = await client.post(
        "/api/jobs", json={"type": "skill_tree_generation", "payload": {"goal": "Learn Go"}},
        headers=alice,
    )
    assert other_type.status == 201
    other_user = await client.post("/api/jobs", json=job_body(), headers=bob)
    assert other_user.status == 201 and other_user.headers["RateLimit-Remaining"] == "19"


async def test_rate_limit_is_exact_at_the_boundary_across_two_apps_and_both_enqueue_paths(
    make_client: Any, new_user: Any, scripted: ScriptedJobs, db: asyncpg.Pool
) -> None:
    """A plain POST is one function call (migration 0003) and a keyed one a transaction:
    both take the one (user, type) lock, so racing each other from two processes' pools
    they still create exactly the limit, never one more."""
    clients = [await make_client(scripted.registry(), workers=0) for _ in range(2)]
    alice = await new_user("alice")
    headers = {"Authorization": alice["Authorization"]}
    for i in range(15):
        assert (await clients[i % 2].post("/api/jobs", json=job_body(f"p{i}"),
                                          headers=headers)).status == 201

    def post(i: int) -> Any:
        keyed = {**headers, "Idempotency-Key": f"k{i}"} if i % 4 >= 2 else headers
        return clients[i % 2].post("/api/jobs", json=job_body(f"c{i}"), headers=keyed)

    responses = await asyncio.gather(*(post(i) for i in range(40)))
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 5 and statuses.count(429) == 35
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses if r.status == 201)
    assert remaining == list(range(5))
    created = await db.fetchval(
        "SELECT count(*) FROM background_jobs WHERE user_id = $1 AND type = $2",
        uuid.UUID(alice["id"]), FLASH,
    )
    assert created == 20


async def test_idempotent_replay_returns_the_same_job_and_costs_no_quota(api: Any) -> None:
    client, headers = api
    keyed = {**headers, "Idempotency-Key": "abc-123"}
    first = await client.post("/api/jobs", json=job_body("once"), headers=keyed)
    again = await client.post("/api/jobs", json=job_body("once"), headers=keyed)
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    fresh = await client.post("/api/jobs", json=job_body("other"), headers=headers)
    assert fresh.headers["RateLimit-Remaining"] == "18"
    misuse = await client.post("/api/jobs", json=job_body("different"), headers=keyed)
    assert misuse.status == 422
    assert (await misuse.json())["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_concurrent_replays_of_one_key_create_one_job(api: Any, db: asyncpg.Pool) -> None:
    client, headers = api
    keyed = {**headers, "Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *(client.post("/api/jobs", json=job_body("k"), headers=keyed) for _ in range(10))
    )
    assert sorted(r.status for r in responses) == [200] * 9 + [201]
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 1


BAD_BODIES: list[tuple[str, bytes | None, dict[str, str], int, str]] = [
    ("invalid json", b"{nope", {}, 400, "INVALID_JSON"),
    ("empty body", b"", {}, 400, "INVALID_JSON"),
    ("array body", b"[1, 2]", {}, 422, "VALIDATION_ERROR"),
    ("string body", b'"hello"', {}, 422, "VALIDATION_ERROR"),
    ("unknown type", b'{"type": "essay", "payload": {}}', {}, 422, "VALIDATION_ERROR"),
    ("missing payload", b'{"type": "flashcard_generation"}', {}, 422, "VALIDATION_ERROR"),
    ("payload not object", b'{"type": "flashcard_generation", "payload": 3}', {}, 422,
     "VALIDATION_ERROR"),
    ("content wrong type", b'{"type": "flashcard_generation", "payload": {"content": 5}}', {},
     422, "VALIDATION_ERROR"),
    ("content empty", b'{"type": "flashcard_generation", "payload": {"content": ""}}', {},
     422, "VALIDATION_ERROR"),
    ("extra payload field",
     b'{"type": "flashcard_generation", "payload": {"content": "x", "evil": 1}}', {}, 422,
     "VALIDATION_ERROR"),
    ("extra envelope field",
     b'{"type": "flashcard_generation", "payload": {"content": "x"}, "userId": "1"}', {}, 422,
     "VALIDATION_ERROR"),
    ("priority too high",
     b'{"type": "flashcard_generation", "payload": {"content": "x"}, "priority": 11}', {}, 422,
     "VALIDATION_ERROR"),
    ("priority negative",
     b'{"type": "flashcard_generation", "payload": {"content": "x"}, "priority": -1}', {}, 422,
     "VALIDATION_ERROR"),
    ("priority bool",
     b'{"type": "flashcard_generation", "payload": {"content": "x"}, "priority": true}', {},
     422, "VALIDATION_ERROR"),
    ("maxCards too big",
     b'{"type": "flashcard_generation", "payload": {"content": "x", "maxCards": 51}}', {}, 422,
     "VALIDATION_ERROR"),
    ("bad goalId",
     b'{"type": "flashcard_generation", "payload": {"content": "x", "goalId": "zz"}}', {}, 422,
     "VALIDATION_ERROR"),
    ("bad flashcardId",
     b'{"type": "distractor_generation", "payload": {"flashcardId": "nope"}}', {}, 422,
     "VALIDATION_ERROR"),
    ("unknown flashcard",
     b'{"type": "distractor_generation", "payload": {"flashcardId": "'
     + str(uuid.uuid4()).encode() + b'"}}', {}, 422, "VALIDATION_ERROR"),
    ("distractor count 7",
     b'{"type": "distractor_generation", "payload": {"flashcardId": "'
     + str(uuid.uuid4()).encode() + b'", "count": 7}}', {}, 422, "VALIDATION_ERROR"),
    ("skill tree depth 6", b'{"type": "skill_tree_generation", "payload": {"goal": "x", '
     b'"maxDepth": 6}}', {}, 422, "VALIDATION_ERROR"),
    ("content over 100k chars",
     b'{"type": "flashcard_generation", "payload": {"content": "' + b"a" * 100_001 + b'"}}', {},
     422, "VALIDATION_ERROR"),
    ("body over 1 MiB",
     b'{"type": "flashcard_generation", "payload": {"content": "' + b"a" * 1_100_000 + b'"}}',
     {}, 413, "PAYLOAD_TOO_LARGE"),
    ("not utf-8", b'{"type": "\xff"}', {}, 400, "INVALID_JSON"),
    ("xml content type", b"<job/>", {"Content-Type": "application/xml"}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ("idempotency key too long", b'{"type": "flashcard_generation", "payload": {"content": "x"}}',
     {"Idempotency-Key": "k" * 201}, 422, "VALIDATION_ERROR"),
]


@pytest.mark.parametrize(
    ("body", "extra_headers", "status", "code"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_input_gets_a_clear_4xx_and_creates_nothing(
    api: Any, db: asyncpg.Pool, body: bytes, extra_headers: dict[str, str], status: int,
    code: str,
) -> None:
    client, headers = api
    send_headers = {"Content-Type": "application/json", **headers, **extra_headers}
    resp = await client.post("/api/jobs", data=io.BytesIO(body), headers=send_headers)
    assert resp.status == status
    payload = await resp.json()
    assert payload["code"] == code and payload["error"].endswith(".")
    assert "Traceback" not in await resp.text()
    if code == "VALIDATION_ERROR" and status == 422 and b"Idempotency" not in body:
        assert payload.get("details")
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


@pytest.mark.parametrize("path", ["/api/jobs/not-a-uuid", f"/api/jobs/{uuid.uuid4()}",
                                  "/api/jobs/%00", "/api/flashcards/xyz",
                                  "/api/skill-trees/123"])
async def test_malformed_or_missing_ids_are_404(api: Any, path: str) -> None:
    client, headers = api
    resp = await client.get(path, headers=headers)
    assert resp.status == 404
    assert (await resp.json())["code"] == "NOT_FOUND"


async def test_missing_or_bad_credentials_are_401(api: Any) -> None:
    client, _ = api
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        resp = await client.get("/api/jobs", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["code"] == "UNAUTHORIZED"


async def test_another_users_job_is_404_on_every_route(api: Any, new_user: Any) -> None:
    client, alice = api
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    job = await (await client.post("/api/jobs", json=job_body("permanent"), headers=alice)).json()
    await wait_status(client, alice, job["id"], "failed")
    routes = [
        ("GET", f"/api/jobs/{job['id']}"),
        ("POST", f"/api/jobs/{job['id']}"),
        ("POST", f"/api/jobs/{job['id']}/retry"),
        ("DELETE", f"/api/jobs/{job['id']}"),
        ("GET", f"/api/jobs/{job['id']}/events"),
    ]
    for method, path in routes:
        resp = await client.request(method, path, headers=bob)
        assert resp.status == 404, (method, path)
    listing = await (await client.get("/api/jobs", headers=bob)).json()
    assert listing == {"jobs": [], "next": None}


async def test_list_is_newest_first_and_paginates_with_next(api: Any) -> None:
    client, headers = api
    created = []
    for i in range(5):
        r = await client.post("/api/jobs", json=job_body(f"slow:30#{i}"), headers=headers)
        created.append((await r.json())["id"])
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&before={cursor}" if cursor else "")
        page = await (await client.get(f"/api/jobs{query}", headers=headers)).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == created[::-1]
    bad = await client.get("/api/jobs?limit=0&status=weird", headers=headers)
    assert bad.status == 422
    assert (await client.get("/api/jobs?before=%%%", headers=headers)).status == 422


async def test_permanent_error_fails_at_once_and_retry_creates_a_linked_job(
    api: Any, scripted: ScriptedJobs
) -> None:
    client, headers = api
    job = await (await client.post("/api/jobs", json=job_body("permanent"), headers=headers)).json()
    failed = await wait_status(client, headers, job["id"], "failed")
    assert failed["attempts"] == 1 and failed["error"] == "scripted permanent failure"
    assert scripted.runs["permanent"] == 1
    retry = await client.post(f"/api/jobs/{job['id']}", headers=headers)
    assert retry.status == 201
    new = await retry.json()
    assert new["retryOf"] == job["id"] and new["id"] != job["id"] and new["attempts"] == 0
    # a job is retried once: retrying it again (here through the alias) replays that retry
    alias = await client.post(f"/api/jobs/{job['id']}/retry", headers=headers)
    assert alias.status == 200 and (await alias.json())["id"] == new["id"]


async def test_retry_of_an_unfinished_job_is_409(api: Any) -> None:
    client, headers = api
    job = await (await client.post("/api/jobs", json=job_body("hang"), headers=headers)).json()
    resp = await client.post(f"/api/jobs/{job['id']}/retry", headers=headers)
    assert resp.status == 409 and (await resp.json())["code"] == "NOT_RETRYABLE"


async def test_cancel_pending_is_immediate(make_client: Any, new_user: Any,
                                           scripted: ScriptedJobs) -> None:
    client = await make_client(scripted.registry(), workers=0)
    headers = {"Authorization": (await new_user())["Authorization"]}
    job = await (await client.post("/api/jobs", json=job_body("x"), headers=headers)).json()
    resp = await client.delete(f"/api/jobs/{job['id']}", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    again = await client.delete(f"/api/jobs/{job['id']}", headers=headers)
    assert again.status == 409 and (await again.json())["code"] == "ALREADY_FINISHED"


async def test_cancel_processing_stops_the_handler_within_seconds(
    api: Any, scripted: ScriptedJobs
) -> None:
    client, headers = api
    job = await (await client.post("/api/jobs", json=job_body("hang"), headers=headers)).json()
    await wait_status(client, headers, job["id"], "processing")
    resp = await client.delete(f"/api/jobs/{job['id']}", headers=headers)
    body = await resp.json()
    assert resp.status == 200 and body["cancelRequested"] is True
    done = await wait_status(client, headers, job["id"], "cancelled")
    assert done["completedAt"] is not None


async def test_unexpected_handler_exception_is_retried_without_leaking_details(
    api: Any, scripted: ScriptedJobs
) -> None:
    client, headers = api
    job = await (await client.post("/api/jobs", json=job_body("raise"), headers=headers)).json()
    failed = await wait_status(client, headers, job["id"], "failed")
    assert failed["attempts"] == 3
    assert "ZeroDivision" not in failed["error"] and "unexpected" in failed["error"]


async def test_progress_is_recorded_on_the_job(api: Any) -> None:
    client, headers = api
    resp = await client.post("/api/jobs", json=job_body("progress:3"), headers=headers)
    job = await resp.json()
    done = await wait_status(client, headers, job["id"], "completed")
    assert done["progress"] == {"chunk": 3}


async def test_health_and_readiness(api: Any) -> None:
    client, _ = api
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": True, "listener": True, "workers": True}
    openapi = await (await client.get("/api/openapi.json")).json()
    assert "/api/jobs" in openapi["paths"]
    metrics = await (await client.get("/metrics")).text()
    assert "cardforge_jobs_enqueued_total" in metrics
