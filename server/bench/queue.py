"""``cardforge bench``, queue part: drain rate and idle pickup latency.

Runs in a scratch database on the configured server (created and dropped here), with the
real queue, workers and LISTEN connection and an instant handler, so it measures the
queue's overhead and nothing else:

* drain rate: N pending jobs, W workers, jobs completed per second (median of repeats);
* idle pickup latency: with every worker idle, the time from an enqueue's commit to its
  handler starting (p50/p99), which is the NOTIFY → doorbell → claim path.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from handlers.context import JobContext
from handlers.models import FlashcardPayload, JobType, Outcome, PlainResult
from handlers.registry import HandlerRegistry, JobHandler
from server.database import apply_schema, connect, create_pool, dsn_for_database
from server.metrics import Metrics
from server.queue.engine import JobQueue
from server.queue.listener import Listener
from server.queue.workers import WorkerPool, WorkerSettings
from server.store.users import create_user


class _NoGenerator:
    provider = "bench"
    model = "none"

    async def aclose(self) -> None:
        return None


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class _Harness:
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
        self.pool = await create_pool(self.dsn, max_size=self.workers + 4)
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
            self.dsn, on_work=self.workers_pool.wake, on_job_event=lambda _e: None,
            on_reconnect=self._noop,
        )
        await self.listener.start()
        return self

    async def _noop(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        await self.workers_pool.stop(grace_s=5)
        await self.listener.stop()
        await self.pool.close()


async def _drain(dsn: str, user_id: uuid.UUID, jobs: int, workers: int) -> float:
    async with _Harness(dsn, workers) as harness:
        await harness.pool.execute("DELETE FROM background_jobs")
        await harness.pool.execute(
            """INSERT INTO background_jobs (user_id, type, payload, max_attempts)
               SELECT $1, 'flashcard_generation', jsonb_build_object('content', 'b' || g), 3
               FROM generate_series(1, $2) g""",
            user_id, jobs,
        )
        await harness.pool.execute("ANALYZE background_jobs")  # as autovacuum would
        harness.target = jobs
        began = time.perf_counter()
        await harness.workers_pool.start()
        await asyncio.wait_for(harness.all_done.wait(), timeout=600)
        elapsed = time.perf_counter() - began
    return jobs / elapsed


async def _pickup_latencies(
    dsn: str, user_id: uuid.UUID, samples: int, workers: int
) -> list[float]:
    latencies: list[float] = []
    async with _Harness(dsn, workers) as harness:
        await harness.pool.execute("DELETE FROM background_jobs")
        await harness.workers_pool.start()
        await asyncio.sleep(0.5)  # every worker idle, waiting on the doorbell
        for i in range(samples):
            sent = time.perf_counter()
            await harness.queue.enqueue(user_id, "flashcard_generation", {"content": f"l{i}"})
            started = await asyncio.wait_for(harness.started.get(), timeout=30)
            latencies.append(started - sent)
            await asyncio.sleep(0.05)
    return latencies


def run_bench(
    jobs: int, worker_counts: list[int], latency_samples: int, repeat: int
) -> Callable[[str], Awaitable[int]]:
    async def action(dsn: str) -> int:
        name = f"cardforge_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(dsn_for_database(dsn, "postgres"))
        await admin.execute(f'CREATE DATABASE "{name}"')
        bench_dsn = dsn_for_database(dsn, name)
        try:
            conn = await connect(bench_dsn)
            await apply_schema(conn)
            await conn.close()
            pool = await create_pool(bench_dsn, max_size=1)
            user, _ = await create_user(pool, "bench")
            await pool.close()
            results: dict[str, Any] = {}
            print(f"cardforge bench: {jobs} instant jobs per run, median of {repeat} runs")
            for workers in worker_counts:
                rates = [await _drain(bench_dsn, user.id, jobs, workers) for _ in range(repeat)]
                results[f"drain_{workers}w"] = statistics.median(rates)
                print(f"  drain, {workers:>2} workers: {statistics.median(rates):8.0f} jobs/s "
                      f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
            for workers in worker_counts:
                lat = await _pickup_latencies(bench_dsn, user.id, latency_samples, workers)
                p50, p99 = _percentile(lat, 50) * 1000, _percentile(lat, 99) * 1000
                print(f"  idle pickup, {workers:>2} workers: p50 {p50:6.1f} ms, "
                      f"p99 {p99:6.1f} ms ({len(lat)} samples)", flush=True)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        return 0

    return action
