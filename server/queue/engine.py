"""The job queue: the only code that writes background_jobs.

Callers speak in verbs: ``enqueue``, ``claim``, ``heartbeat``, ``complete``, ``requeue``,
``fail``, ``release``, ``reap``, ``cancel``, ``retry``, ``prune``. Postgres is the only
coordinator, so every guarantee here holds across processes:

* a job is claimed by one worker at a time (``FOR UPDATE SKIP LOCKED``);
* every finishing write is fenced on (status, worker, attempt), so a worker that lost its
  lease can never overwrite, duplicate or resurrect what its successor did;
* a job's generated rows and its ``completed`` state commit in one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from handlers.models import Outcome
from server.errors import (
    AlreadyFinished,
    IdempotencyKeyReused,
    NotFound,
    NotRetryable,
    RateLimited,
)
from server.queue import queries as q
from server.queue.jobs import RETRYABLE_BY_USER, Job, JobStatus
from server.store.library import Statement, write_outcome
from server.wording import rate_limit_message, status_words

log = logging.getLogger(__name__)

RATE_WINDOW_S = 3600  # the rolling window of the rate limit, passed to RATE_WINDOW as $3
CHANGES_PAGE = q.CHANGES_PAGE


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Capped exponential backoff with full jitter, never earlier than the provider asked,
    and never later than the cap.

    Full jitter (uniform in [0, min(cap, base * 2^(attempt-1))]) spreads a burst of jobs
    that failed together, instead of retrying them in lock-step against the same limit.
    The provider's ``retry-after`` is capped too: a header of 10^9 seconds (or one that
    overflows to infinity) would otherwise park the job for decades.
    """
    ceiling = min(cap_s, base_s * 2 ** min(max(attempt - 1, 0), 64))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after_s is not None and not math.isnan(retry_after_s):
        delay = max(delay, min(retry_after_s, cap_s))
    return delay


def _in_stages(jobs: list[list[Statement]]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements of many jobs as few pipelined ``executemany`` calls: every job's first
    statement (grouped by SQL), then every job's second, and so on. A job's statements still
    run in its own order (a deck before its cards); different jobs' rows never depend on one
    another. One round trip per group instead of one per statement: a batch of 200 finished
    flashcard jobs was 400 round trips, in series, inside one transaction."""
    stages: list[dict[str, list[tuple[Any, ...]]]] = []
    for statements in jobs:
        for depth, (sql, args) in enumerate(statements):
            if depth == len(stages):
                stages.append({})
            stages[depth].setdefault(sql, []).append(args)
    return [(sql, rows) for stage in stages for sql, rows in stage.items()]


@dataclass(frozen=True)
class RateInfo:
    """The user's quota for a job type after this enqueue: ``remaining`` jobs may still be
    created, and the window frees a slot in ``reset_s`` seconds."""

    limit: int
    remaining: int
    reset_s: int


@dataclass(frozen=True)
class Enqueued:
    job: Job
    created: bool  # False for an idempotent replay
    rate: RateInfo | None


# What a fenced write reports: None when the fence held (the job is no longer this
# worker's, and nothing was written), else the status the job now has.
Settled = JobStatus | None


@dataclass(frozen=True)
class PreparedCompletion:
    """A finished attempt ready to be written: the outcome's statements and the job result,
    built outside the transaction (an outcome that cannot be written fails here, alone)."""

    job: ClaimedJob
    statements: list[Statement]
    result: dict[str, Any]
    usage: dict[str, Any] | None


@dataclass(frozen=True)
class ClaimedJob:
    id: UUID
    user_id: UUID
    type: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    cancel_requested: bool

    @property
    def attempts_left(self) -> bool:
        return self.attempts < self.max_attempts


T = TypeVar("T")
R = TypeVar("R")

ENQUEUE_GROUP_MAX = 100  # jobs per group call; a burst beyond it is the next group
READ_GROUP_MAX = 200  # job reads per group query


@dataclass(frozen=True)
class _NewJob:
    user_id: UUID
    job_type: str
    payload: dict[str, Any]
    priority: int
    request_hash: bytes


class _Groups(Generic[T, R]):
    """Calls made while the previous group was in the database go into the next group, sent
    as one statement by ``send`` (which answers each call's result or exception, in order).
    Under load that is one round trip, one backend wake-up and, for writes, one commit for
    many calls; alone, a call waits for nothing but its own statement."""

    def __init__(
        self, send: Callable[[list[T]], Awaitable[list[R | Exception]]], *, most: int, name: str
    ) -> None:
        self._send = send
        self._most = most
        self._name = name
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self._name)
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the calls of this loop turn join the group
        while self._waiting:
            group = self._waiting[: self._most]
            del self._waiting[: self._most]
            try:
                outcomes = await self._send([item for item, _ in group])
            except BaseException as err:
                for _, future in group:
                    if not future.done():
                        future.set_exception(err)
                if not isinstance(err, Exception):
                    # cancelled (shutdown): no flusher is left for the calls still waiting
                    for _, future in self._waiting:
                        future.cancel()
                    self._waiting.clear()
                    raise
                continue
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():  # its caller went away
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


def _request_hash(job_type: str, payload: dict[str, Any], priority: int) -> bytes:
    canonical = json.dumps([job_type, payload, priority], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


class JobQueue:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        rate_limit: int,
        max_attempts: int,
        lease_s: float,
        retry_base_s: float,
        retry_max_s: float,
        user_concurrency: int,
    ) -> None:
        self.pool = pool
        self.rate_limit = rate_limit
        self.max_attempts = max_attempts
        self.lease_s = lease_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.user_concurrency = user_concurrency
        # Enqueues without a key group-commit: every insert notifies, and PostgreSQL
        # serialises notifying commits server-wide, each across its own WAL flush, so one
        # job per transaction was one flush per job, in series.
        self._enqueues: _Groups[_NewJob, Enqueued] = _Groups(
            self._enqueue_group, most=ENQUEUE_GROUP_MAX, name="cardforge-enqueues"
        )
        # Reads of one job group too: one round trip for every GET /api/jobs/{id} that
        # arrived meanwhile, not one pool checkout, round trip and backend wake-up each.
        self._reads: _Groups[tuple[UUID, UUID], Job] = _Groups(
            self._read_group, most=READ_GROUP_MAX, name="cardforge-job-reads"
        )

    # -------------------------------------------------------------- user side

    async def enqueue(
        self,
        user_id: UUID,
        job_type: str,
        payload: dict[str, Any],
        *,
        priority: int = 0,
        idempotency_key: str | None = None,
        retry_of: UUID | None = None,
    ) -> Enqueued:
        """Insert a pending job, counted against the user's rolling hourly limit per type.

        An idempotent replay (same key, same request) returns the original job and costs no
        quota; the same key with a different request is refused rather than guessed at.
        A job without a key that is not a retry joins the next enqueue group (one commit
        for every job enqueued meanwhile, see _Groups); the others are a transaction.
        """
        request_hash = _request_hash(job_type, payload, priority)
        if idempotency_key is None and retry_of is None:
            return await self._enqueues.call(
                _NewJob(user_id, job_type, payload, priority, request_hash)
            )
        if idempotency_key is None:
            return await self._insert_within_limit(
                self.pool, user_id, job_type, payload, priority=priority,
                request_hash=request_hash, retry_of=retry_of,
            )
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return await self._enqueue_in(
                    conn, user_id, job_type, payload, priority=priority,
                    idempotency_key=idempotency_key, request_hash=request_hash,
                    retry_of=retry_of,
                )
        except asyncpg.UniqueViolationError:
            # the same key raced in under another job type (a different advisory lock)
            assert idempotency_key is not None
            async with self.pool.acquire() as conn:
                replay = await self._replay(conn, user_id, idempotency_key, request_hash)
            if replay is None:  # pragma: no cover - the winner cannot vanish
                raise
            return replay

    async def _enqueue_in(
        self,
        conn: asyncpg.Connection,
        user_id: UUID,
        job_type: str,
        payload: dict[str, Any],
        *,
        priority: int,
        idempotency_key: str | None,
        request_hash: bytes,
        retry_of: UUID | None,
    ) -> Enqueued:
        if idempotency_key is None:
            return await self._insert_within_limit(
                conn, user_id, job_type, payload, priority=priority,
                request_hash=request_hash, retry_of=retry_of,
            )
        replay = await self._replay(conn, user_id, idempotency_key, request_hash)
        if replay is not None:
            return replay
        await conn.execute(q.RATE_LOCK, str(user_id), job_type)
        # re-check under the lock: a concurrent twin may have just committed
        replay = await self._replay(conn, user_id, idempotency_key, request_hash)
        if replay is not None:
            return replay
        window = await conn.fetchrow(q.RATE_WINDOW, user_id, job_type, RATE_WINDOW_S)
        used = int(window["used"])
        self._refuse_if_full(job_type, used, window["reset_s"])
        row = await conn.fetchrow(
            q.INSERT_JOB, user_id, job_type, payload, priority, self.max_attempts,
            retry_of, idempotency_key, request_hash,
        )
        return Enqueued(job=Job.from_row(row), created=True,
                        rate=self._rate_after_insert(used, window["reset_s"]))

    async def _insert_within_limit(
        self,
        db: asyncpg.Pool | asyncpg.Connection,
        user_id: UUID,
        job_type: str,
        payload: dict[str, Any],
        *,
        priority: int,
        request_hash: bytes,
        retry_of: UUID | None,
    ) -> Enqueued:
        """The rate lock, the window count and the insert in one round trip (ENQUEUE): on
        the pool it is its own transaction, on a connection part of the caller's."""
        row = await db.fetchrow(
            q.ENQUEUE, user_id, job_type, payload, priority, self.max_attempts, retry_of,
            request_hash, self.rate_limit, RATE_WINDOW_S,
        )
        used = int(row["used"])
        self._refuse_if_full(job_type, used, row["reset_s"])
        return Enqueued(job=Job.from_row(row), created=True,
                        rate=self._rate_after_insert(used, row["reset_s"]))

    async def _enqueue_group(self, group: list[_NewJob]) -> list[Enqueued | Exception]:
        if len(group) > 1:
            try:
                return await self._insert_group(group)
            except asyncpg.PostgresError as err:
                if isinstance(err, asyncpg.exceptions.PostgresConnectionError):
                    raise
                # the database refused one job (a user deleted meanwhile): the group was
                # rolled back, so each job is written alone and only that one fails
                log.warning("a group of %d enqueues was refused (%s); writing them one by one",
                            len(group), err)
        outcomes: list[Enqueued | Exception] = []
        for job in group:
            try:
                outcomes.append(await self._insert_within_limit(
                    self.pool, job.user_id, job.job_type, job.payload,
                    priority=job.priority, request_hash=job.request_hash, retry_of=None,
                ))
            except (asyncpg.PostgresError, RateLimited) as err:
                if isinstance(err, asyncpg.exceptions.PostgresConnectionError):
                    raise
                outcomes.append(err)
        return outcomes

    async def _insert_group(self, group: list[_NewJob]) -> list[Enqueued | Exception]:
        """Many jobs, each decided as _insert_within_limit decides one, in one call and one
        commit (ENQUEUE_GROUP); a job over its limit is its RateLimited, not the group's."""
        rows = await self.pool.fetch(
            q.ENQUEUE_GROUP, [j.user_id for j in group], [j.job_type for j in group],
            [j.payload for j in group], [j.priority for j in group],
            [j.request_hash for j in group], self.max_attempts, self.rate_limit, RATE_WINDOW_S,
        )
        outcomes: list[Enqueued | Exception] = []
        for job, row in zip(group, rows, strict=True):
            used = int(row["used"])
            try:
                self._refuse_if_full(job.job_type, used, row["reset_s"])
            except RateLimited as err:
                outcomes.append(err)
                continue
            outcomes.append(Enqueued(job=Job.from_row(row), created=True,
                                     rate=self._rate_after_insert(used, row["reset_s"])))
        return outcomes

    def _refuse_if_full(self, job_type: str, used: int, reset_s: Any) -> None:
        if used >= self.rate_limit:
            retry_after = max(1, math.ceil(float(reset_s or 1)))
            raise RateLimited(
                rate_limit_message(job_type, self.rate_limit, retry_after),
                job_type=job_type,
                limit=self.rate_limit,
                reset_s=retry_after,
                retry_after_s=retry_after,
            )

    def _rate_after_insert(self, used: int, reset_s: Any) -> RateInfo:
        reset = math.ceil(float(reset_s)) if reset_s else RATE_WINDOW_S
        return RateInfo(self.rate_limit, self.rate_limit - used - 1, max(reset, 1))

    async def _replay(
        self, conn: asyncpg.Connection, user_id: UUID, key: str, request_hash: bytes
    ) -> Enqueued | None:
        row = await conn.fetchrow(q.JOB_BY_IDEMPOTENCY_KEY, user_id, key)
        if row is None:
            return None
        if bytes(row["request_hash"]) != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request."
            )
        return Enqueued(job=Job.from_row(row), created=False, rate=None)

    async def get(self, user_id: UUID, job_id: UUID) -> Job:
        return await self._reads.call((job_id, user_id))

    async def _read_group(
        self, keys: list[tuple[UUID, UUID]]
    ) -> list[Job | Exception]:
        """Each (job, user) of the group as that user's job, or NotFound; one key asked
        twice is read once."""
        if len(keys) == 1:
            row = await self.pool.fetchrow(q.JOB_FOR_USER, *keys[0])
            rows = [row] if row is not None else []
        else:
            distinct = list(dict.fromkeys(keys))
            rows = await self.pool.fetch(
                q.JOBS_FOR_USERS, [k[0] for k in distinct], [k[1] for k in distinct]
            )
        found = {(row["id"], row["user_id"]): Job.from_row(row) for row in rows}
        return [found[key] if key in found else NotFound("No such job.") for key in keys]

    async def page(
        self,
        user_id: UUID,
        *,
        status: str | None,
        job_type: str | None,
        limit: int,
        before: tuple[Any, UUID] | None,
    ) -> list[Job]:
        before_at, before_id = before if before else (None, None)
        rows = await self.pool.fetch(
            q.LIST_JOBS, user_id, status, job_type, before_at, before_id, limit
        )
        return [Job.from_row(row) for row in rows]

    async def changed_since(
        self, user_id: UUID, version: int, job_id: UUID | None = None
    ) -> list[Job]:
        """At most CHANGES_PAGE jobs, oldest change first: a full page means there may be more."""
        rows = await self.pool.fetch(q.JOBS_CHANGED_SINCE, user_id, version, job_id)
        return [Job.from_row(row) for row in rows]

    async def latest_version(self, user_id: UUID) -> int:
        """The newest version among the user's jobs (0 if none)."""
        return int(await self.pool.fetchval(q.LATEST_VERSION, user_id))

    async def recent(self, user_id: UUID, limit: int) -> list[Job]:
        """The user's most recently changed jobs, oldest change first."""
        rows = await self.pool.fetch(q.RECENT_JOBS_BY_VERSION, user_id, limit)
        return [Job.from_row(row) for row in rows]

    async def cancel(self, user_id: UUID, job_id: UUID) -> Job:
        """Pending → cancelled at once; processing → cancel_requested (the worker is told by
        the NOTIFY the update fires, and by its next heartbeat if that NOTIFY is missed).
        One statement, so a job caught moving between the two states is never a false 409."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(q.CANCEL, job_id, user_id)
            if row is not None:
                return Job.from_row(row)
            current = await conn.fetchrow(q.JOB_FOR_USER, job_id, user_id)
        if current is None:
            raise NotFound("No such job.")
        raise AlreadyFinished(
            f"The job is already {status_words(current['status'])}.", status=current["status"]
        )

    async def retry(self, user_id: UUID, job_id: UUID) -> Enqueued:
        """A failed or cancelled job is retried as a new job (retryOf), counted like any
        user-created job: a retry button must not be a way around the rate limit.

        A job is retried at most once: the original row is locked for the transaction, so of
        two concurrent retries (a double click, two tabs) one creates the job and the other,
        like any later retry of the same job, gets that job back as a replay (200, no quota).
        """
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.LOCK_JOB_FOR_USER, job_id, user_id)
            if row is None:
                raise NotFound("No such job.")
            old = Job.from_row(row)
            if old.status not in RETRYABLE_BY_USER:
                raise NotRetryable(
                    "Only failed or cancelled jobs can be retried; this one is "
                    f"{status_words(old.status)}.",
                    status=old.status,
                )
            earlier = await conn.fetchrow(q.RETRY_OF, user_id, job_id)
            if earlier is not None:
                return Enqueued(job=Job.from_row(earlier), created=False, rate=None)
            return await self._enqueue_in(
                conn, user_id, old.type, old.payload, priority=old.priority,
                idempotency_key=None,
                request_hash=_request_hash(old.type, old.payload, old.priority),
                retry_of=old.id,
            )

    # -------------------------------------------------------------- worker side

    async def claim(self, worker_id: str, job_types: list[str]) -> ClaimedJob | None:
        jobs = await self.claim_batch(worker_id, job_types, 1)
        return jobs[0] if jobs else None

    async def claim_batch(
        self, worker_id: str, job_types: list[str], limit: int
    ) -> list[ClaimedJob]:
        """Up to ``limit`` runnable jobs, highest priority then oldest first, with no user
        over the per-user cap, in one round trip (see CLAIM)."""
        rows = await self.pool.fetch(
            q.CLAIM, job_types, self.user_concurrency, limit, worker_id, self.lease_s
        )
        rows = sorted(rows, key=lambda r: (-r["priority"], r["run_at"], r["id"]))
        return [
            ClaimedJob(
                id=row["id"], user_id=row["user_id"], type=row["type"], payload=row["payload"],
                attempts=row["attempts"], max_attempts=row["max_attempts"],
                cancel_requested=row["cancel_requested"],
            )
            for row in rows
        ]

    async def seconds_until_next_run(self) -> float | None:
        value = await self.pool.fetchval(q.NEXT_RUN_AT)
        return None if value is None else max(float(value), 0.0)

    async def heartbeat(
        self, worker_id: str, job_ids: list[UUID], attempts: list[int] | None = None
    ) -> dict[UUID, bool]:
        """Extend the leases of this process's jobs; returns {job id: cancel requested} for
        the jobs it still holds (a job missing from the answer was lost to the reaper).
        With ``attempts`` (one per job id) a lease is renewed only for that very attempt."""
        if not job_ids:
            return {}
        fence: list[int | None] = list(attempts) if attempts is not None else [None] * len(job_ids)
        rows = await self.pool.fetch(q.HEARTBEAT, worker_id, self.lease_s, job_ids, fence)
        return {row["id"]: row["cancel_requested"] for row in rows}

    async def report_progress(
        self, job: ClaimedJob, worker_id: str, progress: dict[str, Any]
    ) -> bool:
        row = await self.pool.fetchrow(
            q.REPORT_PROGRESS, job.id, worker_id, job.attempts, progress
        )
        return row is not None

    async def complete(
        self,
        job: ClaimedJob,
        worker_id: str,
        outcome: Outcome,
        *,
        provider: str,
        usage: dict[str, Any] | None,
    ) -> Settled:
        """Write the outcome's rows and mark the job completed, atomically and fenced.

        Returns None, having written nothing, when this worker no longer holds the job
        (its lease expired and the job was reaped, re-claimed or cancelled).
        """
        async with self.pool.acquire() as conn, conn.transaction():
            rows, result = write_outcome(job.id, job.user_id, outcome, provider=provider)
            done = await conn.fetchrow(
                q.COMPLETE_JOB, job.id, worker_id, job.attempts, result, usage
            )
            if done is None:
                return None  # nothing was written; the successor owns the job
            for statement, args in rows:
                await conn.execute(statement, *args)
            return JobStatus.COMPLETED

    def prepare_completion(
        self,
        job: ClaimedJob,
        outcome: Outcome,
        *,
        provider: str,
        usage: dict[str, Any] | None,
    ) -> PreparedCompletion:
        statements, result = write_outcome(job.id, job.user_id, outcome, provider=provider)
        return PreparedCompletion(job, statements, result, usage)

    async def complete_many(
        self, worker_id: str, batch: list[PreparedCompletion]
    ) -> list[Settled]:
        """Complete several jobs in one transaction (a group commit: one commit, one round of
        NOTIFYs, for many jobs). Each job's fence is checked on its own; a job that fails it
        writes none of its rows and answers None, the others complete."""
        if not batch:
            return []
        args = (
            [c.job.id for c in batch], [c.job.attempts for c in batch], worker_id,
            [c.result for c in batch], [c.usage for c in batch],
        )
        if not any(c.statements for c in batch):
            # nothing else to write: the call is the whole transaction, one round trip
            held = {r["id"] for r in await self.pool.fetch(q.COMPLETE_BATCH, *args)}
        else:
            async with self.pool.acquire() as conn, conn.transaction():
                held = {r["id"] for r in await conn.fetch(q.COMPLETE_BATCH, *args)}
                for sql, rows in _in_stages([c.statements for c in batch if c.job.id in held]):
                    await conn.executemany(sql, rows)
        return [JobStatus.COMPLETED if c.job.id in held else None for c in batch]

    async def requeue(
        self,
        job: ClaimedJob,
        worker_id: str,
        error: str,
        *,
        retry_after_s: float | None = None,
        usage: dict[str, Any] | None = None,
    ) -> Settled:
        """A retryable failure: back to pending after a backoff, or failed when the attempts
        are used up."""
        if not job.attempts_left:
            ended = error if error.endswith((".", "!", "?")) else f"{error}."
            message = f"{ended} We gave up after {job.attempts} attempts."
            return await self.fail(job, worker_id, message, usage)
        delay = backoff_s(
            job.attempts, base_s=self.retry_base_s, cap_s=self.retry_max_s,
            retry_after_s=retry_after_s,
        )
        row = await self.pool.fetchrow(
            q.REQUEUE_JOB, job.id, worker_id, job.attempts, error, delay, usage
        )
        return JobStatus.PENDING if row is not None else None

    async def fail(
        self, job: ClaimedJob, worker_id: str, error: str, usage: dict[str, Any] | None = None
    ) -> Settled:
        row = await self.pool.fetchrow(q.FAIL_JOB, job.id, worker_id, job.attempts, error, usage)
        return JobStatus.FAILED if row is not None else None

    async def release(self, job: ClaimedJob, worker_id: str) -> Settled:
        """Shutdown: hand the job back without charging the attempt."""
        row = await self.pool.fetchrow(q.RELEASE_JOB, job.id, worker_id, job.attempts)
        return JobStatus.PENDING if row is not None else None

    async def release_all(self, worker_id: str) -> int:
        """Shutdown, last step: hand back, uncharged, every job this worker still holds."""
        return len(await self.pool.fetch(q.RELEASE_ALL_OF_WORKER, worker_id))

    async def mark_cancelled(self, job: ClaimedJob, worker_id: str) -> Settled:
        row = await self.pool.fetchrow(q.CANCEL_RUNNING_JOB, job.id, worker_id, job.attempts)
        return JobStatus.CANCELLED if row is not None else None

    async def reap(self) -> list[tuple[UUID, str]]:
        """Jobs whose lease expired go back to pending (with backoff) or fail when their
        attempts are used up. Compare-and-set: safe to run in every process at once."""
        async with self.pool.acquire() as conn, conn.transaction():
            picked = await conn.fetch(q.REAP_PICK)
            if not picked:
                return []
            rows = await conn.fetch(
                q.REAP_EXPIRED, [r["id"] for r in picked], self.retry_base_s, self.retry_max_s
            )
        return [(row["id"], row["status"]) for row in rows]

    async def prune(self, retention_days: int) -> int:
        """Delete finished jobs older than the retention period, in small batches."""
        total = 0
        while True:
            status = await self.pool.execute(q.PRUNE_FINISHED, retention_days)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < 1000:
                return total
