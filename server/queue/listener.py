"""One dedicated LISTEN connection per process.

A LISTEN connection can die quietly (a Postgres restart, pg_terminate_backend, a NAT that
forgets us). We notice through asyncpg's termination callback and a periodic ping, then
reconnect with a *fresh* connection and capped backoff. After a reconnect we cannot know
what we missed, so ``on_reconnect`` runs: workers poll, SSE streams re-read their jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from server.database import connect

log = logging.getLogger(__name__)

WORK_CHANNEL = "cardforge_work"
EVENTS_CHANNEL = "cardforge_job_events"
PING_INTERVAL_S = 5.0
PING_TIMEOUT_S = 5.0
RECONNECT_MAX_S = 10.0


class Listener:
    def __init__(
        self,
        dsn: str,
        *,
        on_work: Callable[[], None],
        on_job_event: Callable[[dict[str, Any]], None],
        on_reconnect: Callable[[], Awaitable[None]],
    ) -> None:
        self.dsn = dsn
        self.on_work = on_work
        self.on_job_event = on_job_event
        self.on_reconnect = on_reconnect
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._supervise(), name="cardforge-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    @property
    def backend_pid(self) -> int | None:
        return self._conn.get_server_pid() if self._conn is not None else None

    async def _connect(self) -> None:
        conn = await connect(self.dsn)
        try:
            conn.add_termination_listener(lambda _conn: self._mark_lost())
            await conn.add_listener(WORK_CHANNEL, self._on_notification)
            await conn.add_listener(EVENTS_CHANNEL, self._on_notification)
        except BaseException:
            # LISTEN failed (or we were cancelled) after the connection opened: close it, or
            # every reconnect attempt leaks one server connection until the server is full
            conn.terminate()
            raise
        self._conn = conn
        self._lost.clear()
        self.connected.set()

    def _mark_lost(self) -> None:
        self.connected.clear()
        self._lost.set()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.connected.clear()
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

    def _on_notification(
        self, _conn: asyncpg.Connection, _pid: int, channel: str, payload: str
    ) -> None:
        if channel == WORK_CHANNEL:
            self.on_work()
            return
        try:
            event = orjson.loads(payload)  # two events per job: claim and completion
        except ValueError:  # orjson.JSONDecodeError is one
            log.warning("ignoring malformed job event %r", payload[:200])
            return
        self.on_job_event(event)

    async def _supervise(self) -> None:
        while True:
            await self._wait_until_lost()
            await self._close()
            delay = 0.1
            while True:
                try:
                    await self._connect()
                    break
                except (TimeoutError, OSError, asyncpg.PostgresError) as err:
                    log.warning("LISTEN reconnect failed (%s); retrying in %.1fs", err, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
            self.reconnects += 1
            log.info("LISTEN connection re-established (reconnect #%d)", self.reconnects)
            try:
                await self.on_reconnect()
            except Exception:
                log.exception("on_reconnect callback failed")

    async def _wait_until_lost(self) -> None:
        """Return when the connection is gone: a termination callback or a failed ping."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=PING_INTERVAL_S)
            if self._lost.is_set() or self._conn is None or self._conn.is_closed():
                return
            try:
                await asyncio.wait_for(self._conn.execute("SELECT 1"), timeout=PING_TIMEOUT_S)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("LISTEN connection failed its ping")
                return
