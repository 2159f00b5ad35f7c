"""``cardforge bench``, queue part: drain rate and idle pickup latency.

Runs in a scratch database on the configured server (created and dropped here), with the
real queue, workers, pool (``POOL_CONNECTIONS``, as ``cardforge serve`` has) and LISTEN
connection and an instant handler, so it measures the queue's overhead and nothing else:

* drain rate: N pending jobs, W in-flight slots, from the workers' start until the last
  job's completion has committed (median of repeats);
* idle pickup latency: with every slot idle, the time from an enqueue's COMMIT (the
  moment ``enqueue()`` returns) to its handler starting (p50/p99): the NOTIFY → doorbell →
  claim path.

``server.bench.peer`` measures pgqueuer the same way, in the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from handlers.context import JobContext
from handlers.models import FlashcardPayload, JobType, Outcome, PlainResult
from handlers.registry import HandlerRegistry, JobHandler
from server.app import POOL_CONNECTIONS
from server.bench.harness import percentile, scratch_database
from server.database import create_pool
from server.metrics import Metrics
from server.queue.engine import JobQueue
from server.queue.listener import Listener
from server.queue.workers import WorkerPool, WorkerSettings
from server.store.users import create_user

DRAIN_TIMEOUT_S = 600.0
SETTLE_POLL_S = 0.005  # once every handler ran: how often to look for the last commit
PICKUP_GAP_S = 0.05  # between pickup samples, so each one finds every slot idle


class _NoGenerator:
    provider = "bench"
    model = "none"

    async def aclose(self) -> None:
        return None


class _Harness:
    """The real worker pool and listener on their own pool, with an instant handler that
    notes when each job started."""

    def __init__(self, dsn: str, workers: int) -> None:
        self.dsn = dsn
        self.workers = workers
        self.started: asyncio.Queue[float] = asyncio.Queue()
        self.done = 0
        self.all_done = asyncio.Event()
        self.target = 0

    async def run_job(self, _payload: FlashcardPayload, _ctx: JobContext) -> Outcome:
        self.started.put_nowait(time.perf_counter())
        self.done += 1
        if self.target and self.done >= self.target:
            self.all_done.set()
        return PlainResult(data={})

    async def __aenter__(self) -> _Harness:
        self.pool = await create_pool(self.dsn, max_size=POOL_CONNECTIONS)
        self.queue = JobQueue(
            self.pool, rate_limit=10**9, max_attempts=3, lease_s=30, retry_base_s=1,
            retry_max_s=60, user_concurrency=10**6,
        )
        registry = HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run_job)]
        )
        self.workers_pool = WorkerPool(
            queue=self.queue, registry=registry, generator=_NoGenerator(),  # type: ignore[arg-type]
            settings=WorkerSettings(concurrency=self.workers, lease_s=30, poll_s=2,
                                    job_timeout_s=60),
            metrics=Metrics(),
        )
        self.listener = Listener(
            self.dsn, on_work=self.workers_pool.wake,
            on_job_event=self.workers_pool.on_job_event, on_reconnect=self._noop,
        )
        await self.listener.start()
        return self

    async def _noop(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        await self.workers_pool.stop(grace_s=5)
        await self.listener.stop()
        await self.pool.close()


@contextlib.contextmanager
def quiet_job_logs() -> Iterator[None]:
    """No "job started" / "job completed" line per job while the bench runs: tens of thousands
    of lines would bury its table, and pgqueuer writes its per-job lines at DEBUG."""
    worker_log = logging.getLogger("server.queue.workers")
    level = worker_log.level
    worker_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        worker_log.setLevel(level)


async def wait_until_zero(pool: Any, query: str) -> None:
    """Poll ``query`` (a count) until it answers 0: the last commit of a drain."""
    while await pool.fetchval(query):
        await asyncio.sleep(SETTLE_POLL_S)


async def cardforge_drain(dsn: str, user_id: uuid.UUID, jobs: int, workers: int) -> float:
    """Jobs per second, from the workers' start to the last completion's commit."""
    async with _Harness(dsn, workers) as harness:
        await harness.pool.execute("DELETE FROM background_jobs")
        await harness.pool.execute(
            """INSERT INTO background_jobs (user_id, type, payload, max_attempts)
               SELECT $1, 'flashcard_generation', jsonb_build_object('content', 'b' || g), 3
               FROM generate_series(1, $2) g""",
            user_id, jobs,
        )
        await harness.pool.execute("VACUUM ANALYZE background_jobs")  # as autovacuum would
        harness.target = jobs
        began = time.perf_counter()
        await harness.workers_pool.start()
        await asyncio.wait_for(harness.all_done.wait(), timeout=DRAIN_TIMEOUT_S)
        await wait_until_zero(
            harness.pool, "SELECT count(*) FROM background_jobs WHERE status <> 'completed'"
        )
        elapsed = time.perf_counter() - began
    return jobs / elapsed


async def cardforge_pickup(
    dsn: str, user_id: uuid.UUID, samples: int, workers: int
) -> list[float]:
    """Seconds from an enqueue's commit to its handler's start, one sample per idle pickup."""
    latencies: list[float] = []
    async with _Harness(dsn, workers) as harness:
        await harness.pool.execute("DELETE FROM background_jobs")
        await harness.workers_pool.start()
        await asyncio.sleep(0.5)  # every slot idle, the claimer waiting on the doorbell
        for i in range(samples):
            await harness.queue.enqueue(user_id, "flashcard_generation", {"content": f"l{i}"})
            committed = time.perf_counter()  # enqueue() returns once its COMMIT is answered
            started = await asyncio.wait_for(harness.started.get(), timeout=30)
            latencies.append(max(started - committed, 0.0))
            await asyncio.sleep(PICKUP_GAP_S)
    return latencies


async def bench_user(dsn: str) -> uuid.UUID:
    pool = await create_pool(dsn, max_size=1)
    try:
        user, _ = await create_user(pool, "bench")
    finally:
        await pool.close()
    return user.id


def run_bench(
    jobs: int, worker_counts: list[int], latency_samples: int, repeat: int
) -> Callable[[str], Awaitable[int]]:
    """cardforge alone, at several worker counts (``cardforge bench`` without a peer)."""

    async def action(dsn: str) -> int:
        with quiet_job_logs():
            await _alone(dsn, jobs, worker_counts, latency_samples, repeat)
        return 0

    return action


async def _alone(
    dsn: str, jobs: int, worker_counts: list[int], latency_samples: int, repeat: int
) -> None:
    async with scratch_database(dsn) as bench_dsn:
        user_id = await bench_user(bench_dsn)
        print(f"cardforge bench: {jobs} instant jobs per run, median of {repeat} runs")
        for workers in worker_counts:
            rates = [await cardforge_drain(bench_dsn, user_id, jobs, workers)
                     for _ in range(repeat)]
            print(f"  drain, {workers:>2} workers: {statistics.median(rates):8.0f} jobs/s "
                  f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
        for workers in worker_counts:
            lat = await cardforge_pickup(bench_dsn, user_id, latency_samples, workers)
            p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
            print(f"  idle pickup, {workers:>2} workers: p50 {p50:6.1f} ms, "
                  f"p99 {p99:6.1f} ms ({len(lat)} samples)", flush=True)
