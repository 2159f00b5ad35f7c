"""Live job status over Server-Sent Events, against a real PostgreSQL and real HTTP.

The streams are read as a browser's EventSource reads them: the bytes on the wire are parsed
by the small SSE parser below (blocks separated by a blank line; ``event:``, ``id:``,
``data:``, ``retry:`` fields; ``:`` comments), never by looking for substrings. Every read
has a ceiling, so a stream that stops short fails its test instead of hanging it.

Where a test needs to see each state of a job, the job runs under ``GatedJobs``, whose
handler takes one step only when the test opens its gate: otherwise a fast job's changes
are (rightly) coalesced by the stream and the test would depend on timing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from handlers.context import JobContext
from handlers.models import FlashcardPayload, JobType, Outcome, PlainResult
from handlers.registry import HandlerRegistry, JobHandler
from server.app import create_app
from server.http.events import (
    RETRY_HINT_MS,
    SHUTDOWN_RETRY_HINT_MS,
    SUBSCRIBER_QUEUE_SIZE,
    EventHub,
    Signal,
)
from server.metrics import Metrics
from tests.support.jobs import ScriptedJobs, app_settings, wait_for
from tests.support.sse import READ_CEILING_S, SseBlock, SseParser, SseStream

FLASH = "flashcard_generation"


def test_parser_reads_the_event_stream_grammar() -> None:
    parser = SseParser()
    wire = (
        b"retry: 3000\r\n\r\n: keep-alive\n\nevent: job\nid: 7\ndata: {\"a\":\r\n"
        b"data:1}\n\ndata: caf\xc3"
    )
    blocks = [b for i in range(len(wire)) for b in parser.feed(wire[i : i + 1])]
    blocks += parser.feed(b"\xa9\rid\rretry: soon\r\r\n")
    assert blocks == [
        SseBlock(retry=3000),
        SseBlock(comments=["keep-alive"]),
        SseBlock(event="job", id="7", data_lines=['{"a":', "1}"]),
        SseBlock(id="", data_lines=["café"]),
    ]
    assert blocks[2].job == {"a": 1} and blocks[2].name == "job"
    assert blocks[3].name == "message"


# --------------------------------------------------------------------------- helpers


@dataclass
class GatedJobs:
    """A flashcard_generation handler that reports ``progress:<n>`` steps and then completes,
    taking each step only when the test calls ``step()``: every state is observable."""

    gate: asyncio.Queue[None] = field(default_factory=asyncio.Queue)

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.gate.put_nowait(None)

    async def run(self, payload: FlashcardPayload, ctx: JobContext) -> Outcome:
        kind, _, arg = payload.content.partition(":")
        steps = int(arg.split("#")[0]) if kind == "progress" else 0
        for i in range(steps):
            await self.gate.get()
            await ctx.progress({"chunk": i + 1})
        await self.gate.get()
        return PlainResult(data={"steps": steps})

    def registry(self) -> HandlerRegistry:
        return HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run)]
        )


@pytest.fixture
def gated() -> GatedJobs:
    return GatedJobs()


async def post_job(client: Any, headers: dict[str, str], content: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/jobs", json={"type": FLASH, "payload": {"content": content}}, headers=headers
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def get_job(client: Any, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/jobs/{job_id}", headers=headers)
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def wait_job(client: Any, headers: dict[str, str], job_id: str, **expected: Any) -> dict:
    job: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal job
        job = await get_job(client, headers, job_id)
        return all(job[k] == v for k, v in expected.items())

    await wait_for(reached)
    return job


async def open_stream(
    client: Any,
    path: str,
    headers: dict[str, str],
    last_event_id: int | str | None = None,
) -> SseStream:
    request_headers = {**headers, "Accept": "text/event-stream"}
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = str(last_event_id)
    resp = await asyncio.wait_for(client.get(path, headers=request_headers), READ_CEILING_S)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/event-stream"
    return SseStream(resp)


async def metric(client: Any, name: str) -> float:
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"no metric {name}")


def assert_strictly_increasing(events: list[SseBlock]) -> None:
    versions = [e.version for e in events]
    assert versions == sorted(set(versions)), versions
    for e in events:
        assert e.job["version"] == e.version


@pytest.fixture
async def alice(new_user: Any) -> dict[str, str]:
    return {"Authorization": (await new_user("alice"))["Authorization"]}


# --------------------------------------------------------------------------- per-job stream


async def test_first_event_is_the_current_state_sent_at_once_after_a_retry_hint(
    make_client: Any, alice: dict[str, str], gated: GatedJobs
) -> None:
    client = await make_client(gated.registry(), workers=0)
    job = await post_job(client, alice, "progress:1")
    stream = await open_stream(client, f"/api/jobs/{job['id']}/events", alice)
    assert stream.resp.headers["Cache-Control"].startswith("no-cache")

    hint = await stream.block()
    assert hint == SseBlock(retry=RETRY_HINT_MS)
    first = await stream.block()
    assert first is not None and first.is_event
    assert first.name == "job" and first.version == job["version"]
    # the Job as GET /api/jobs lists it, camelCase; the submitted text is left out of events
    listed = (await (await client.get("/api/jobs", headers=alice)).json())["jobs"]
    assert first.job == listed[0]
    assert first.job["payload"] == {"contentLength": len("progress:1")}
    assert {"maxAttempts", "cancelRequested", "createdAt", "retryOf"} <= first.job.keys()
    stream.close()


async def test_job_stream_shows_pending_processing_progress_completed_and_then_ends(
    make_client: Any, alice: dict[str, str], gated: GatedJobs
) -> None:
    api = await make_client(gated.registry(), workers=0)
    job = await post_job(api, alice, "progress:3")
    stream = await open_stream(api, f"/api/jobs/{job['id']}/events", alice)
    events = [await stream.expect_event()]
    await make_client(gated.registry(), workers=1)  # starts now, so "pending" is seen first
    events.append(await stream.expect_event())
    for _ in range(4):
        gated.step()
        events.append(await stream.expect_event())
    trailing = await stream.rest()

    assert [(e.name, e.job["status"], e.job["progress"]) for e in events] == [
        ("job", "pending", None),
        ("job", "processing", None),
        ("progress", "processing", {"chunk": 1}),
        ("progress", "processing", {"chunk": 2}),
        ("progress", "processing", {"chunk": 3}),
        ("job", "completed", {"chunk": 3}),
    ]
    assert_strictly_increasing(events)
    assert events[-1].job["result"] == {"steps": 3}
    assert not [b for b in trailing if b.is_event]  # the response completed after "completed"


async def test_resume_with_last_event_id_sends_only_newer_states(
    make_client: Any, alice: dict[str, str], gated: GatedJobs
) -> None:
    client = await make_client(gated.registry(), workers=1)
    job = await post_job(client, alice, "progress:3")
    path = f"/api/jobs/{job['id']}/events"
    await wait_job(client, alice, job["id"], status="processing")
    gated.step()
    await wait_job(client, alice, job["id"], progress={"chunk": 1})
    first = await open_stream(client, path, alice)
    seen = [await first.expect_event()]
    assert seen[0].job["progress"] == {"chunk": 1}
    first.close()  # the connection drops; meanwhile the job moves on

    gated.step()
    await wait_job(client, alice, job["id"], progress={"chunk": 2})
    resumed = await open_stream(client, path, alice, last_event_id=seen[-1].id)
    catch_up = await resumed.expect_event()
    assert catch_up.version > seen[-1].version
    assert catch_up.job["progress"] == {"chunk": 2}
    seen.append(catch_up)
    resumed.close()

    # resuming from the current version: nothing is repeated, the next change comes next
    again = await open_stream(client, path, alice, last_event_id=seen[-1].id)
    gated.step()
    after = [await again.expect_event()]
    gated.step()
    after += [e for e in await again.rest() if e.is_event]
    assert [(e.job["status"], e.job["progress"]) for e in after] == [
        ("processing", {"chunk": 3}),
        ("completed", {"chunk": 3}),
    ]
    assert_strictly_increasing(seen + after)


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_from_the_terminal_state_of_a_finished_job_sends_nothing_and_ends(
    make_client: Any, alice: dict[str, str], how: str
) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=1)
    job = await post_job(client, alice, "instant")
    done = await wait_job(client, alice, job["id"], status="completed")
    path = f"/api/jobs/{job['id']}/events"

    fresh = [b for b in await (await open_stream(client, path, alice)).rest() if b.is_event]
    assert [(e.job["status"], e.version) for e in fresh] == [("completed", done["version"])]

    if how == "header":
        resumed = await open_stream(client, path, alice, last_event_id=done["version"])
    else:
        resumed = await open_stream(client, f"{path}?lastEventId={done['version']}", alice)
    assert [b for b in await resumed.rest() if b.is_event] == []


# --------------------------------------------------------------------------- user stream


async def test_user_stream_interleaves_all_of_the_users_jobs_and_none_of_anyone_elses(
    make_client: Any, new_user: Any, alice: dict[str, str]
) -> None:
    scripted = ScriptedJobs()
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    api = await make_client(scripted.registry(), workers=0)
    mine = [(await post_job(api, alice, f"progress:3#{i}"))["id"] for i in range(3)]
    theirs = (await post_job(api, bob, "progress:3#bob"))["id"]
    stream = await open_stream(api, "/api/events", alice)
    worker = await make_client(scripted.registry(), workers=4)

    events: list[SseBlock] = []
    while {e.job["id"] for e in events if e.job["status"] == "completed"} != set(mine):
        events.append(await stream.expect_event())
    await wait_job(api, bob, theirs, status="completed")
    await worker.close()  # from here on nothing changes but what the test does
    # a later change of alice's is ordered after bob's completion: had bob's job leaked into
    # alice's stream, it would show up before this marker
    marker = (await post_job(api, alice, "marker"))["id"]
    while events[-1].job["id"] != marker:
        events.append(await stream.expect_event())

    assert {e.job["id"] for e in events} == {*mine, marker}
    assert_strictly_increasing(events)
    for job_id in mine:
        statuses = [e.job["status"] for e in events if e.job["id"] == job_id]
        assert statuses[0] == "pending" and statuses[-1] == "completed"
        assert statuses == sorted(statuses, key=["pending", "processing", "completed"].index)
    stream.close()

    # resume across jobs from the middle: exactly the jobs that changed since, as they are now
    middle = events[len(events) // 2]
    resumed = await open_stream(api, "/api/events", alice, last_event_id=middle.id)
    replay: list[SseBlock] = []
    while not replay or replay[-1].job["id"] != marker:
        replay.append(await resumed.expect_event())
    latest = {e.job["id"]: e for e in events}
    assert [e.job for e in replay] == [
        e.job for e in sorted(latest.values(), key=lambda e: e.version)
        if e.version > middle.version
    ]
    resumed.close()


async def test_user_stream_resume_after_more_than_one_batch_of_changes_misses_nothing(
    make_client: Any, alice: dict[str, str]
) -> None:
    """Regression: a resume reads changed jobs in batches (LIMIT 500); every batch must be
    sent, not only the first until some unrelated job happens to change again."""
    client = await make_client(ScriptedJobs().registry(), workers=0, rate_limit=10_000)
    before = await post_job(client, alice, "before")
    created: list[str] = []
    for start in range(0, 520, 40):
        batch = await asyncio.gather(
            *(post_job(client, alice, f"job {i}") for i in range(start, min(start + 40, 520)))
        )
        created += [job["id"] for job in batch]

    stream = await open_stream(client, "/api/events", alice, last_event_id=before["version"])
    received: list[SseBlock] = []
    while len(received) < len(created):
        received.append(await stream.expect_event())
    assert {e.job["id"] for e in received} == set(created)
    assert_strictly_increasing(received)
    stream.close()


async def test_user_stream_misses_no_change_committed_out_of_version_order(
    make_client: Any, alice: dict[str, str], db: asyncpg.Pool
) -> None:
    """Regression: versions are drawn when a row is written but become visible at commit, so
    two workers finishing two of a user's jobs can commit v+1 before v. A stream that read
    v+1 and moved its cursor there must still be sent v's change when it commits."""
    client = await make_client(ScriptedJobs().registry(), workers=0)
    slow_job = await post_job(client, alice, "written first, committed last")
    fast_job = await post_job(client, alice, "written second, committed first")
    stream = await open_stream(client, "/api/events", alice)
    for _ in range(2):
        await stream.expect_event()
    progress = "UPDATE background_jobs SET progress = $2 WHERE id = $1"

    async with db.acquire() as slow_writer:
        tx = slow_writer.transaction()
        await tx.start()
        await slow_writer.execute(progress, UUID(slow_job["id"]), {"step": 1})
        fast = asyncio.create_task(db.execute(progress, UUID(fast_job["id"]), {"step": 1}))
        # let the second writer commit first if the database allows it (it need not)
        done, _ = await asyncio.wait({fast}, timeout=2)
        seen = [await stream.expect_event()] if done else []
        await tx.commit()
    await fast

    while {e.job["id"] for e in seen if e.job["progress"]} != {slow_job["id"], fast_job["id"]}:
        seen.append(await stream.expect_event())
    stream.close()


# --------------------------------------------------------------------------- access


async def test_another_users_job_stream_is_404(
    make_client: Any, new_user: Any, alice: dict[str, str]
) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=0)
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    job = await post_job(client, alice, "mine")
    for path in (f"/api/jobs/{job['id']}/events", f"/api/jobs/{uuid4()}/events",
                 "/api/jobs/not-a-uuid/events"):
        resp = await client.get(path, headers=bob)
        assert resp.status == 404, path
        assert (await resp.json())["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/api/events", f"/api/jobs/{uuid4()}/events"])
async def test_streams_without_credentials_are_401(make_client: Any, path: str) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=0)
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = await client.get(path, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["code"] == "UNAUTHORIZED"
    assert await metric(client, "cardforge_sse_clients") == 0


# --------------------------------------------------------------------------- replicas


async def test_an_api_only_replica_streams_a_job_that_another_instance_works(
    make_client: Any, alice: dict[str, str], gated: GatedJobs
) -> None:
    """The replica runs no worker, so every event it sends after the first was learnt from
    Postgres NOTIFY about a change made by the other instance."""
    worker = await make_client(gated.registry(), workers=1)
    replica = await make_client(gated.registry(), workers=0)
    job = await post_job(replica, alice, "progress:2")
    await wait_job(worker, alice, job["id"], status="processing")

    stream = await open_stream(replica, f"/api/jobs/{job['id']}/events", alice)
    events = [await stream.expect_event()]
    for _ in range(3):
        gated.step()
        events.append(await stream.expect_event())
    assert await stream.event() is None

    assert [(e.name, e.job["status"], e.job["progress"]) for e in events] == [
        ("job", "processing", None),
        ("progress", "processing", {"chunk": 1}),
        ("progress", "processing", {"chunk": 2}),
        ("job", "completed", {"chunk": 2}),
    ]
    assert_strictly_increasing(events)
    assert await metric(worker, "cardforge_sse_clients") == 0


# --------------------------------------------------------------------------- slow clients


def dropped_total(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("cardforge_sse_dropped_total")


def test_hub_signals_overflow_to_a_subscriber_that_stops_consuming() -> None:
    metrics = Metrics()
    hub = EventHub(metrics)
    user, job = uuid4(), uuid4()
    slow = hub.subscribe(user, job)
    other_job = hub.subscribe(user, uuid4())
    change = {"id": str(job), "userId": str(user), "version": 1}

    for _ in range(SUBSCRIBER_QUEUE_SIZE):
        hub.publish(change)
    assert dropped_total(metrics) == 0
    hub.publish(change)
    assert dropped_total(metrics) == 1

    assert slow.control is Signal.OVERFLOW and slow.changes == 0  # it replaced the backlog
    hub.close()  # shutdown still reaches it, as its last word, and outranks the overflow

    assert slow.take() is Signal.SHUTDOWN and slow.take() is None
    assert other_job.take() is Signal.SHUTDOWN  # a per-job subscription hears only its job
    assert other_job.take() is None


def test_pending_changes_are_one_pass_and_a_control_signal_replaces_them() -> None:
    hub = EventHub(Metrics())
    user, job = uuid4(), uuid4()
    sub = hub.subscribe(user, None)
    for version in range(1, 6):
        hub.publish({"id": str(job), "userId": str(user), "version": version})
    assert sub.take() is Signal.CHANGED and sub.take() is None  # five changes, one pass
    hub.publish({"id": str(job), "userId": str(user), "version": 6})
    sub.force(Signal.RESYNC)
    assert sub.take() is Signal.RESYNC and sub.take() is None
    sub.force(Signal.SHUTDOWN)
    sub.force(Signal.RESYNC)  # a weaker signal never hides shutdown
    assert sub.take() is Signal.SHUTDOWN


def test_hub_counts_a_slow_subscriber_as_dropped_once() -> None:
    """``cardforge_sse_dropped_total`` counts clients dropped, not events they missed."""
    metrics = Metrics()
    hub = EventHub(metrics)
    user, job = uuid4(), uuid4()
    hub.subscribe(user, job)
    for _ in range(SUBSCRIBER_QUEUE_SIZE * 3):
        hub.publish({"id": str(job), "userId": str(user), "version": 1})
    assert dropped_total(metrics) == 1


# Events leave the submitted text out, so a job that reports bulky progress is what fills a
# stalled client's socket buffers fast.
BIG = "x" * 90_000
MANY_STEPS = 300


@dataclass
class BulkyProgressJobs:
    """Reports MANY_STEPS progress updates of BIG size each, as fast as it can."""

    async def run(self, payload: FlashcardPayload, ctx: JobContext) -> Outcome:
        for i in range(MANY_STEPS):
            await ctx.progress({"chunk": i + 1, "note": BIG})
        return PlainResult(data={"steps": MANY_STEPS})

    def registry(self) -> HandlerRegistry:
        return HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run)]
        )


async def listed_job(client: Any, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    jobs = (await (await client.get("/api/jobs", headers=headers)).json())["jobs"]
    return next(job for job in jobs if job["id"] == job_id)  # type: ignore[no-any-return]


async def test_a_client_that_stops_reading_is_dropped_and_catches_up_on_reconnect(
    make_client: Any, alice: dict[str, str]
) -> None:
    client = await make_client(BulkyProgressJobs().registry(), workers=1)
    job = await post_job(client, alice, "bulky")
    path = f"/api/jobs/{job['id']}/events"
    stalled = await open_stream(client, path, alice)
    last_seen = await stalled.expect_event()  # and then no more reading while the job runs

    async def dropped() -> bool:
        return await metric(client, "cardforge_sse_dropped_total") >= 1

    await wait_for(dropped)
    await wait_job(client, alice, job["id"], status="completed")
    done = await listed_job(client, alice, job["id"])
    stalled.close()  # the browser gives up on the stalled stream and reconnects
    resumed = await open_stream(client, path, alice, last_event_id=last_seen.id)
    caught_up = [b for b in await resumed.rest() if b.is_event]
    assert caught_up and caught_up[0].version > last_seen.version
    assert_strictly_increasing([last_seen, *caught_up])
    assert caught_up[-1].job == done


async def test_a_client_that_stops_reading_is_disconnected_not_parked(
    make_client: Any, alice: dict[str, str]
) -> None:
    """Dropping a slow client must end its stream: a stream whose writes are stuck behind a
    full socket otherwise holds its handler, subscription and connection until the client
    goes away, which it may never do."""
    client = await make_client(BulkyProgressJobs().registry(), workers=1)
    job = await post_job(client, alice, "bulky")
    stalled = await open_stream(client, f"/api/jobs/{job['id']}/events", alice)

    async def dropped() -> bool:
        return await metric(client, "cardforge_sse_dropped_total") >= 1

    async def no_streams() -> bool:
        return await metric(client, "cardforge_sse_clients") == 0

    await wait_for(dropped)
    await wait_job(client, alice, job["id"], status="completed")
    await wait_for(no_streams)
    stalled.close()


# --------------------------------------------------------------------------- lifecycle


async def test_shutdown_ends_open_streams_cleanly_with_a_retry_hint(
    make_client: Any, alice: dict[str, str]
) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=0)
    job = await post_job(client, alice, "never runs")
    streams = [
        await open_stream(client, f"/api/jobs/{job['id']}/events", alice),
        await open_stream(client, "/api/events", alice),
    ]
    for stream in streams:
        assert (await stream.expect_event()).job["id"] == job["id"]

    closing = asyncio.create_task(client.server.close())
    for stream in streams:
        rest = await stream.rest()  # a truncated chunked body would raise here
        assert [b for b in rest if b.is_event] == []
        hints = [b for b in rest if b.retry is not None]
        assert hints and hints[-1].retry == SHUTDOWN_RETRY_HINT_MS
    await asyncio.wait_for(closing, READ_CEILING_S)


async def test_an_idle_stream_gets_keep_alive_comments(
    make_client: Any, alice: dict[str, str]
) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=0, keepalive_seconds=0.2)
    job = await post_job(client, alice, "idle")
    for path in (f"/api/jobs/{job['id']}/events", "/api/events"):
        stream = await open_stream(client, path, alice)
        await stream.expect_event()
        for _ in range(2):
            block = await stream.block()
            assert block is not None and not block.is_event
            assert block.comments and block.id is None and block.retry is None
        stream.close()


@pytest.mark.parametrize(
    ("handler_cancellation", "keepalive_seconds"),
    [
        (True, 300.0),  # as `cardforge serve` runs: aiohttp cancels the handler at once
        (False, 0.2),  # without cancellation, the next keep-alive write notices
    ],
    ids=["handler-cancellation", "keep-alive-write"],
)
async def test_a_client_that_disconnects_is_unsubscribed(
    database_url: str,
    aiohttp_client: Any,
    alice: dict[str, str],
    handler_cancellation: bool,
    keepalive_seconds: float,
) -> None:
    settings = app_settings(database_url, workers=0, keepalive_seconds=keepalive_seconds)
    client = await aiohttp_client(
        create_app(settings, registry=ScriptedJobs().registry()),
        server_kwargs={"handler_cancellation": handler_cancellation},
    )
    job = await post_job(client, alice, "watched")

    async def streams_open(expected: int) -> bool:
        return await metric(client, "cardforge_sse_clients") == expected

    for path in (f"/api/jobs/{job['id']}/events", "/api/events"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {client.host}\r\n"
            f"Authorization: {alice['Authorization']}\r\nAccept: text/event-stream\r\n\r\n"
            .encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_CEILING_S)
        assert head.startswith(b"HTTP/1.1 200")
        await wait_for(lambda: streams_open(1))
        writer.transport.abort()  # no FIN handshake, no goodbye: the client is just gone
        await wait_for(lambda: streams_open(0))
