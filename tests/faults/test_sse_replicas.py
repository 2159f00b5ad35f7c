"""SSE across real server processes: a stream on an API-only replica follows a job that
another process works (the events can only have come through Postgres NOTIFY), and SIGTERM
ends open streams with a retry hint, as ``cardforge serve`` runs them."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.http.events import SHUTDOWN_RETRY_HINT_MS
from tests.support.processes import ServerProcess, post_job
from tests.support.sse import SseBlock, SseStream

pytestmark = pytest.mark.faults

ORDER = ["pending", "processing", "completed"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def start(servers: list[ServerProcess], database_url: str, **settings: Any) -> ServerProcess:
    server = ServerProcess(database_url, **settings)
    servers.append(server)
    await server.start()
    return server


async def open_stream(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> SseStream:
    resp = await session.get(url, headers={**headers, "Accept": "text/event-stream"})
    assert resp.status == 200, await resp.text()
    return SseStream(resp)


async def test_a_replica_process_without_workers_streams_a_job_another_process_runs(
    database_url: str,
    user_headers: dict[str, str],
    servers: list[ServerProcess],
    session: aiohttp.ClientSession,
) -> None:
    replica = await start(servers, database_url, workers=0)
    job_id = await post_job(replica, user_headers, "progress:3")
    stream = await open_stream(session, f"{replica.url}/api/jobs/{job_id}/events", user_headers)
    first = await stream.expect_event()
    assert first.job["status"] == "pending"  # nobody can run it yet

    await start(servers, database_url, workers=2)
    events: list[SseBlock] = [first]
    events += [b for b in await stream.rest() if b.is_event]  # ends after the terminal state

    statuses = [e.job["status"] for e in events]
    assert statuses[-1] == "completed" and "processing" in statuses
    assert statuses == sorted(statuses, key=ORDER.index)
    versions = [e.version for e in events]
    assert versions == sorted(set(versions))
    assert events[-1].job["result"] == {"echo": "progress:3", "run": 1}


async def test_sigterm_ends_open_streams_with_a_retry_hint_and_exits_0(
    database_url: str,
    user_headers: dict[str, str],
    servers: list[ServerProcess],
    session: aiohttp.ClientSession,
) -> None:
    server = await start(servers, database_url, workers=0)
    job_id = await post_job(server, user_headers, "never runs")
    streams = [
        await open_stream(session, f"{server.url}/api/jobs/{job_id}/events", user_headers),
        await open_stream(session, f"{server.url}/api/events", user_headers),
    ]
    for stream in streams:
        assert (await stream.expect_event()).job["id"] == job_id

    server.signal(signal.SIGTERM)
    for stream in streams:
        rest = await stream.rest()  # a truncated chunked body would raise here
        hints = [b.retry for b in rest if b.retry is not None]
        assert hints[-1:] == [SHUTDOWN_RETRY_HINT_MS]
        assert not [b for b in rest if b.is_event]
    assert await server.wait_exit() == 0
