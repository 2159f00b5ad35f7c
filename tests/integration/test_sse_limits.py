"""SSE under load and failure: one database read per change for all of a user's streams, a
cap on open streams per user, events without the submitted text, and a database error after
a stream started that ends it cleanly. Real server, real PostgreSQL, the wire parsed as an
EventSource parses it."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.integration.test_sse import metric, open_stream, post_job
from tests.support.jobs import ScriptedJobs, wait_for
from tests.support.sse import READ_CEILING_S

FLASH = "flashcard_generation"


@pytest.fixture
async def alice(new_user: Any) -> dict[str, str]:
    return {"Authorization": (await new_user("alice"))["Authorization"]}


async def test_one_change_is_read_once_for_all_of_a_users_streams(
    make_client: Any, alice: dict[str, str], db: asyncpg.Pool
) -> None:
    """Regression: every stream ran its own ``changed_since`` query per change, so one
    change cost the database a query per subscriber."""
    client = await make_client(ScriptedJobs().registry(), workers=0, max_streams_per_user=50)
    job = await post_job(client, alice, "watched")
    streams = [await open_stream(client, "/api/events", alice) for _ in range(12)]
    streams += [await open_stream(client, f"/api/jobs/{job['id']}/events", alice)
                for _ in range(4)]
    for stream in streams:
        await stream.expect_event()
    reads_before = await metric(client, "cardforge_sse_feed_reads_total")

    for step in range(3):
        await db.execute("UPDATE background_jobs SET progress = $2 WHERE id = $1",
                         UUID(job["id"]), {"step": step})
        for stream in streams:
            event = await stream.expect_event()
            assert event.job["progress"] == {"step": step}
    reads = await metric(client, "cardforge_sse_feed_reads_total") - reads_before
    assert 1 <= reads <= 3, reads  # one per change at most, never one per stream
    for stream in streams:
        stream.close()


async def test_streams_past_the_per_user_cap_get_a_429_with_a_sentence(
    make_client: Any, alice: dict[str, str], new_user: Any
) -> None:
    """Regression: nothing bounded the streams one user could hold open."""
    client = await make_client(ScriptedJobs().registry(), workers=0, max_streams_per_user=3)
    job = await post_job(client, alice, "watched")
    held = [await open_stream(client, "/api/events", alice),
            await open_stream(client, f"/api/jobs/{job['id']}/events", alice),
            await open_stream(client, "/api/events", alice)]
    for path in ("/api/events", f"/api/jobs/{job['id']}/events"):
        refused = await client.get(path, headers=alice)
        assert refused.status == 429
        body = await refused.json()
        assert body["code"] == "TOO_MANY_STREAMS"
        assert body["error"].endswith(".") and "3" in body["error"]
        assert refused.headers["Retry-After"].isdigit()

    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    other = await open_stream(client, "/api/events", bob)  # the cap is per user
    other.close()

    held.pop().close()

    async def freed() -> bool:
        return await metric(client, "cardforge_sse_clients") == 2

    await wait_for(freed)
    again = await open_stream(client, "/api/events", alice)
    assert (await again.expect_event()).job["id"] == job["id"]
    for stream in [*held, again]:
        stream.close()


async def test_events_and_list_items_leave_the_submitted_text_out_but_get_keeps_it(
    make_client: Any, alice: dict[str, str]
) -> None:
    """Regression: every event and every list item repeated the whole submitted text (a
    41 KB line per progress tick)."""
    client = await make_client(ScriptedJobs().registry(), workers=0)
    content = "Photosynthesis makes sugar. " * 1500
    flash = await post_job(client, alice, content)
    tree_resp = await client.post("/api/jobs", headers=alice, json={
        "type": "skill_tree_generation",
        "payload": {"goal": "Botany", "description": "d" * 1500, "content": content}})
    tree = await tree_resp.json()
    assert flash["payload"]["content"] == content  # the creating request sees what it sent

    full = await (await client.get(f"/api/jobs/{flash['id']}", headers=alice)).json()
    assert full["payload"] == {"content": content}

    listed = (await (await client.get("/api/jobs", headers=alice)).json())["jobs"]
    by_id = {job["id"]: job for job in listed}
    assert by_id[flash["id"]]["payload"] == {"contentLength": len(content)}
    assert by_id[tree["id"]]["payload"] == {
        "goal": "Botany", "maxDepth": 3, "descriptionLength": 1500,
        "contentLength": len(content)}

    stream = await open_stream(client, "/api/events", alice)
    events = [await stream.expect_event(), await stream.expect_event()]
    stream.close()
    assert {e.job["id"]: e.job["payload"] for e in events} == {
        job_id: job["payload"] for job_id, job in by_id.items()}
    assert all(len(e.data) < 2000 for e in events)

    document = await (await client.get("/api/openapi.json")).json()
    job_schema = document["components"]["schemas"]["Job"]["properties"]["payload"]
    assert "contentLength" in job_schema["description"]


@pytest.mark.parametrize("stream_of", ["user", "job"])
async def test_a_database_error_after_the_stream_started_ends_it_cleanly(
    make_client: Any, alice: dict[str, str], db: asyncpg.Pool, stream_of: str
) -> None:
    """Regression: the error went to the error middleware, whose fresh 500 response was
    written into the already-started event stream, and the connection hung. The stream must
    end as a well-formed response, so the browser's EventSource reconnects."""
    client = await make_client(ScriptedJobs().registry(), workers=0)
    job = await post_job(client, alice, "watched")
    path = "/api/events" if stream_of == "user" else f"/api/jobs/{job['id']}/events"
    stream = await open_stream(client, path, alice)
    await stream.expect_event()

    async with db.acquire() as conn, conn.transaction():
        # the change's NOTIFY is sent at commit, by which time its table is gone
        await conn.execute("UPDATE background_jobs SET progress = '{\"step\": 1}' WHERE id = $1",
                           UUID(job["id"]))
        await conn.execute("ALTER TABLE background_jobs RENAME TO background_jobs_gone")
    try:
        rest = await asyncio.wait_for(stream.rest(), READ_CEILING_S)  # truncated: raises
    finally:
        await db.execute("ALTER TABLE background_jobs_gone RENAME TO background_jobs")
    assert [b for b in rest if b.is_event] == []
    assert not any("HTTP/1.1" in line or "INTERNAL_ERROR" in line
                   for b in rest for line in [*b.data_lines, *b.comments])

    async def closed() -> bool:
        return await metric(client, "cardforge_sse_clients") == 0

    await wait_for(closed)
    resumed = await open_stream(client, path, alice, last_event_id=job["version"])
    assert (await resumed.expect_event()).job["progress"] == {"step": 1}
    resumed.close()
