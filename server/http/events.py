"""Live job status over Server-Sent Events, fed by Postgres NOTIFY.

One hub per process receives every job-change NOTIFY (so a stream on replica B sees a job
worked on replica A) and pokes the matching streams through small bounded queues. A NOTIFY
says only *which* job changed and its version. The rows are read once per change for the
whole process, not once per stream: each user with open streams has a ``UserFeed`` that
reads the user's rows with ``version > what it has read`` and keeps the encoded events in a
short log that every stream of that user (the user stream and each per-job stream) writes
from. This keeps three things true at once:

* no lost-before-subscribe window: a stream takes its place in the feed first, then reads
  its current state;
* ``Last-Event-ID`` resumes without duplicates or gaps: versions come from one sequence and
  a user's versions commit in order (schema.sql's per-user lock), so "everything after the
  version I have" is one indexed read, by the feed or by a resuming stream;
* a slow client costs nothing: when its queue overflows, or it falls behind what the feed
  keeps, it is dropped, and its browser reconnects with Last-Event-ID and is caught up from
  the table, not from a buffer.

Per stream the process keeps a subscription (a count of pending changes and a control
slot) and the connection itself; event bytes are encoded once and shared. When the feed has
read a change, the hub writes it straight to every stream that is waiting with nothing
pending, in one loop (``JobStream.deliver_now``): one change costs one socket write per
stream and no task switch. A stream that is busy, behind, or whose client is not reading is
signalled instead and writes for itself.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson
from aiohttp import web

from server.errors import TooManyStreams
from server.metrics import Metrics
from server.queue.engine import CHANGES_PAGE
from server.queue.jobs import Job, JobStatus, job_summary

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 64
# The hub writes an event for a waiting stream itself only while the client keeps up: with
# more than this unsent, the stream writes for itself and waits on the socket (then drops).
DIRECT_WRITE_BACKLOG = 64 * 1024
RETRY_HINT_MS = 3000
SHUTDOWN_RETRY_HINT_MS = 1000
INITIAL_JOBS = 50
FEED_LOG_EVENTS = 128  # events a feed keeps for streams a little behind; further: reconnect
SENT_JOBS_REMEMBERED = 256
MAX_VERSION = 2**63 - 1  # versions are bigint


class Signal(enum.Enum):
    CHANGED = "changed"
    RESYNC = "resync"  # the LISTEN connection was re-established: we may have missed events
    OVERFLOW = "overflow"  # the client fell behind
    FAILED = "failed"  # the feed could not read: end the stream, the client catches up
    SHUTDOWN = "shutdown"


class ChangeSource(Protocol):
    """What the hub and the streams read (server.queue.engine.JobQueue)."""

    async def get(self, user_id: UUID, job_id: UUID) -> Job: ...

    async def changed_since(
        self, user_id: UUID, version: int, job_id: UUID | None = None
    ) -> list[Job]: ...

    async def recent(self, user_id: UUID, limit: int) -> list[Job]: ...

    async def latest_version(self, user_id: UUID) -> int: ...


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One job state as the wire carries it, encoded once for every stream."""

    job_id: UUID
    version: int
    status: str
    progress_key: bytes  # the progress as JSON: what "only the progress moved" compares
    data: bytes  # the Job as JSON, long payload text left out (see job_summary)

    @classmethod
    def from_job(cls, job: Job) -> JobEvent:
        return cls(
            job_id=job.id, version=job.version, status=job.status.value,
            # a copy of exact size: orjson's own bytes keep a 4 KB buffer behind them, and
            # every stream keeps the key of each job it sent
            progress_key=bytes(memoryview(orjson.dumps(job.progress))),
            data=job_summary(job).model_dump_json(by_alias=True).encode(),
        )

    @property
    def terminal(self) -> bool:
        return JobStatus(self.status).is_terminal

    def only_progress(self, previous: tuple[str, bytes] | None) -> bool:
        """Whether only the progress of a job in processing moved since the state this
        stream sent before (``previous``: its status and progress): a ``progress`` event."""
        return (
            previous is not None
            and previous[0] == self.status == JobStatus.PROCESSING
            and previous[1] != self.progress_key
        )

    def frame(self, only_progress: bool) -> bytes:
        name = b"progress" if only_progress else b"job"
        return b"event: %s\nid: %d\ndata: %s\n\n" % (name, self.version, self.data)


# A control signal outranks what is pending: the stream acts on the strongest one.
_RANK = {Signal.RESYNC: 1, Signal.FAILED: 2, Signal.OVERFLOW: 3, Signal.SHUTDOWN: 4}


class Subscription:
    """A stream's place in the hub: what it has been told and has not yet acted on.

    Changes are counted, not queued: a stream reads every pending change from the feed in
    one pass anyway, so only "how many since it last looked" matters, and more than
    SUBSCRIBER_QUEUE_SIZE of them means the client fell behind. A control signal (resync,
    failure, overflow, shutdown) replaces the pending changes. No queue object per stream:
    a counter, a slot and, while the stream waits, one future.
    """

    __slots__ = (
        "changes",
        "control",
        "deliver",
        "dropped",
        "job_id",
        "on_drop",
        "user_id",
        "waiter",
    )

    def __init__(self, user_id: UUID, job_id: UUID | None) -> None:
        self.user_id = user_id
        self.job_id = job_id
        self.changes = 0
        self.control: Signal | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.dropped = False
        # Called once when the subscriber is dropped. A stream whose write is parked behind
        # a full socket never looks at its signals again, so the signal alone cannot end it.
        self.on_drop: Callable[[], None] | None = None
        # Writes the feed's new events to the client at once, from the hub, while the
        # stream waits with nothing pending; False when it cannot (the stream is then
        # signalled and writes them itself).
        self.deliver: Callable[[UserFeed, dict[tuple[Any, ...], bytes]], bool] | None = None

    @property
    def idle(self) -> bool:
        """The stream is parked in ``wait`` with nothing pending: nobody else is writing."""
        return self.waiter is not None and self.changes == 0 and self.control is None

    def offer(self, signal: Signal) -> bool:
        if signal is not Signal.CHANGED:
            self.force(signal)
            return True
        if self.changes >= SUBSCRIBER_QUEUE_SIZE:
            return False
        self.changes += 1
        self._wake()
        return True

    def force(self, signal: Signal) -> None:
        """Deliver a control signal whatever is pending (it replaces the backlog)."""
        if self.control is None or _RANK[signal] >= _RANK[self.control]:
            self.control = signal
        self.changes = 0
        self._wake()

    def take(self) -> Signal | None:
        """The strongest pending signal (a control one, else CHANGED), or None."""
        if self.control is not None:
            signal, self.control = self.control, None
            self.changes = 0
            return signal
        if self.changes:
            self.changes = 0
            return Signal.CHANGED
        return None

    async def wait(self) -> Signal:
        while (signal := self.take()) is None:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return signal

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class FeedGap(Exception):
    """The feed no longer holds what this stream has not yet sent: catch up from the table."""


class UserFeed:
    """One user's job changes, read once for all of the user's streams in this process.

    Invariant: ``log`` holds every change of the user with ``covered_after < version <=
    cursor``, in version order. ``wanted`` is the highest version a NOTIFY announced; one
    pump task per feed reads until ``cursor`` reaches it and then hands the new events to
    the hub, which signals the streams they concern: streams never wait on a read.
    """

    def __init__(
        self,
        source: ChangeSource,
        user_id: UUID,
        *,
        on_read: Callable[[], None],
        on_events: Callable[[list[JobEvent]], None],
        on_failure: Callable[[], None],
    ) -> None:
        self.source = source
        self.user_id = user_id
        self.on_read = on_read
        self.on_events = on_events
        self.on_failure = on_failure
        self.log: deque[JobEvent] = deque()
        self.cursor = 0
        self.covered_after = 0
        self.wanted = 0
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Task[None] = loop.create_task(self._start())
        self._pump: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        """Where the feed begins: the user's newest version now. Everything committed later
        has a larger version (a user's versions commit in order) and will be read."""
        self.cursor = self.covered_after = await self.source.latest_version(self.user_id)

    async def position(self) -> int:
        """The feed's cursor once it has started: a stream that reads its own state after
        this has seen every change up to it."""
        if not self._ready.done():
            await asyncio.shield(self._ready)
        self._ready.result()
        return self.cursor

    def close(self) -> None:
        for task in (self._ready, self._pump):
            if task is not None and not task.done():
                task.cancel()

    def announce(self, version: int) -> None:
        self.wanted = max(self.wanted, version)
        self._kick()

    def announce_unknown(self) -> None:
        """NOTIFYs may have been missed (LISTEN reconnected): read whatever is there."""
        self.wanted = MAX_VERSION
        self._kick()

    def _kick(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        try:
            await self._ready
            while self.wanted > self.cursor:
                events = await self._read()
                if events:
                    self.on_events(events)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.warning("SSE feed read failed; ending the user's streams: %r", err)
            self.wanted = self.cursor  # the next NOTIFY reads again
            self.on_failure()

    async def _read(self) -> list[JobEvent]:
        target = self.wanted
        events: list[JobEvent] = []
        while True:
            self.on_read()
            jobs = await self.source.changed_since(self.user_id, self.cursor)
            for job in jobs:
                event = JobEvent.from_job(job)
                if self._append(event):
                    events.append(event)
            if len(jobs) < CHANGES_PAGE:
                break
        # A change whose row has since been deleted (retention) is not there to read; the
        # versions up to the announced one are settled either way.
        if target < MAX_VERSION:
            self.cursor = max(self.cursor, target)
        if self.wanted == MAX_VERSION:
            self.wanted = self.cursor
        return events

    def _append(self, event: JobEvent) -> bool:
        if event.version <= self.cursor:
            return False
        self.log.append(event)
        self.cursor = event.version
        while len(self.log) > FEED_LOG_EVENTS:
            self.covered_after = self.log.popleft().version
        return True

    def events_after(self, position: int, job_id: UUID | None) -> list[JobEvent]:
        """The logged events newer than ``position`` (for one job, or all), oldest first.
        Raises FeedGap if some of them were already dropped from the log."""
        if position < self.covered_after:
            raise FeedGap
        events = []
        for event in reversed(self.log):  # newest first: a stream is rarely far behind
            if event.version <= position:
                break
            if job_id is None or event.job_id == job_id:
                events.append(event)
        events.reverse()
        return events


class EventHub:
    def __init__(
        self,
        metrics: Metrics,
        source: ChangeSource | None = None,
        *,
        max_streams_per_user: int | None = None,
    ) -> None:
        self.metrics = metrics
        self.source = source
        self.max_streams_per_user = max_streams_per_user
        self._by_user: dict[UUID, set[Subscription]] = {}
        self._feeds: dict[UUID, UserFeed] = {}
        self.closed = False

    def subscribe(self, user_id: UUID, job_id: UUID | None) -> Subscription:
        subs = self._by_user.get(user_id)
        if self.max_streams_per_user is not None and subs is not None and (
            len(subs) >= self.max_streams_per_user
        ):
            self.metrics.sse_refused.inc()
            raise TooManyStreams(
                f"You already have {self.max_streams_per_user} live updates open. Close a tab "
                "or window that shows cardforge, then try again.",
                limit=self.max_streams_per_user,
            )
        sub = Subscription(user_id, job_id)
        self._by_user.setdefault(user_id, set()).add(sub)
        self.metrics.sse_clients.inc()
        if self.source is not None and user_id not in self._feeds:
            self._feeds[user_id] = UserFeed(
                self.source, user_id, on_read=self.metrics.sse_feed_reads.inc,
                on_events=lambda events: self._signal(user_id, events),
                on_failure=lambda: self._fail(user_id),
            )
        return sub

    def feed(self, user_id: UUID) -> UserFeed | None:
        """The user's feed while they have a stream open here (None for a hub without a
        database, as in the hub's own unit tests: streams then read for themselves)."""
        return self._feeds.get(user_id)

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self.metrics.sse_clients.dec()
            if not subs:
                del self._by_user[sub.user_id]
                feed = self._feeds.pop(sub.user_id, None)
                if feed is not None:
                    feed.close()

    def _all(self) -> Iterator[Subscription]:
        for subs in list(self._by_user.values()):
            yield from list(subs)

    def publish(self, event: dict[str, Any]) -> None:
        try:
            user_id, job_id = UUID(str(event["userId"])), UUID(str(event["id"]))
        except (KeyError, ValueError):
            return
        subs = self._by_user.get(user_id)
        if not subs:
            return
        feed = self._feeds.get(user_id)
        if feed is None:  # no database to read for the streams: they read for themselves
            self._offer(subs, {job_id})
            return
        version = event.get("version")
        if isinstance(version, int) and 0 < version <= MAX_VERSION:
            feed.announce(version)
        else:
            feed.announce_unknown()

    def _signal(self, user_id: UUID, events: list[JobEvent]) -> None:
        """The feed has read these events: poke the streams they concern."""
        subs = self._by_user.get(user_id)
        if subs:
            self._offer(subs, {event.job_id for event in events}, self._feeds.get(user_id))

    def _offer(self, subs: set[Subscription], job_ids: set[UUID],
               feed: UserFeed | None = None) -> None:
        """Tell the streams concerned. A stream waiting with nothing pending gets the feed's
        events written for it here, in this one loop: no task wakes per stream per change."""
        encoded: dict[tuple[Any, ...], bytes] = {}
        for sub in list(subs):
            if sub.dropped or (sub.job_id is not None and sub.job_id not in job_ids):
                continue
            if feed is not None and sub.idle and sub.deliver is not None and (
                sub.deliver(feed, encoded)
            ):
                continue
            if not sub.offer(Signal.CHANGED):
                self._drop(sub)

    def _fail(self, user_id: UUID) -> None:
        for sub in list(self._by_user.get(user_id, ())):
            sub.force(Signal.FAILED)

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        self.metrics.sse_dropped.inc()
        sub.force(Signal.OVERFLOW)
        if sub.on_drop is not None:
            sub.on_drop()

    async def resync(self) -> None:
        for feed in self._feeds.values():
            feed.announce_unknown()
        for sub in self._all():
            sub.force(Signal.RESYNC)

    def close(self) -> None:
        self.closed = True
        for sub in self._all():
            sub.force(Signal.SHUTDOWN)


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


class FeedFailed(Exception):
    """The shared read failed (the database): end this stream as any error would."""


class StreamEnded(Exception):
    """The stream is over (shutdown, or the client fell behind): stop writing."""


class JobStream:
    """One SSE response: writes job states newer than the last version it sent.

    ``position`` is how far into the user's changes this stream is complete: every change
    matching the stream with a version up to it has been sent (or was older than what its
    own read showed). ``last_version`` is the newest version sent, so nothing is sent twice.
    """

    def __init__(
        self,
        request: web.Request,
        source: ChangeSource,
        hub: EventHub,
        user_id: UUID,
        job_id: UUID | None,
        keepalive_s: float,
    ) -> None:
        self.request = request
        self.source = source
        self.hub = hub
        self.user_id = user_id
        self.job_id = job_id
        self.keepalive_s = keepalive_s
        self._transport = request.transport  # read once: the hub writes to it per change
        self.last_version = parse_last_event_id(request)
        self.position = 0
        self.finished = False
        # what this stream last sent of each job, for the progress/job event name; bounded,
        # since a user stream can stay open across any number of jobs
        self._sent: dict[UUID, tuple[str, bytes]] = {}
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
        if self.request.version >= (1, 1):
            # chunked, said so before prepare: deliver_now frames its chunks itself
            self.response.enable_chunked_encoding()
        try:
            await self.response.prepare(self.request)
            await self._write(b"retry: %d\n\n" % RETRY_HINT_MS)
            await self._catch_up(initial=True)
            sub.deliver = self.deliver_now
            while not self.finished:
                await self._next(sub)
        except (ConnectionResetError, StreamEnded):
            pass  # the client went away mid-write (a cancelled handler propagates as it must)
        except Exception as err:
            # Headers and events are on the wire already: an error response now would be
            # written into the event stream as garbage and leave the connection hanging.
            # End the stream instead; the EventSource reconnects with its Last-Event-ID.
            log.warning("ending an SSE stream after an error: %r", err)
            self.response.force_close()
        finally:
            self.hub.unsubscribe(sub)
        return self.response

    async def _next(self, sub: Subscription) -> None:
        try:
            async with asyncio.timeout(self.keepalive_s):
                signal = await sub.wait()  # every pending change at once: one pass
        except TimeoutError:
            await self._write(b": keep-alive\n\n")
            return
        if signal is Signal.SHUTDOWN:
            await self._write(b"retry: %d\n\n" % SHUTDOWN_RETRY_HINT_MS)
            raise StreamEnded
        if signal is Signal.OVERFLOW:
            raise StreamEnded  # the browser reconnects with Last-Event-ID and catches up
        if signal is Signal.FAILED:
            raise FeedFailed
        if self.finished:  # deliver_now sent the job's last state: the stream is done
            return
        resync = signal is Signal.RESYNC
        feed = self.hub.feed(self.user_id)
        if resync or feed is None:
            await self._catch_up(initial=False)
        else:
            await self._from_feed(feed)

    async def _from_feed(self, feed: UserFeed) -> None:
        try:
            events = feed.events_after(self.position, self.job_id)
        except FeedGap:  # further behind than the feed keeps: read for itself, this once
            await self._catch_up(initial=False)
            return
        for event in events:
            await self._send(event)
        self.position = max(self.position, feed.cursor)

    async def _catch_up(self, *, initial: bool) -> None:
        """The stream's own read: its first state, a resume, or after a LISTEN reconnect. The
        feed's position is taken first, so this read's snapshot covers everything up to it."""
        feed = self.hub.feed(self.user_id)
        position = await feed.position() if feed is not None else 0
        if self.job_id is not None:
            event = JobEvent.from_job(await self.source.get(self.user_id, self.job_id))
            await self._send(event)
            self.finished = event.terminal
        elif initial and not self.last_version:
            for row in await self.source.recent(self.user_id, INITIAL_JOBS):
                await self._send(JobEvent.from_job(row))
        else:
            while True:
                rows = await self.source.changed_since(self.user_id, self.last_version)
                for row in rows:
                    await self._send(JobEvent.from_job(row))
                if len(rows) < CHANGES_PAGE:
                    break
        self.position = max(self.position, position)

    async def _send(self, event: JobEvent) -> None:
        only_progress = self._take(event)
        if only_progress is not None:
            await self._write(event.frame(only_progress))

    def _take(self, event: JobEvent) -> bool | None:
        """Record the event as sent by this stream and say how to name it (True: a
        ``progress`` event); None if the stream has sent it already."""
        if event.version <= self.last_version:
            return None
        only_progress = event.only_progress(self._sent.pop(event.job_id, None))
        self._sent[event.job_id] = (event.status, event.progress_key)
        if len(self._sent) > SENT_JOBS_REMEMBERED:
            del self._sent[next(iter(self._sent))]
        self.last_version = event.version
        if self.job_id is not None and event.terminal:
            self.finished = True
        return only_progress

    def deliver_now(self, feed: UserFeed, encoded: dict[tuple[Any, ...], bytes]) -> bool:
        """The feed's new events for this stream, written here and now (called by the hub
        while the stream's task waits with nothing pending, so no other write is under
        way). False, with nothing written, if the stream must do it itself: it is further
        behind than the feed keeps, or its client is not reading what it was sent.

        ``encoded`` is the hub's for this one change: streams that send the same events
        under the same names send the same bytes, encoded once for all of them."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > DIRECT_WRITE_BACKLOG:
            return False  # the stream's own write then waits on the socket, as it should
        try:
            events = feed.events_after(self.position, self.job_id)
        except FeedGap:
            return False
        sent = [(event, named) for event in events if (named := self._take(event)) is not None]
        self.position = max(self.position, feed.cursor)
        if sent:
            chunked = self.response.chunked
            key = (chunked, *((event.version, named) for event, named in sent))
            payload = encoded.get(key)
            if payload is None:
                payload = b"".join(event.frame(named) for event, named in sent)
                if chunked:
                    payload = b"%x\r\n%b\r\n" % (len(payload), payload)
                encoded[key] = payload
            transport.write(payload)
        # a job stream's last state went out: False, so the hub wakes the task to end it
        return not self.finished

    def _abort(self) -> None:
        """Drop a client that fell behind: abort (not close: close would wait to flush to a
        reader that is not reading) so a parked write fails and the handler ends."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def _write(self, data: bytes) -> None:
        await self.response.write(data)
