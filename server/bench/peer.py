"""``cardforge bench --peer pgqueuer``: cardforge's queue beside pgqueuer's, in one run.

Both queues run in ONE scratch database on the same server, one after the other in each
repeat (cardforge, then pgqueuer, so drift on a shared machine hits both alike), with the
same job count and the same worker concurrency, and are measured the same way:

* drain: N queued no-op jobs, from the consumer's start until the last job's completion
  has committed (a count of unfinished rows reaching 0);
* idle pickup: the clock starts when the enqueue's COMMIT has been answered (the enqueue
  call returned) and stops when the handler starts.

pgqueuer runs with its defaults (``pgq install``'s schema, installed here through its
``Queries.install()``; ``QueueManager.run()``'s batch size and timeouts; one asyncpg
connection through ``AsyncpgDriver``), except ``max_concurrent_tasks``, set to the worker
concurrency so both queues hold the same number of jobs at once. pgqueuer is an optional
extra: ``pip install 'cardforge[bench]'``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg

from server.bench.harness import percentile, scratch_database
from server.bench.queue import (
    DRAIN_TIMEOUT_S,
    PICKUP_GAP_S,
    bench_user,
    cardforge_drain,
    cardforge_pickup,
    quiet_job_logs,
    wait_until_zero,
)

PEERS = ("pgqueuer",)
ENTRYPOINT = "noop"
ENQUEUE_BATCH = 5000  # rows per pgqueuer bulk enqueue while filling the queue


class PeerMissing(RuntimeError):
    """The peer queue's package is not installed."""


def _pgqueuer() -> Any:
    try:
        import pgqueuer
    except ImportError:
        raise PeerMissing(
            "pgqueuer is not installed: pip install 'cardforge[bench]' (or pgqueuer==1.6.0)"
        ) from None
    return pgqueuer


async def install_pgqueuer(dsn: str) -> str:
    """pgqueuer's own schema (what ``pgq install`` creates), in the scratch database;
    returns pgqueuer's version."""
    pgq = _pgqueuer()
    conn = await asyncpg.connect(dsn)
    try:
        queries = pgq.Queries(pgq.AsyncpgDriver(conn))
        if not await queries.schema_is_installed():
            await queries.install()
    finally:
        await conn.close()
    return str(pgq.__version__)


class _PgqRun:
    """One QueueManager with one no-op entrypoint, run in a task until stopped."""

    def __init__(self, dsn: str, workers: int) -> None:
        self.dsn = dsn
        self.workers = workers
        self.started: asyncio.Queue[float] = asyncio.Queue()
        self.done = 0
        self.target = 0
        self.all_done = asyncio.Event()

    async def __aenter__(self) -> _PgqRun:
        pgq = _pgqueuer()
        self.conn = await asyncpg.connect(self.dsn)
        self.qm = pgq.QueueManager(pgq.Queries(pgq.AsyncpgDriver(self.conn)))

        self.qm.entrypoint(ENTRYPOINT)(self.noop)
        self.task: asyncio.Task[None] | None = None
        return self

    async def noop(self, _job: Any) -> None:
        self.started.put_nowait(time.perf_counter())
        self.done += 1
        if self.target and self.done >= self.target:
            self.all_done.set()

    def start(self) -> None:
        self.task = asyncio.create_task(
            self.qm.run(max_concurrent_tasks=self.workers), name="bench-pgqueuer"
        )

    async def __aexit__(self, *exc: object) -> None:
        self.qm.shutdown.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
        await self.conn.close()


async def pgqueuer_drain(dsn: str, jobs: int, workers: int) -> float:
    pgq = _pgqueuer()
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute("DELETE FROM pgqueuer; DELETE FROM pgqueuer_log")
        queries = pgq.Queries(pgq.AsyncpgDriver(admin))
        for start in range(0, jobs, ENQUEUE_BATCH):
            count = min(ENQUEUE_BATCH, jobs - start)
            await queries.enqueue(
                [ENTRYPOINT] * count, [b"b%d" % (start + i) for i in range(count)], [0] * count
            )
        await admin.execute("VACUUM ANALYZE pgqueuer")
        async with _PgqRun(dsn, workers) as run:
            run.target = jobs
            began = time.perf_counter()
            run.start()
            await asyncio.wait_for(run.all_done.wait(), timeout=DRAIN_TIMEOUT_S)
            await wait_until_zero(admin, "SELECT count(*) FROM pgqueuer")
            elapsed = time.perf_counter() - began
    finally:
        await admin.close()
    return jobs / elapsed


async def pgqueuer_pickup(dsn: str, samples: int, workers: int) -> list[float]:
    pgq = _pgqueuer()
    latencies: list[float] = []
    producer = await asyncpg.connect(dsn)
    try:
        await producer.execute("DELETE FROM pgqueuer")
        queries = pgq.Queries(pgq.AsyncpgDriver(producer))
        async with _PgqRun(dsn, workers) as run:
            run.start()
            await asyncio.sleep(0.5)  # its first dequeue found nothing: it waits on NOTIFY
            for i in range(samples):
                await queries.enqueue(ENTRYPOINT, b"l%d" % i)
                committed = time.perf_counter()  # one autocommit statement: committed
                started = await asyncio.wait_for(run.started.get(), timeout=30)
                latencies.append(max(started - committed, 0.0))
                await asyncio.sleep(PICKUP_GAP_S)
    finally:
        await producer.close()
    return latencies


def _pickup_figures(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000}


async def peer_bench(
    dsn: str, *, peer: str, jobs: int, workers: int, samples: int, repeat: int
) -> dict[str, Any]:
    """Drain and pickup of cardforge and the peer, medians of ``repeat`` interleaved runs,
    with cardforge/peer ratios (drain: the median of the per-repeat ratios)."""
    if peer not in PEERS:
        raise PeerMissing(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")
    _pgqueuer()
    if workers < 20:  # pgqueuer refuses max_concurrent_tasks < 2 x its batch size (10)
        raise ValueError("--peer pgqueuer needs at least 20 workers (pgqueuer's own minimum)")
    with quiet_job_logs():
        return await _side_by_side(dsn, peer, jobs, workers, samples, repeat)


async def _side_by_side(
    dsn: str, peer: str, jobs: int, workers: int, samples: int, repeat: int
) -> dict[str, Any]:
    async with scratch_database(dsn) as bench_dsn:
        version = await install_pgqueuer(bench_dsn)
        user_id = await bench_user(bench_dsn)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeat):
            ours.append(await cardforge_drain(bench_dsn, user_id, jobs, workers))
            theirs.append(await pgqueuer_drain(bench_dsn, jobs, workers))
        ours_lat: list[float] = []
        theirs_lat: list[float] = []
        per_round = max(1, samples // repeat)
        for _ in range(repeat):
            ours_lat += await cardforge_pickup(bench_dsn, user_id, per_round, workers)
            theirs_lat += await pgqueuer_pickup(bench_dsn, per_round, workers)
    cf_pick, pq_pick = _pickup_figures(ours_lat), _pickup_figures(theirs_lat)
    drain_cf, drain_pq = statistics.median(ours), statistics.median(theirs)
    return {
        "peer": peer,
        "peer_version": version,
        "jobs": jobs,
        "workers": workers,
        "repeat": repeat,
        "drain": {
            "cardforge_jobs_per_s": drain_cf,
            "peer_jobs_per_s": drain_pq,
            # each repeat's two runs sit side by side in time: the median of their ratios
            # holds better than the ratio of medians when the machine's load drifts
            "ratio": statistics.median(a / b for a, b in zip(ours, theirs, strict=True)),
            "ratio_of_medians": drain_cf / drain_pq,
            "cardforge_runs": ours,
            "peer_runs": theirs,
        },
        "pickup": {
            "samples": len(ours_lat),
            "cardforge_p50_ms": cf_pick["p50_ms"],
            "cardforge_p99_ms": cf_pick["p99_ms"],
            "peer_p50_ms": pq_pick["p50_ms"],
            "peer_p99_ms": pq_pick["p99_ms"],
            "p50_ratio": cf_pick["p50_ms"] / pq_pick["p50_ms"],
            "p99_ratio": cf_pick["p99_ms"] / pq_pick["p99_ms"],
        },
    }


def print_peer(result: dict[str, Any]) -> None:
    drain, pickup = result["drain"], result["pickup"]
    peer = f"{result['peer']} {result['peer_version']}"
    print(f"  queue vs {peer}: {result['jobs']} no-op jobs, {result['workers']} workers, "
          f"median of {result['repeat']} runs each, one database", flush=True)
    print(f"    {'figure':<22} {'cardforge':>11} {result['peer']:>11} {'ratio':>7}")
    print(f"    {'drain (jobs/s)':<22} {drain['cardforge_jobs_per_s']:>11,.0f} "
          f"{drain['peer_jobs_per_s']:>11,.0f} {drain['ratio']:>6.2f}x")
    for pct in ("p50", "p99"):
        print(f"    {f'idle pickup {pct} (ms)':<22} {pickup[f'cardforge_{pct}_ms']:>11.2f} "
              f"{pickup[f'peer_{pct}_ms']:>11.2f} {pickup[f'{pct}_ratio']:>6.2f}x")
    print("    (drain ratio: median of the per-repeat ratios; drain runs: cardforge "
          f"{', '.join(f'{r:.0f}' for r in drain['cardforge_runs'])};"
          f" {result['peer']} {', '.join(f'{r:.0f}' for r in drain['peer_runs'])}; pickup: "
          f"{pickup['samples']} samples each, commit -> handler start)", flush=True)
