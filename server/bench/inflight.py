"""``cardforge bench --inflight``: how many LLM calls one process holds at once, and what
that buys in jobs per second.

The real app (workers, pool of ``POOL_CONNECTIONS``, LISTEN connection, the real anthropic
SDK) runs in this process; a fake Messages API of fixed latency runs in a child process
(``server.bench.fake_llm``), reached through ``ANTHROPIC_BASE_URL`` like the real one. N
learners each queue one flashcard job in one committed INSERT; the clock runs from that
commit until the last job's completion has committed. The figures: the most calls the fake
saw open at once, and jobs/s as a fraction of the ideal N / latency (every job's one call
made at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from server.app import POOL_CONNECTIONS
from server.bench.harness import bench_app, scratch_database, serve_on_loopback
from server.bench.queue import quiet_job_logs, wait_until_zero
from server.keys import POOL

TIMEOUT_S = 300.0

# One user per job, as in a burst of learners: the per-user cap (2 by default) never holds
# a job back, and no learner's library makes another's card a near-duplicate.
CREATE_LEARNERS = """
INSERT INTO users (name, token_hash)
SELECT 'learner ' || g, sha256(convert_to('bench-learner-' || g, 'UTF8'))
FROM generate_series(1, $1) g
"""
ENQUEUE_ONE_EACH = """
INSERT INTO background_jobs (user_id, type, payload, max_attempts)
SELECT id, 'flashcard_generation',
       jsonb_build_object('content', 'Catalase-' || row_number() OVER (ORDER BY id) ||
           ' is an enzyme that breaks down hydrogen peroxide in cell ' ||
           row_number() OVER (ORDER BY id) || '.'), 3
FROM users
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def fake_llm(latency_s: float) -> AsyncIterator[str]:
    """The fake Messages API in a child process; yields its base URL."""
    port = _free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.bench.fake_llm", str(port), str(latency_s),
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{base_url}/stats") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the fake LLM did not start")
        yield base_url
    finally:
        child.terminate()
        await child.wait()


async def _stats(base_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/stats") as resp:
        return dict(await resp.json())


async def inflight_bench(dsn: str, jobs: int = 1000, latency_s: float = 2.0) -> dict[str, Any]:
    with quiet_job_logs():
        async with scratch_database(dsn) as bench_dsn, fake_llm(latency_s) as base_url:
            app = bench_app(
                bench_dsn, workers=jobs, llm_provider="anthropic",
                anthropic_api_key="sk-bench-not-a-key", anthropic_base_url=base_url,
                llm_concurrency=jobs, model="claude-bench",
            )
            async with serve_on_loopback(app):
                pool = app[POOL]
                await pool.execute(CREATE_LEARNERS, jobs)
                await pool.execute(ENQUEUE_ONE_EACH)
                began = time.perf_counter()  # the INSERT above has committed
                await asyncio.wait_for(wait_until_zero(
                    pool, "SELECT count(*) FROM background_jobs "
                          "WHERE status IN ('pending', 'processing')"), TIMEOUT_S)
                elapsed = time.perf_counter() - began
                outcomes = {r["status"]: r["n"] for r in await pool.fetch(
                    "SELECT status, count(*) AS n FROM background_jobs GROUP BY status")}
                cards = await pool.fetchval("SELECT count(*) FROM flashcards")
                pool_size = pool.get_max_size()
            stats = await _stats(base_url)
    rate = jobs / elapsed
    return {
        "jobs": jobs,
        "workers": jobs,
        "latency_s": latency_s,
        "pool_connections": pool_size,
        "max_llm_calls_in_flight": stats["max_in_flight"],
        "llm_calls": stats["calls"],
        "llm_call_start_spread_s": stats["start_spread_s"],
        "llm_first_to_last_answer_s": stats["first_to_last_answer_s"],
        "seconds": elapsed,
        "jobs_per_s": rate,
        "fraction_of_ideal": rate / (jobs / latency_s),
        "completed": outcomes.get("completed", 0),
        "not_completed": sum(n for s, n in outcomes.items() if s != "completed"),
        "cards": cards,
    }


async def inflight_runs(
    dsn: str, jobs: int = 1000, latency_s: float = 2.0, repeat: int = 1
) -> dict[str, Any]:
    """``repeat`` runs; the one with the median fraction of N/latency, with every run's
    fraction beside it."""
    runs = [await inflight_bench(dsn, jobs, latency_s) for _ in range(max(repeat, 1))]
    runs.sort(key=lambda r: float(r["fraction_of_ideal"]))
    return {**runs[len(runs) // 2], "runs": [r["fraction_of_ideal"] for r in runs]}


def print_inflight(result: dict[str, Any]) -> None:
    print(f"  in flight: {result['jobs']} jobs, {result['workers']} workers, fake LLM "
          f"{result['latency_s']:g} s, pool {result['pool_connections']} connections "
          f"(POOL_CONNECTIONS {POOL_CONNECTIONS})", flush=True)
    print(f"    max LLM calls in flight {result['max_llm_calls_in_flight']}; "
          f"{result['jobs_per_s']:.0f} jobs/s = {result['fraction_of_ideal'] * 100:.0f} % of "
          f"N/latency ({result['jobs'] / result['latency_s']:.0f}); all done in "
          f"{result['seconds']:.2f} s; {result['completed']} completed, "
          f"{result['not_completed']} not"
          + (f" (median of {len(result['runs'])} runs: "
             f"{', '.join(f'{f * 100:.0f} %' for f in result['runs'])})"
             if len(result.get("runs", [])) > 1 else ""), flush=True)
