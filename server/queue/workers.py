"""In-process workers: N asyncio tasks claiming jobs, plus a heartbeat and a reaper.

Waking: a NOTIFY rings a doorbell that wakes ONE idle worker; a worker that found a job rings
again, so a burst fans out to as many workers as it needs (waking every worker on every
NOTIFY made 16 workers slower to pick up than 4). A poll every few seconds, and a sleep until
the next scheduled ``run_at``, cover NOTIFYs lost while the LISTEN connection was down.

A handler runs in its own task so that the worker can tell *why* it stopped: the user
cancelled it, the process is shutting down (the attempt is given back), or the lease was
lost to the reaper (the successor owns the job; we write nothing).
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
from collections.abc import Awaitable
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
from server.queue.engine import ClaimedJob, JobQueue, Settled
from server.queue.jobs import JobStatus
from server.store.library import UserLookups

log = logging.getLogger(__name__)

DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)
DB_RETRY_MAX_S = 5.0
UNEXPECTED_ERROR = "An unexpected error interrupted generation; it will be retried."


class StopReason(enum.Enum):
    CANCELLED = "cancelled"  # the user asked
    SHUTDOWN = "shutdown"  # the process is leaving: give the attempt back
    LEASE_LOST = "lease_lost"  # the reaper took the job; the successor owns it


@dataclass
class InFlight:
    job: ClaimedJob
    task: asyncio.Task[Outcome]
    stop_reason: StopReason | None = None

    def stop(self, reason: StopReason) -> None:
        if not self.task.done() and self.stop_reason is None:
            self.stop_reason = reason
            self.task.cancel()


class Doorbell:
    """Wakes one idle waiter per ring. A ring with nobody idle is remembered, so the next
    worker to go idle looks again instead of sleeping through it."""

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
    inflight: dict[UUID, InFlight] = field(default_factory=dict)
    doorbell: Doorbell = field(default_factory=Doorbell)
    stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"cardforge-worker-{n}")
            for n in range(self.settings.concurrency)
        ]
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="cardforge-heartbeat"),
            asyncio.create_task(self._reap(), name="cardforge-reaper"),
        ]

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let running jobs finish for up to ``grace_s``; then cancel them and
        hand them back to the queue with their attempt uncharged."""
        self.stopping = True
        self.doorbell.ring_all()
        if self._workers:
            _done, running = await asyncio.wait(self._workers, timeout=grace_s)
            if running:
                log.info("grace period over: handing %d job(s) back", len(self.inflight))
                for flight in list(self.inflight.values()):
                    flight.stop(StopReason.SHUTDOWN)
                await asyncio.wait(running)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        if not self.stopping:
            self.doorbell.ring()

    def wake_all(self) -> None:
        if not self.stopping:
            self.doorbell.ring_all()

    def on_job_event(self, event: dict[str, Any]) -> None:
        """A job changed somewhere; if it is ours and the user cancelled it, stop it now."""
        if not event.get("cancelRequested"):
            return
        with contextlib.suppress(ValueError, TypeError):
            flight = self.inflight.get(UUID(str(event.get("id"))))
            if flight is not None:
                flight.stop(StopReason.CANCELLED)

    # -------------------------------------------------------------- the worker loop

    async def _work(self) -> None:
        job_types = list(self.registry)
        failures = 0
        while not self.stopping:
            try:
                job = await self.queue.claim(self.worker_id, job_types)
            except DB_ERRORS as err:
                failures += 1
                delay = min(DB_RETRY_MAX_S, 0.1 * 2**failures) * random.uniform(0.5, 1)
                log.warning("claim failed (%s); retrying in %.1fs", err, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if job is None:
                await self._idle()
                continue
            self.doorbell.ring()  # there may be more: pass the wake-up on
            await self._run(job)

    async def _idle(self) -> None:
        timeout = self.settings.poll_s * random.uniform(0.75, 1.25)
        with contextlib.suppress(*DB_ERRORS):
            next_run = await self.queue.seconds_until_next_run()
            if next_run is not None:
                timeout = min(timeout, next_run + 0.005)
        if not self.stopping:
            await self.doorbell.wait(timeout)

    async def _run(self, job: ClaimedJob) -> None:
        # Every line logged for this attempt, here or in the handler's task (which copies
        # this context), carries job_id, user_id, type and attempt.
        with log_context(**job_fields(job)):
            log.info("job started")
            await self._attempt(job)

    async def _attempt(self, job: ClaimedJob) -> None:
        handler = self.registry.get(job.type)
        if handler is None:
            await self._finish(job, self.queue.fail(job, self.worker_id, "Unknown job type."))
            return
        try:
            payload = handler.payload_model.model_validate(job.payload)
        except ValidationError:
            message = "The stored payload is no longer valid for this job type."
            await self._finish(job, self.queue.fail(job, self.worker_id, message))
            return

        async def progress(update: dict[str, Any]) -> None:
            await self.queue.report_progress(job, self.worker_id, update)

        ctx = JobContext(
            generator=self.generator, lookups=UserLookups(self.queue.pool, job.user_id),
            progress=progress,
        )
        task = asyncio.create_task(
            asyncio.wait_for(handler.run(payload, ctx), timeout=self.settings.job_timeout_s),
            name=f"cardforge-job-{job.id}",
        )
        flight = InFlight(job, task)
        self.inflight[job.id] = flight
        self.metrics.jobs_in_flight.inc()
        if job.cancel_requested:
            flight.stop(StopReason.CANCELLED)
        started = time.perf_counter()
        try:
            await asyncio.wait({task})
            self.metrics.job_run_seconds.labels(job.type).observe(time.perf_counter() - started)
            await self._settle(flight, ctx)
        finally:
            self.inflight.pop(job.id, None)
            self.metrics.jobs_in_flight.dec()

    async def _settle(self, flight: InFlight, ctx: JobContext) -> None:
        """Record how the attempt ended. Every write here is fenced by the queue."""
        job, task, wid = flight.job, flight.task, self.worker_id
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
            outcome = task.result()
            done = self.queue.complete(
                job, wid, outcome, provider=self.generator.provider, usage=usage
            )
            await self._finish(job, done, "completed")
        elif isinstance(err, PermanentError):
            await self._finish(job, self.queue.fail(job, wid, err.message, usage), "failed")
        elif isinstance(err, RetryableError):
            requeue = self.queue.requeue(
                job, wid, err.message, retry_after_s=err.retry_after_s, usage=usage
            )
            await self._finish(job, requeue, "retried")
        elif isinstance(err, asyncio.TimeoutError):
            message = f"Generation took longer than {self.settings.job_timeout_s:.0f} seconds."
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

    async def _heartbeat(self) -> None:
        interval = max(self.settings.lease_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            flights = {jid: f for jid, f in self.inflight.items() if not f.task.done()}
            if not flights:
                continue
            try:
                held = await self.queue.heartbeat(self.worker_id, list(flights))
            except DB_ERRORS as err:
                log.warning("heartbeat failed (%s)", err)
                continue
            for job_id, flight in flights.items():
                if job_id not in held:
                    flight.stop(StopReason.LEASE_LOST)
                elif held[job_id]:
                    flight.stop(StopReason.CANCELLED)

    async def _reap(self) -> None:
        interval = max(min(self.settings.lease_s / 2, 10.0), 0.05)
        while True:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                reaped = await self.queue.reap()
                if reaped:
                    self.metrics.jobs_reaped.inc(len(reaped))
                    log.warning("reaper recovered %d job(s) with expired leases", len(reaped))
                    for job_id, status in reaped:
                        log.warning("job lease expired: now %s", status,
                                    extra={"job_id": str(job_id)})
            except DB_ERRORS as err:
                log.warning("reaper failed (%s)", err)
