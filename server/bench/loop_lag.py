"""``cardforge bench --inflight``, second part: event-loop lag while offline jobs work.

The real app runs in this process with the offline provider (its generator runs in the CPU
process pool) and works through flashcard jobs on 100,000-character texts. Meanwhile a
probe on the same event loop asks to sleep ``TICK_S`` over and over; how much later than
asked it wakes is the lag every request and stream of the process would see.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from server.bench.harness import bench_app, percentile, scratch_database, serve_on_loopback
from server.bench.queue import quiet_job_logs
from server.keys import POOL, QUEUE
from server.store.users import create_user

TICK_S = 0.005
CHARS = 100_000
TIMEOUT_S = 600.0
UNFINISHED = "SELECT count(*) FROM background_jobs WHERE status IN ('pending', 'processing')"


def long_material(seed: int, chars: int = CHARS) -> str:
    """Study notes of ``chars`` characters: headed sections of definitions and facts, each
    text its own (``seed``), so the offline generator has real work on every chunk."""
    parts: list[str] = []
    size = 0
    section = 0
    while size < chars:
        section += 1
        lines = [f"## Topic {seed}-{section}", ""]
        for n in range(1, 9):
            term = f"Concept {seed}.{section}.{n}"
            lines.append(
                f"{term} is a process in which material number {n} of section {section} "
                f"changes its state under pressure {n * section} and releases energy. "
                f"The rate of {term.lower()} doubles when the temperature rises by "
                f"{10 + n} degrees, as measured in {1900 + section}."
            )
        lines.append("")
        text = "\n".join(lines)
        parts.append(text)
        size += len(text) + 1
    return "\n".join(parts)[:chars]


async def loop_lag_bench(dsn: str, jobs: int = 8, workers: int = 4) -> dict[str, Any]:
    with quiet_job_logs():
        async with scratch_database(dsn) as bench_dsn:
            app = bench_app(bench_dsn, workers=workers, llm_provider="offline",
                            user_concurrency=workers)
            async with serve_on_loopback(app):
                pool = app[POOL]
                user, _ = await create_user(pool, "bench")
                for i in range(jobs):
                    await app[QUEUE].enqueue(user.id, "flashcard_generation",
                                             {"content": long_material(i), "maxCards": 50})
                began = time.perf_counter()
                busy = await _lags_while_unfinished(pool)
                elapsed = time.perf_counter() - began
                idle = await _lags_for(0.5)
                outcomes = {r["status"]: r["n"] for r in await pool.fetch(
                    "SELECT status, count(*) AS n FROM background_jobs GROUP BY status")}
    return {
        "jobs": jobs,
        "chars": CHARS,
        "workers": workers,
        "seconds": elapsed,
        "samples": len(busy),
        "lag_p50_ms": percentile(busy, 50) * 1000,
        "lag_p99_ms": percentile(busy, 99) * 1000,
        "lag_max_ms": max(busy) * 1000,
        "idle_lag_p99_ms": percentile(idle, 99) * 1000,
        "completed": outcomes.get("completed", 0),
    }


async def _tick() -> float:
    asked = time.perf_counter()
    await asyncio.sleep(TICK_S)
    return max(time.perf_counter() - asked - TICK_S, 0.0)


async def _lags_for(seconds: float) -> list[float]:
    lags: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        lags.append(await _tick())
    return lags


async def _lags_while_unfinished(pool: Any) -> list[float]:
    lags: list[float] = []

    async def watch() -> None:
        while await pool.fetchval(UNFINISHED):
            await asyncio.sleep(0.2)

    watcher = asyncio.ensure_future(asyncio.wait_for(watch(), TIMEOUT_S))
    while not watcher.done():
        lags.append(await _tick())
    await watcher
    return lags


def print_loop_lag(result: dict[str, Any]) -> None:
    print(f"  event loop while {result['jobs']} offline jobs work on "
          f"{result['chars']:,}-character texts ({result['workers']} workers, "
          f"{result['seconds']:.1f} s, {result['completed']} completed): lag p50 "
          f"{result['lag_p50_ms']:.1f} ms, p99 {result['lag_p99_ms']:.1f} ms, max "
          f"{result['lag_max_ms']:.1f} ms ({result['samples']} ticks of "
          f"{TICK_S * 1000:.0f} ms; idle p99 {result['idle_lag_p99_ms']:.1f} ms)", flush=True)
