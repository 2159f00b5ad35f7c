"""What the HTTP-facing benchmarks share: a scratch database, the real app on a loopback
port, a percentile, and this process's resident memory."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from server.app import create_app
from server.config import Settings
from server.database import apply_schema, connect, dsn_for_database


@contextlib.asynccontextmanager
async def scratch_database(dsn: str) -> AsyncIterator[str]:
    """A fresh database with the schema, on the configured server, dropped afterwards."""
    name = f"cardforge_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn_for_database(dsn, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        bench_dsn = dsn_for_database(dsn, name)
        conn = await connect(bench_dsn)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()
        yield bench_dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def serve_on_loopback(app: web.Application) -> AsyncIterator[int]:
    """Run ``app`` as ``cardforge serve`` does (handler cancellation on) on 127.0.0.1; yields
    the port."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    server: Any = site._server  # the asyncio Server: the only way to learn the port it chose
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        await runner.cleanup()


def bench_app(dsn: str, **overrides: Any) -> web.Application:
    """The real app, API only (no workers): the benchmarks drive the jobs themselves."""
    values: dict[str, Any] = {
        "database_url": dsn, "workers": 0, "llm_provider": "offline", "rate_limit": 100_000,
        **overrides,
    }
    return create_app(Settings(**values))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_bytes() -> int:
    """This process's resident set size (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
