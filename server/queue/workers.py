"""In-process workers: up to N jobs in flight, fed by one claimer, plus a heartbeat and a reaper.

Concurrency is not connections. ``concurrency`` is how many jobs this process runs at once (it
may be in the thousands); each job is an asyncio task that holds a database connection only
for the statement it is running, never while it waits on the LLM. One claimer task fills free
slots with one claim statement for up to ``CLAIM_BATCH`` jobs; one heartbeat statement renews
every lease; finished jobs are committed in groups (``Completions``), so a burst of jobs costs
a few transactions, not two per job.

Waking: a NOTIFY rings a doorbell that wakes the claimer; a job finishing anywhere (its job
event) rings it too, since it may have made room under another user's cap. A poll every few
seconds, and a sleep until the next scheduled ``run_at``, cover NOTIFYs lost while the LISTEN
connection was down.

An attempt is the pair (job, attempt number): the same process can hold a job again after its
lease lapsed (an event-loop stall, a reaper elsewhere), and the stale attempt must neither
renew the new one's lease nor clear its bookkeeping. Claiming a job again stops its stale
attempt at once.

A handler runs in its own task so that the job's task can tell *why* it stopped: the user
cancelled it, the process is shutting down (the attempt is given back), or the lease was lost
(the successor owns the job; we write nothing). The claimer, heartbeat and reaper loops are
supervised: an unexpected exception is logged and the loop restarted with backoff, and a loop
that keeps crashing makes ``ready`` false, which /readyz reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.generator import StudyGenerator
from handlers.models import Outcome
from handlers.registry import HandlerRegistry
from server.logs import job_fields, log_context
from server.metrics import Metrics
from server.queue.engine import ClaimedJob, JobQueue, PreparedCompletion, Settled
from server.queue.jobs import JobStatus
from server.store.library import UserLookups
from server.wording import duration_in_words

log = logging.getLogger(__name__)

DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)
DB_RETRY_MAX_S = 5.0
UNKNOWN_TYPE = "This version of cardforge cannot run this kind of job."
UNEXPECTED_ERROR = "Something unexpected went wrong while generating."
CLAIM_BATCH = 100  # jobs one claim statement may take
COMPLETION_BATCH = 200  # jobs one completion transaction may commit
HAND_BACK_S = 5.0  # after the grace period: how long handing jobs back may take
SUPERVISOR_BASE_S = 0.1
SUPERVISOR_MAX_S = 10.0
CRASH_LOOP = 3  # consecutive crashes of a loop that make the pool not ready
WAKING_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

Attempt = tuple[UUID, int]


async def _within(handler: Awaitable[Outcome], timeout_s: float) -> Outcome:
    """The handler, cut off after ``timeout_s`` with TimeoutError. ``asyncio.wait_for`` would
    run it in a task of its own: one more task per job, in a loop that runs thousands."""
    async with asyncio.timeout(timeout_s):
        return await handler


class StopReason(enum.Enum):
    CANCELLED = "cancelled"  # the user asked
    SHUTDOWN = "shutdown"  # the process is leaving: give the attempt back
    LEASE_LOST = "lease_lost"  # the reaper took the job; the successor owns it


@dataclass
class InFlight:
    job: ClaimedJob
    task: asyncio.Task[Outcome]
    stop_reason: StopReason | None = None

    @property
    def key(self) -> Attempt:
        return (self.job.id, self.job.attempts)

    def stop(self, reason: StopReason) -> None:
        if not self.task.done() and self.stop_reason is None:
            self.stop_reason = reason
            self.task.cancel()


class Doorbell:
    """Wakes one idle waiter per ring. A ring with nobody idle is remembered, so the next
    waiter to go idle looks again instead of sleeping through it."""

    def __init__(self) -> None:
        self._idle: deque[asyncio.Future[None]] = deque()
        self._missed = False

    def ring(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._missed = True

    def ring_all(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._missed = True

    async def wait(self, timeout_s: float) -> None:
        if self._missed:
            self._missed = False
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=timeout_s)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._idle.remove(waiter)


class Completions:
    """Group commit for finished attempts: whatever finished while the previous transaction
    was being written goes into the next one. Under load that is one commit (and one round of
    NOTIFYs, which PostgreSQL serialises server-wide) for many jobs; alone, a job waits for
    nothing but its own transaction."""

    def __init__(self, queue: JobQueue, worker_id: str) -> None:
        self.queue = queue
        self.worker_id = worker_id
        self._waiting: list[tuple[PreparedCompletion, asyncio.Future[Settled]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def complete(self, completion: PreparedCompletion) -> Settled:
        future: asyncio.Future[Settled] = asyncio.get_running_loop().create_future()
        self._waiting.append((completion, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="cardforge-completions")
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the jobs that finished in this loop turn join the batch
        while self._waiting:
            batch = self._waiting[:COMPLETION_BATCH]
            del self._waiting[:COMPLETION_BATCH]
            try:
                accepted = await self._write([c for c, _ in batch])
            except BaseException as err:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                if not isinstance(err, Exception):
                    raise
                continue
            for (_, future), ok in zip(batch, accepted, strict=True):
                if not future.done():
                    future.set_result(ok)

    async def _write(self, batch: list[PreparedCompletion]) -> list[Settled]:
        if len(batch) == 1:
            return await self.queue.complete_many(self.worker_id, batch)
        try:
            return await self.queue.complete_many(self.worker_id, batch)
        except asyncpg.PostgresError as err:
            if isinstance(err, asyncpg.exceptions.PostgresConnectionError):
                raise
            # one job's rows were refused (a constraint): write the jobs one by one so that
            # only that job fails to complete
            log.warning("a batch of %d completions was refused (%s); writing them one by one",
                        len(batch), err)
            results: list[Settled] = []
            for completion in batch:
                results.extend(await self.queue.complete_many(self.worker_id, [completion]))
            return results


@dataclass
class WorkerSettings:
    concurrency: int
    lease_s: float
    poll_s: float
    job_timeout_s: float


@dataclass
class WorkerPool:
    queue: JobQueue
    registry: HandlerRegistry
    generator: StudyGenerator
    settings: WorkerSettings
    metrics: Metrics
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    inflight: dict[Attempt, InFlight] = field(default_factory=dict)
    doorbell: Doorbell = field(default_factory=Doorbell)
    stopping: bool = False
    _latest: dict[UUID, int] = field(default_factory=dict)  # job id → its newest attempt here
    _jobs: set[asyncio.Task[None]] = field(default_factory=set)
    _slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    # attempts whose handler has ended and whose outcome is being written: they hold no slot
    _settling: set[asyncio.Task[None]] = field(default_factory=set)
    loops: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _crashes: dict[str, int] = field(default_factory=dict)
    _completions: Completions | None = None

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._completions = Completions(self.queue, self.worker_id)
        bodies: dict[str, Callable[[], Awaitable[None]]] = {
            "claimer": self._claim_loop, "heartbeat": self._heartbeat_loop,
            "reaper": self._reap_loop,
        }
        for name, loop in bodies.items():
            self._crashes[name] = 0
            self.loops[name] = asyncio.create_task(
                self._supervise(name, loop), name=f"cardforge-{name}"
            )

    @property
    def ready(self) -> bool:
        """False when a loop has ended or keeps crashing: the process takes no work."""
        if self.stopping:
            return False
        return all(not t.done() for t in self.loops.values()) and all(
            n < CRASH_LOOP for n in self._crashes.values()
        )

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let running jobs finish for up to ``grace_s``; then cancel them and
        hand them back to the queue with their attempt uncharged. A claim still out at the
        deadline is cut off too: exit never waits on the database past the grace period."""
        self.stopping = True
        self.doorbell.ring_all()
        self._slot_freed.set()
        claimer = self.loops.get("claimer")
        waiting: set[asyncio.Task[None]] = set(self._jobs)
        if claimer is not None:
            waiting.add(claimer)
        if waiting:
            await asyncio.wait(waiting, timeout=grace_s)
        if claimer is not None and not claimer.done():
            claimer.cancel()  # its transaction rolls back; if it had committed, see below
        if self._jobs:
            log.info("grace period over: handing %d job(s) back", len(self.inflight))
            for flight in list(self.inflight.values()):
                flight.stop(StopReason.SHUTDOWN)
            await asyncio.wait(set(self._jobs), timeout=HAND_BACK_S)
        if claimer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await claimer
        try:
            # anything still ours: a claim that committed as it was cut off, a failed release
            released = await asyncio.wait_for(self.queue.release_all(self.worker_id),
                                              HAND_BACK_S)
            if released:
                log.info("handed back %d more job(s) held by this process", released)
        except DB_ERRORS as err:
            log.warning("could not hand back jobs at exit (%s); the reaper will", err)
        for task in self.loops.values():
            task.cancel()
        for task in self.loops.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        if not self.stopping:
            self.doorbell.ring()

    def wake_all(self) -> None:
        if not self.stopping:
            self.doorbell.ring_all()

    def on_job_event(self, event: dict[str, Any]) -> None:
        """A job changed somewhere. If it is ours and the user cancelled it, stop it now; if it
        finished, a user under the per-user cap may have room again: look for work."""
        if event.get("status") in WAKING_STATUSES:
            self.wake()
        if not event.get("cancelRequested"):
            return
        with contextlib.suppress(ValueError, TypeError):
            job_id = UUID(str(event.get("id")))
            attempt = self._latest.get(job_id)
            flight = self.inflight.get((job_id, attempt)) if attempt is not None else None
            if flight is not None:
                flight.stop(StopReason.CANCELLED)

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop``; restart it with backoff when it raises, until the pool stops."""
        while not self.stopping:
            try:
                await loop()
                return
            except Exception:
                self._crashes[name] += 1
                crashes = self._crashes[name]
                delay = min(SUPERVISOR_MAX_S, SUPERVISOR_BASE_S * 2 ** min(crashes - 1, 16))
                log.exception("worker %s crashed (%d in a row); restarting in %.1fs",
                              name, crashes, delay)
                await asyncio.sleep(delay)

    def _healthy(self, name: str) -> None:
        self._crashes[name] = 0

    # -------------------------------------------------------------- claiming

    async def _claim_loop(self) -> None:
        job_types = list(self.registry)
        failures = 0
        while not self.stopping:
            # A job whose handler ended frees its slot while its outcome is written, so the
            # next claim overlaps the last completion's commit instead of waiting for it;
            # at most as many again may be writing.
            running = len(self._jobs) - len(self._settling)
            free = min(self.settings.concurrency - running,
                       2 * self.settings.concurrency - len(self._jobs))
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            want = min(free, CLAIM_BATCH)
            self.metrics.claims.inc()
            try:
                jobs = await self.queue.claim_batch(self.worker_id, job_types, want)
            except DB_ERRORS as err:
                failures += 1
                delay = min(DB_RETRY_MAX_S, 0.1 * 2 ** min(failures, 16)) * random.uniform(0.5, 1)
                log.warning("claim failed (%s); retrying in %.1fs", err, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self._healthy("claimer")
            if self.stopping:  # the claim returned after stop began: hand the jobs back unrun
                await self._hand_back(jobs)
                return
            for job in jobs:
                self._start(job)
            if len(jobs) < want:
                await self._idle()

    async def _idle(self) -> None:
        timeout = self.settings.poll_s * random.uniform(0.75, 1.25)
        with contextlib.suppress(*DB_ERRORS):
            next_run = await self.queue.seconds_until_next_run()
            if next_run is not None:
                timeout = min(timeout, next_run + 0.005)
        if not self.stopping:
            await self.doorbell.wait(timeout)

    async def _hand_back(self, jobs: list[ClaimedJob]) -> None:
        for job in jobs:
            with contextlib.suppress(*DB_ERRORS):
                await self.queue.release(job, self.worker_id)

    # -------------------------------------------------------------- one job

    def _start(self, job: ClaimedJob) -> None:
        stale_attempt = self._latest.get(job.id)
        if stale_attempt is not None:
            # we hold this job again: its earlier attempt here lost its lease and must stop
            stale = self.inflight.get((job.id, stale_attempt))
            if stale is not None:
                stale.stop(StopReason.LEASE_LOST)
        self._latest[job.id] = job.attempts
        task = asyncio.create_task(self._job(job), name=f"cardforge-job-{job.id}")
        self._jobs.add(task)
        self.metrics.jobs_in_flight.inc()

    async def _job(self, job: ClaimedJob) -> None:
        try:
            await self._run(job)
        except Exception:
            # a bug on the way to recording the outcome: the job is retried, the pool lives on
            log.exception("job %s (%s): unexpected error while recording its outcome",
                          job.id, job.type)
            with contextlib.suppress(Exception):
                await self._finish(job, self.queue.requeue(job, self.worker_id,
                                                           UNEXPECTED_ERROR), "retried")
        finally:
            self.inflight.pop((job.id, job.attempts), None)
            if self._latest.get(job.id) == job.attempts:
                del self._latest[job.id]
            task = asyncio.current_task()
            if task is not None:
                self._jobs.discard(task)
                self._settling.discard(task)
            self.metrics.jobs_in_flight.dec()
            self._slot_freed.set()

    async def _run(self, job: ClaimedJob) -> None:
        # Every line logged for this attempt, here or in the handler's task (which copies
        # this context), carries job_id, user_id, type and attempt.
        with log_context(**job_fields(job)):
            log.info("job started")
            await self._attempt(job)

    async def _attempt(self, job: ClaimedJob) -> None:
        handler = self.registry.get(job.type)
        if handler is None:
            await self._finish(job, self.queue.fail(job, self.worker_id, UNKNOWN_TYPE))
            return
        try:
            payload = handler.payload_model.model_validate(job.payload)
        except ValidationError:
            message = "This request is no longer valid after an update of cardforge: " \
                "start it again."
            await self._finish(job, self.queue.fail(job, self.worker_id, message))
            return

        async def progress(update: dict[str, Any]) -> None:
            await self.queue.report_progress(job, self.worker_id, update)

        ctx = JobContext(
            generator=self.generator, lookups=UserLookups(self.queue.pool, job.user_id),
            progress=progress,
        )
        task = asyncio.create_task(
            _within(handler.run(payload, ctx), self.settings.job_timeout_s),
            name=f"cardforge-handler-{job.id}",
        )
        flight = InFlight(job, task)
        self.inflight[flight.key] = flight
        if job.cancel_requested:
            flight.stop(StopReason.CANCELLED)
        started = time.perf_counter()
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            flight.stop(StopReason.SHUTDOWN)
            raise
        self.metrics.job_run_seconds.labels(job.type).observe(time.perf_counter() - started)
        await self._settle(flight, ctx)

    async def _settle(self, flight: InFlight, ctx: JobContext) -> None:
        """Record how the attempt ended. Every write here is fenced by the queue."""
        task_of_job = asyncio.current_task()
        if task_of_job is not None:
            self._settling.add(task_of_job)
            self._slot_freed.set()
        job, task, wid = flight.job, flight.task, self.worker_id
        self.metrics.record_usage(ctx.usage)
        usage = ctx.usage.as_json()
        if task.cancelled():
            reason = flight.stop_reason
            if reason is StopReason.SHUTDOWN:
                await self._finish(job, self.queue.release(job, wid), "released")
            elif reason is StopReason.CANCELLED:
                await self._finish(job, self.queue.mark_cancelled(job, wid), "cancelled")
            else:
                self.metrics.job_outcomes.labels(job.type, "lost").inc()
            return
        err = task.exception()
        if err is None:
            assert self._completions is not None
            completion = self.queue.prepare_completion(
                job, task.result(), provider=self.generator.provider, usage=usage
            )
            await self._finish(job, self._completions.complete(completion), "completed")
        elif isinstance(err, PermanentError):
            await self._finish(job, self.queue.fail(job, wid, err.message, usage), "failed")
        elif isinstance(err, RetryableError):
            requeue = self.queue.requeue(
                job, wid, err.message, retry_after_s=err.retry_after_s, usage=usage
            )
            await self._finish(job, requeue, "retried")
        elif isinstance(err, asyncio.TimeoutError):
            limit = duration_in_words(self.settings.job_timeout_s)
            message = f"Generation took longer than {limit}."
            await self._finish(job, self.queue.requeue(job, wid, message, usage=usage), "retried")
        else:
            log.error("job %s (%s) raised", job.id, job.type, exc_info=err)
            requeue = self.queue.requeue(job, wid, UNEXPECTED_ERROR, usage=usage)
            await self._finish(job, requeue, "retried")

    async def _finish(
        self, job: ClaimedJob, write: Awaitable[Settled], outcome: str = "failed"
    ) -> None:
        """Await a fenced write. A None answer means the fence held: the job is no longer
        ours, and what we would have written is rightly discarded. A database error leaves
        the job to the reaper, which re-runs it after the lease; nothing is lost."""
        try:
            settled = await write
        except DB_ERRORS as err:
            log.warning("could not record %s for job %s (%s); the reaper will", outcome, job.id,
                        err)
            return
        if settled is None:
            log.info("job %s: fence rejected %s (lease lost)", job.id, outcome)
            outcome = "lost"
        elif outcome == "retried" and settled is JobStatus.FAILED:
            outcome = "failed"  # the retry found the attempts used up
        self.metrics.job_outcomes.labels(job.type, outcome).inc()
        log.log(logging.WARNING if outcome == "failed" else logging.INFO, "job %s", outcome,
                extra={"outcome": outcome})

    # -------------------------------------------------------------- heartbeat and reaper

    async def _heartbeat_loop(self) -> None:
        interval = max(self.settings.lease_s / 3, 0.05)
        due = time.monotonic()
        while True:
            # At a fixed rate, not a fixed pause after each renewal: with a thousand jobs in
            # flight one renewal took over a second (waiting for the pool and for row locks),
            # and pauses added to it let a live process's 3 s leases expire.
            due = max(due + interval, time.monotonic())
            await asyncio.sleep(due - time.monotonic())
            # the newest attempt of each job only; a handler that finished is still renewed
            # while its completion is being written
            flights = {
                job_id: self.inflight[(job_id, attempt)]
                for job_id, attempt in self._latest.items()
                if (job_id, attempt) in self.inflight
            }
            if not flights:
                self._healthy("heartbeat")
                continue
            try:
                held = await self.queue.heartbeat(
                    self.worker_id, list(flights), [f.job.attempts for f in flights.values()]
                )
            except DB_ERRORS as err:
                log.warning("heartbeat failed (%s)", err)
                continue
            self._healthy("heartbeat")
            for job_id, flight in flights.items():
                if job_id not in held:
                    flight.stop(StopReason.LEASE_LOST)
                elif held[job_id]:
                    flight.stop(StopReason.CANCELLED)

    async def _reap_loop(self) -> None:
        interval = max(min(self.settings.lease_s / 2, 10.0), 0.05)
        while True:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                reaped = await self.queue.reap()
            except DB_ERRORS as err:
                log.warning("reaper failed (%s)", err)
                continue
            self._healthy("reaper")
            if reaped:
                self.metrics.jobs_reaped.inc(len(reaped))
                log.warning("reaper recovered %d job(s) with expired leases", len(reaped))
                for job_id, status in reaped:
                    log.warning("job lease expired: now %s", status,
                                extra={"job_id": str(job_id)})
