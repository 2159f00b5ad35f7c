"""Regression tests for the queue defects of issue 7 (items 2, 3, 7, 9): each is named after
the failure it prevents, and each failed before its fix.

Races are made deterministic, not hoped for: the test holds the lock the racing statement
needs (a row lock, or the per-user version lock of schema.sql's trigger), waits until the
database shows the statement blocked on it, and only then lets go.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from handlers.context import JobContext
from handlers.models import FlashcardPayload, JobType, Outcome, PlainResult
from handlers.providers import build_generator
from handlers.registry import HandlerRegistry, JobHandler
from server.database import create_pool
from server.keys import WORKERS
from server.metrics import Metrics
from server.queue import listener as listener_module
from server.queue import queries as q
from server.queue.engine import JobQueue
from server.queue.listener import Listener
from server.queue.workers import WorkerPool, WorkerSettings
from server.store.users import create_user
from tests.support.jobs import ScriptedJobs, wait_for

TYPES = ["flashcard_generation"]
VERSION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('cardforge:job-version:' || $1::uuid, 0))"
)


def make_queue(pool: asyncpg.Pool, **overrides: Any) -> JobQueue:
    options: dict[str, Any] = {
        "rate_limit": 100_000, "max_attempts": 3, "lease_s": 30.0, "retry_base_s": 0.05,
        "retry_max_s": 0.2, "user_concurrency": 1000,
    }
    options.update(overrides)
    return JobQueue(pool, **options)


@pytest.fixture
async def wide(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool with room for many statements blocked at once."""
    pool = await create_pool(database_url, max_size=12)
    yield pool
    await pool.close()


async def blocked_on_locks(db: asyncpg.Pool, n: int, event: str | None = None) -> None:
    """Wait until ``n`` backends of this database wait on a lock (of kind ``event``)."""

    async def blocked() -> bool:
        count = await db.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'
                 AND ($1::text IS NULL OR wait_event = $1)""",
            event,
        )
        return int(count) >= n

    await wait_for(blocked, timeout_s=15)


async def insert_jobs(db: asyncpg.Pool, user_id: uuid.UUID, n: int) -> None:
    await db.execute(
        """INSERT INTO background_jobs (user_id, type, payload, max_attempts)
           SELECT $1, 'flashcard_generation', jsonb_build_object('content', 'job ' || g), 3
           FROM generate_series(1, $2) g""",
        user_id, n,
    )


# ----------------------------------------------------------------- item 3: the per-user cap


async def test_per_user_cap_is_not_overshot_by_claims_racing_for_one_user(
    wide: asyncpg.Pool,
) -> None:
    user, _ = await create_user(wide, "racer")
    await insert_jobs(wide, user.id, 20)
    queue = make_queue(wide, user_concurrency=2)
    async with wide.acquire() as holder, holder.transaction():
        # a writer of this user's jobs is mid-transaction: every claim queues up behind it
        await holder.execute(VERSION_LOCK, user.id)
        claims = [asyncio.create_task(queue.claim(f"w{i}", TYPES)) for i in range(8)]
        await blocked_on_locks(wide, 8, "advisory")
    claimed = [job for job in await asyncio.gather(*claims) if job is not None]
    processing = await wide.fetchval(
        "SELECT count(*) FROM background_jobs WHERE status = 'processing'"
    )
    assert (len(claimed), processing) == (2, 2)


async def test_a_batch_claim_takes_no_more_of_a_users_jobs_than_the_cap(
    db: asyncpg.Pool,
) -> None:
    burst, _ = await create_user(db, "burst")
    other, _ = await create_user(db, "other")
    await insert_jobs(db, burst.id, 30)
    await insert_jobs(db, other.id, 30)
    queue = make_queue(db, user_concurrency=3)
    first = await queue.claim_batch("w", TYPES, 100)
    again = await queue.claim_batch("w", TYPES, 100)
    owners = [job.user_id for job in first]
    assert sorted(owners) == sorted([burst.id] * 3 + [other.id] * 3)
    assert again == []


async def test_idle_workers_do_not_busy_poll_while_a_users_jobs_wait_on_the_per_user_cap(
    make_client: Any, new_user: Any, scripted: ScriptedJobs, db: asyncpg.Pool
) -> None:
    client = await make_client(scripted.registry(), workers=4, user_concurrency=1,
                               poll_seconds=5)
    alice = await new_user()
    headers = {"Authorization": alice["Authorization"]}
    for content in ["hang", "instant#1", "instant#2", "instant#3"]:
        resp = await client.post(
            "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": content}},
            headers=headers,
        )
        assert resp.status == 201
    await asyncio.wait_for(scripted.started.wait(), 10)
    commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    before = int(await db.fetchval(commits))
    await asyncio.sleep(3)
    after = int(await db.fetchval(commits))
    # heartbeats, reaper passes and a poll or two; a busy poll made hundreds a second
    assert after - before < 60, after - before
    assert await db.fetchval(
        "SELECT count(*) FROM background_jobs WHERE status = 'pending'"
    ) == 3


# ----------------------------------------------------------------- item 7: races


async def test_cancel_while_a_job_moves_from_processing_back_to_pending_cancels_it_not_409(
    db: asyncpg.Pool,
) -> None:
    user, _ = await create_user(db, "mover")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await queue.claim("w", TYPES)
    assert job is not None
    async with db.acquire() as worker:
        requeue = worker.transaction()
        await requeue.start()  # the worker's requeue is written but not yet committed
        assert await worker.fetchrow(q.REQUEUE_JOB, job.id, "w", job.attempts, "boom", 0.0, None)
        cancel = asyncio.create_task(queue.cancel(user.id, job.id))
        await blocked_on_locks(db, 1)
        await requeue.commit()
    cancelled = await cancel
    assert cancelled.status == "cancelled"
    assert await queue.claim("w", TYPES) is None


async def test_two_concurrent_retries_of_one_failed_job_create_one_job(
    db: asyncpg.Pool,
) -> None:
    user, _ = await create_user(db, "double-click")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await queue.claim("w", TYPES)
    assert job is not None and await queue.fail(job, "w", "boom")
    first, second = await asyncio.gather(queue.retry(user.id, job.id), queue.retry(user.id, job.id))
    assert {first.created, second.created} == {True, False}
    assert first.job.id == second.job.id
    retries = await db.fetchval("SELECT count(*) FROM background_jobs WHERE retry_of = $1", job.id)
    assert retries == 1
    later = await queue.retry(user.id, job.id)  # and later: the same retry, at no cost
    assert (later.created, later.job.id) == (False, first.job.id)


async def test_reapers_in_two_processes_do_not_deadlock_on_the_per_user_version_locks(
    database_url: str,
) -> None:
    """Reaper A is held up half-way (a writer of one user's jobs is mid-transaction) while more
    leases expire and reaper B, in another process, picks those up: both now hold some of the
    same users' locks. Taken in each reaper's own scan order, they deadlocked; taken in one
    order, B waits for A (or A for B) and both finish."""
    pools = [await create_pool(database_url, max_size=3) for _ in range(3)]
    holder_pool, pool_a, pool_b = pools
    try:
        users = [(await create_user(holder_pool, f"r{i}"))[0].id for i in range(6)]
        reaper_a, reaper_b = make_queue(pool_a), make_queue(pool_b)
        insert = """INSERT INTO background_jobs (user_id, type, payload, max_attempts, status,
                                                 attempts, worker_id, locked_until)
                    SELECT ($1::uuid[])[1 + g % 6], 'flashcard_generation', '{"content": "x"}',
                           3, 'processing', 1, $2, now() + make_interval(secs => $3)
                    FROM generate_series(1, 60) g"""
        for round_ in range(4):
            await holder_pool.execute(insert, users, f"a{round_}", -1.0)  # expired now
            await holder_pool.execute(insert, users, f"b{round_}", 3600.0)  # expire later
            async with holder_pool.acquire() as holder:
                tx = holder.transaction()
                await tx.start()
                await holder.execute(VERSION_LOCK, users[round_ % 6])
                first = asyncio.create_task(reaper_a.reap())
                await blocked_on_locks(holder_pool, 1, "advisory")
                await holder_pool.execute(  # silent: the version trigger ignores leases
                    "UPDATE background_jobs SET locked_until = now() - interval '1 second' "
                    "WHERE worker_id = $1", f"b{round_}",
                )
                second = asyncio.create_task(reaper_b.reap())
                await blocked_on_locks(holder_pool, 2, "advisory")
                await tx.commit()
            reaped = await asyncio.gather(first, second)
            assert sum(len(r) for r in reaped) == 120
    finally:
        for pool in pools:
            await pool.close()


# ----------------------------------------------------------------- item 2: lapsed leases


class ReclaimedJob:
    """The first attempt outlives its lease (the test takes the job away, as a reaper does
    after an event-loop stall) and only returns once the same process holds the job again;
    later attempts take several leases long, so they live by their heartbeats."""

    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self.runs = 0
        self.first_started = asyncio.Event()
        self.first_may_return = asyncio.Event()
        self.second_started = asyncio.Event()

    async def run(self, _payload: FlashcardPayload, _ctx: JobContext) -> Outcome:
        self.runs += 1
        if self.runs == 1:
            self.first_started.set()
            await self.first_may_return.wait()
            return PlainResult(data={"run": 1})
        self.second_started.set()
        await asyncio.sleep(3 * self.lease_s)
        return PlainResult(data={"run": self.runs})

    def registry(self) -> HandlerRegistry:
        return HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run)]
        )


async def test_a_job_claimed_again_by_the_same_process_after_its_lease_lapsed_is_not_lost_3_times(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    handler = ReclaimedJob(lease_s=1.0)
    client = await make_client(handler.registry(), workers=4, lease_seconds=1.0)
    alice = await new_user()
    resp = await client.post(
        "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": "x"}},
        headers={"Authorization": alice["Authorization"]},
    )
    job_id = uuid.UUID((await resp.json())["id"])
    await asyncio.wait_for(handler.first_started.wait(), 10)
    # the lease lapsed (a stall) and another replica's reaper handed the job back
    await db.execute(
        """UPDATE background_jobs SET status = 'pending', worker_id = NULL,
               locked_until = NULL, run_at = now()
           WHERE id = $1 AND status = 'processing'""",
        job_id,
    )
    await asyncio.wait_for(handler.second_started.wait(), 10)
    handler.first_may_return.set()  # the stale attempt ends while the new one runs

    async def finished() -> bool:
        status = await db.fetchval("SELECT status FROM background_jobs WHERE id = $1", job_id)
        return status in ("completed", "failed")

    await wait_for(finished, timeout_s=30)
    row = await db.fetchrow("SELECT status, attempts, error, result FROM background_jobs")
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    assert row["result"] == {"run": 2} and handler.runs == 2


# ----------------------------------------------------------------- item 9: supervision


class BrokenOutcomeOnce:
    """A handler bug the settle path must survive: the first run returns something that is
    not an outcome, so recording it raises; later runs are fine."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}

    async def run(self, payload: FlashcardPayload, _ctx: JobContext) -> Outcome:
        n = self.runs[payload.content] = self.runs.get(payload.content, 0) + 1
        if payload.content == "broken" and n == 1:
            return {"not": "an outcome"}  # type: ignore[return-value]
        return PlainResult(data={"run": n})

    def registry(self) -> HandlerRegistry:
        return HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run)]
        )


async def test_an_unexpected_error_while_recording_an_outcome_does_not_kill_the_worker(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    handler = BrokenOutcomeOnce()
    client = await make_client(handler.registry(), workers=1)
    alice = await new_user()
    ids = []
    for content in ["broken", "after"]:
        resp = await client.post(
            "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": content}},
            headers={"Authorization": alice["Authorization"]},
        )
        ids.append(uuid.UUID((await resp.json())["id"]))

    async def both_completed() -> bool:
        statuses = await db.fetch("SELECT status FROM background_jobs")
        return [r["status"] for r in statuses] == ["completed", "completed"]

    await wait_for(both_completed, timeout_s=20)
    attempts = await db.fetchval("SELECT attempts FROM background_jobs WHERE id = $1", ids[0])
    assert attempts == 2  # retried, like any unexpected error
    assert (await client.get("/readyz")).status == 200


async def test_readyz_is_503_when_the_worker_pool_is_dead(make_client: Any) -> None:
    client = await make_client(ScriptedJobs().registry(), workers=1)
    assert (await client.get("/readyz")).status == 200
    claimer = client.app[WORKERS].loops["claimer"]
    claimer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await claimer
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["workers"] is False


async def test_listen_connection_is_closed_when_subscribing_fails_after_connect(
    database_url: str, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a LISTEN the server refuses (a zero-length channel name), after the connection opened
    monkeypatch.setattr(listener_module, "EVENTS_CHANNEL", "")

    async def no_reconnect() -> None:
        return None

    backends = """SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND backend_type = 'client backend'"""
    before = int(await db.fetchval(backends))
    listener = Listener(database_url, on_work=lambda: None, on_job_event=lambda _e: None,
                        on_reconnect=no_reconnect)
    with pytest.raises(asyncpg.PostgresError):
        await listener.start()

    async def no_stray_connection() -> bool:
        return int(await db.fetchval(backends)) <= before

    await wait_for(no_stray_connection, timeout_s=10)


async def test_a_claim_that_returns_after_the_grace_period_is_handed_back_not_run(
    wide: asyncpg.Pool,
) -> None:
    user, _ = await create_user(wide, "late")
    queue = make_queue(wide)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "slow:5"})
    scripted = ScriptedJobs()
    generator = build_generator("offline", api_key=None, model=None, base_url=None,
                                timeout_s=10)
    workers = WorkerPool(
        queue=queue, registry=scripted.registry(), generator=generator,
        settings=WorkerSettings(concurrency=2, lease_s=30, poll_s=0.2, job_timeout_s=60),
        metrics=Metrics(),
    )
    async with wide.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(VERSION_LOCK, user.id)  # the claim will wait on this
        await workers.start()
        await blocked_on_locks(wide, 1, "advisory")
        # exit must not wait on the claim: a ceiling for a hang, not a timing assertion
        await asyncio.wait_for(workers.stop(grace_s=0.3), timeout=10)
        await tx.commit()
    assert scripted.runs == {}
    row = await wide.fetchrow("SELECT status, attempts, worker_id FROM background_jobs")
    assert tuple(row) == ("pending", 0, None)
    await generator.aclose()
