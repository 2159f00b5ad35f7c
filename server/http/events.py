"""Live job status over Server-Sent Events, fed by Postgres NOTIFY.

One hub per process receives every job-change NOTIFY (so a stream on replica B sees a job
worked on replica A) and pokes the matching streams through small bounded queues. A NOTIFY
says only *which* job changed and its version; each stream then reads the user's rows with
``version > last sent``, which makes three things true at once:

* no lost-before-subscribe window: a stream subscribes first, then reads current state;
* ``Last-Event-ID`` resumes without duplicates or gaps (versions come from one sequence);
* a slow client costs nothing: when its queue overflows it is dropped, and its browser
  reconnects with Last-Event-ID and is caught up from the table, not from a buffer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiohttp import web

from server.metrics import Metrics
from server.queue.engine import CHANGES_PAGE, JobQueue
from server.queue.jobs import Job, JobStatus

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 64
RETRY_HINT_MS = 3000
SHUTDOWN_RETRY_HINT_MS = 1000
INITIAL_JOBS = 50


class Signal(enum.Enum):
    CHANGED = "changed"
    RESYNC = "resync"  # the LISTEN connection was re-established: we may have missed events
    OVERFLOW = "overflow"  # the client fell behind
    SHUTDOWN = "shutdown"


@dataclass(eq=False)
class Subscription:
    user_id: UUID
    job_id: UUID | None
    queue: asyncio.Queue[Signal] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
    )
    dropped: bool = False
    # Called once when the subscriber is dropped. A stream whose write is parked behind a
    # full socket never reads its queue again, so the signal alone cannot end it.
    on_drop: Callable[[], None] | None = None

    def offer(self, signal: Signal) -> bool:
        try:
            self.queue.put_nowait(signal)
        except asyncio.QueueFull:
            return False
        return True

    def force(self, signal: Signal) -> None:
        """Deliver a control signal even to a full queue (it replaces the backlog)."""
        while True:
            try:
                self.queue.put_nowait(signal)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


class EventHub:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._by_user: dict[UUID, set[Subscription]] = {}
        self.closed = False

    def subscribe(self, user_id: UUID, job_id: UUID | None) -> Subscription:
        sub = Subscription(user_id, job_id)
        self._by_user.setdefault(user_id, set()).add(sub)
        self.metrics.sse_clients.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self.metrics.sse_clients.dec()
            if not subs:
                del self._by_user[sub.user_id]

    def _all(self) -> Iterator[Subscription]:
        for subs in list(self._by_user.values()):
            yield from list(subs)

    def publish(self, event: dict[str, Any]) -> None:
        try:
            user_id, job_id = UUID(str(event["userId"])), UUID(str(event["id"]))
        except (KeyError, ValueError):
            return
        for sub in list(self._by_user.get(user_id, ())):
            if sub.dropped or (sub.job_id is not None and sub.job_id != job_id):
                continue
            if not sub.offer(Signal.CHANGED):
                self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        self.metrics.sse_dropped.inc()
        sub.force(Signal.OVERFLOW)
        if sub.on_drop is not None:
            sub.on_drop()

    async def resync(self) -> None:
        for sub in self._all():
            sub.force(Signal.RESYNC)

    def close(self) -> None:
        self.closed = True
        for sub in self._all():
            sub.force(Signal.SHUTDOWN)


MAX_VERSION = 2**63 - 1  # versions are bigint


def parse_last_event_id(request: web.Request) -> int:
    """The version to resume after; 0 (a fresh start) for anything that names no version.

    Only plain ASCII digits up to bigint: ``int()`` also takes "1_000", " 7 " and other
    scripts' digits, and a 30-digit id overflowed the catch-up query after the stream had
    started, breaking it instead of starting it normally.
    """
    raw = request.headers.get("Last-Event-ID") or request.query.get("lastEventId") or ""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return 0
    value = int(raw)
    return value if value <= MAX_VERSION else 0


class JobStream:
    """One SSE response: writes job states newer than the last version it sent."""

    def __init__(
        self,
        request: web.Request,
        queue: JobQueue,
        hub: EventHub,
        user_id: UUID,
        job_id: UUID | None,
        keepalive_s: float,
    ) -> None:
        self.request = request
        self.queue = queue
        self.hub = hub
        self.user_id = user_id
        self.job_id = job_id
        self.keepalive_s = keepalive_s
        self.last_version = parse_last_event_id(request)
        self._seen: dict[UUID, tuple[JobStatus, Any]] = {}
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache, no-store",
                "X-Accel-Buffering": "no",
            }
        )

    async def run(self) -> web.StreamResponse:
        sub = self.hub.subscribe(self.user_id, self.job_id)  # before the first read
        sub.on_drop = self._abort
        try:
            await self.response.prepare(self.request)
            await self._write(f"retry: {RETRY_HINT_MS}\n\n")
            finished = await self._send_initial()
            while not finished:
                try:
                    signal = await asyncio.wait_for(sub.queue.get(), timeout=self.keepalive_s)
                except TimeoutError:
                    await self._write(": keep-alive\n\n")
                    continue
                if signal is Signal.SHUTDOWN:
                    await self._write(f"retry: {SHUTDOWN_RETRY_HINT_MS}\n\n")
                    break
                if signal is Signal.OVERFLOW:
                    break  # the browser reconnects with Last-Event-ID and catches up
                while not sub.queue.empty():  # coalesce a burst into one read
                    if sub.queue.get_nowait() is Signal.SHUTDOWN:
                        await self._write(f"retry: {SHUTDOWN_RETRY_HINT_MS}\n\n")
                        return self.response
                finished = await self._send_changes()
        except ConnectionResetError:
            pass  # the client went away mid-write (a cancelled handler propagates as it must)
        finally:
            self.hub.unsubscribe(sub)
        return self.response

    async def _send_initial(self) -> bool:
        if self.job_id is not None:
            job = await self.queue.get(self.user_id, self.job_id)
            if job.version > self.last_version:
                await self._send(job)
            return job.status.is_terminal
        if self.last_version:
            return await self._send_changes()
        for job in await self.queue.recent(self.user_id, INITIAL_JOBS):
            await self._send(job)
        return False

    async def _send_changes(self) -> bool:
        finished = False
        while True:
            jobs = await self.queue.changed_since(self.user_id, self.last_version, self.job_id)
            for job in jobs:
                await self._send(job)
                finished = self.job_id is not None and job.status.is_terminal
            if len(jobs) < CHANGES_PAGE:
                return finished

    async def _send(self, job: Job) -> None:
        previous = self._seen.get(job.id)
        only_progress = (
            previous is not None
            and previous[0] == job.status
            and previous[1] != job.progress
            and job.status is JobStatus.PROCESSING
        )
        self._seen[job.id] = (job.status, job.progress)
        event = "progress" if only_progress else "job"
        data = job.model_dump_json(by_alias=True)
        await self._write(f"event: {event}\nid: {job.version}\ndata: {data}\n\n")
        self.last_version = max(self.last_version, job.version)

    def _abort(self) -> None:
        """Drop a client that fell behind: abort (not close: close would wait to flush to a
        reader that is not reading) so a parked write fails and the handler ends."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def _write(self, text: str) -> None:
        await self.response.write(text.encode())

