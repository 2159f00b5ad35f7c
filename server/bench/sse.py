"""``cardforge bench --sse N``: N live streams of one user on the real app.

The server (the real app, its hub, LISTEN connection and pool) runs in this process; the N
clients run in a child process (``python -m server.bench.sse``) as plain asyncio protocols,
so what this process's memory grows by is the server's cost of holding the streams.

* memory: resident size after the N streams are open and have their first event, minus
  before, per stream;
* delay: a job's row is changed (one UPDATE, committed); the clock starts before it and
  stops, per stream, when that stream receives the change. p50/p99 over every stream and
  round, and the median over rounds of the time until the last stream had it ("all").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
from typing import Any
from uuid import UUID

from server.bench.harness import (
    bench_app,
    percentile,
    rss_bytes,
    scratch_database,
    serve_on_loopback,
)
from server.keys import POOL, QUEUE
from server.store.users import create_user

CONNECT_BATCH = 250
ROUND_TIMEOUT_S = 10.0
MARKER = b'"bench":%d}'


async def sse_bench(dsn: str, subscribers: int, rounds: int = 5) -> dict[str, Any]:
    async with scratch_database(dsn) as bench_dsn:
        app = bench_app(bench_dsn, max_streams_per_user=subscribers + 10,
                        keepalive_seconds=120.0)
        async with serve_on_loopback(app) as port:
            pool = app[POOL]
            user, token = await create_user(pool, "bench")
            enqueued = await app[QUEUE].enqueue(user.id, "flashcard_generation",
                                                {"content": "watched"})
            job_id: UUID = enqueued.job.id
            gc.collect()
            before = rss_bytes()
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.bench.sse", "127.0.0.1", str(port), token,
                str(subscribers), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, limit=2**24,  # a round's arrivals: one line
            )
            assert child.stdin is not None and child.stdout is not None
            try:
                line = await asyncio.wait_for(child.stdout.readline(), 120)
                if not line.startswith(b"READY"):
                    raise RuntimeError(f"SSE clients did not start: {line!r}")
                await asyncio.sleep(0.5)  # let the last first-events' buffers go
                gc.collect()
                per_stream = (rss_bytes() - before) / subscribers
                delays: list[float] = []
                all_delivered: list[float] = []
                for n in range(1, rounds + 1):
                    child.stdin.write(b"ROUND %d\n" % n)
                    await child.stdin.drain()
                    await asyncio.sleep(0.2)  # the clients now look for this round's marker
                    began = time.monotonic()
                    await pool.execute(
                        "UPDATE background_jobs SET progress = jsonb_build_object('bench', "
                        "$2::int) WHERE id = $1", job_id, n)
                    arrivals = json.loads(await asyncio.wait_for(child.stdout.readline(),
                                                                 ROUND_TIMEOUT_S + 5))
                    if len(arrivals) < subscribers:
                        raise RuntimeError(f"only {len(arrivals)} of {subscribers} streams "
                                           f"received round {n}")
                    round_delays = [(at - began) * 1000 for at in arrivals]
                    delays += round_delays
                    all_delivered.append(max(round_delays))
                    await asyncio.sleep(0.3)
            finally:
                if child.returncode is None:
                    child.kill()
                await child.wait()
    return {
        "subscribers": subscribers,
        "rss_per_subscriber_kb": per_stream / 1024,
        "delivery_p50_ms": percentile(delays, 50),
        "delivery_p99_ms": percentile(delays, 99),
        "all_delivered_ms": statistics.median(all_delivered),
        "rounds": rounds,
    }


def print_sse(result: dict[str, Any]) -> None:
    print(f"  SSE, {result['subscribers']} streams of one user: "
          f"{result['rss_per_subscriber_kb']:.1f} KB each; change -> delivered p50 "
          f"{result['delivery_p50_ms']:.1f} ms, p99 {result['delivery_p99_ms']:.1f} ms, all "
          f"{result['all_delivered_ms']:.1f} ms (median of {result['rounds']} rounds)",
          flush=True)


# ---------------------------------------------------------------- the client process


class _Rounds:
    def __init__(self, count: int) -> None:
        self.count = count
        self.ready = 0
        self.all_ready = asyncio.Event()
        self.marker: bytes | None = None
        self.arrivals: list[float] = []
        self.all_arrived = asyncio.Event()


class _Watcher(asyncio.Protocol):
    """One EventSource-like stream that only notes when it sees the round's marker."""

    def __init__(self, request: bytes, rounds: _Rounds) -> None:
        self.request = request
        self.rounds = rounds
        self.started = False
        self.seen_marker: bytes | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        rounds = self.rounds
        if not self.started and b"event: job" in data:
            self.started = True
            rounds.ready += 1
            if rounds.ready == rounds.count:
                rounds.all_ready.set()
        marker = rounds.marker
        if marker is not None and self.seen_marker is not marker and marker in self.tail + data:
            self.seen_marker = marker
            rounds.arrivals.append(time.monotonic())
            if len(rounds.arrivals) == rounds.count:
                rounds.all_arrived.set()
        self.tail = data[-32:]


async def _clients(host: str, port: int, token: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    rounds = _Rounds(count)
    request = (f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    transports = []
    for start in range(0, count, CONNECT_BATCH):
        batch = [loop.create_connection(lambda: _Watcher(request, rounds), host, port)
                 for _ in range(min(CONNECT_BATCH, count - start))]
        transports += [t for t, _ in await asyncio.gather(*batch)]
    await asyncio.wait_for(rounds.all_ready.wait(), 120)
    print("READY", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        n = int(line.split()[1])
        rounds.arrivals = []
        rounds.all_arrived.clear()
        rounds.marker = MARKER % n
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rounds.all_arrived.wait(), ROUND_TIMEOUT_S)
        print(json.dumps(rounds.arrivals), flush=True)
    for transport in transports:
        transport.close()


if __name__ == "__main__":
    host_arg, port_arg, token_arg, count_arg = sys.argv[1:5]
    asyncio.run(_clients(host_arg, int(port_arg), token_arg, int(count_arg)))
