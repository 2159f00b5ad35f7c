"""Every SQL statement that reads or writes ``background_jobs``, named. ``server.queue.engine``
is the only caller: read this module to know what the queue does to the database."""

from __future__ import annotations

from server.queue.jobs import JOB_COLUMNS

# ------------------------------------------------------------------ enqueue

# Serialises enqueues of one (user, type) across every process, so that the count below
# cannot be raced: the rate limit is exact, not approximately right.
RATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 1))"

# $3 is the window in seconds (server.queue.engine.RATE_WINDOW_S): one constant, not a
# literal repeated here and in the engine's arithmetic.
RATE_WINDOW = """
SELECT count(*) AS used,
       extract(epoch FROM min(created_at) + make_interval(secs => $3) - now()) AS reset_s
FROM background_jobs
WHERE user_id = $1 AND type = $2 AND created_at > now() - make_interval(secs => $3)
"""

JOB_BY_IDEMPOTENCY_KEY = f"""
SELECT {JOB_COLUMNS}, request_hash FROM background_jobs
WHERE user_id = $1 AND idempotency_key = $2
"""

INSERT_JOB = f"""
INSERT INTO background_jobs
    (user_id, type, payload, priority, max_attempts, retry_of, idempotency_key, request_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING {JOB_COLUMNS}
"""

# A job without an Idempotency-Key in one round trip (cardforge_enqueue, migration 0003):
# RATE_LOCK's lock, the RATE_WINDOW count under it, and INSERT_JOB if the window has room.
# One row: used and reset_s as RATE_WINDOW answers them, then the job's JOB_COLUMNS, all NULL
# when the window was full. $8 is the limit, $9 the window in seconds (RATE_WINDOW_S).
ENQUEUE = f"""
SELECT e.used, e.reset_s, {JOB_COLUMNS}
FROM cardforge_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9) e, LATERAL (SELECT (e.job).*) j
"""

# Many jobs without an Idempotency-Key in one call and one commit (cardforge_enqueue_group,
# migration 0004): each decided as ENQUEUE decides one, in order. One row per job, n its
# 1-based position, shaped as ENQUEUE's. $6 max_attempts, $7 the limit, $8 RATE_WINDOW_S.
ENQUEUE_GROUP = f"""
SELECT e.n, e.used, e.reset_s, {JOB_COLUMNS}
FROM cardforge_enqueue_group($1, $2, $3, $4, $5, $6, $7, $8) e, LATERAL (SELECT (e.job).*) j
ORDER BY e.n
"""

# ------------------------------------------------------------------ worker side

# Every statement that changes jobs of several users in one transaction (claim, reaper, a
# batch of completions; the first and last in migration 0002's functions) first locks its
# rows, then takes the version trigger's per-user lock (schema.sql,
# background_jobs_bump_version) for each of their users, in user_id order, before any row is
# changed. Row by row, the trigger would take them in scan order, and two such
# statements taking two users' locks in opposite orders deadlock (seen with two reapers).
# Single-row writers take the row, then their one user's lock, and wait for nothing after it.
# Enqueues take the (user, type) rate lock (RATE_LOCK) first; a group of them
# (ENQUEUE_GROUP) takes all its rate locks in (user, type) order, then all its users' locks.
USER_LOCK_KEY = "hashtextextended('cardforge:job-version:' || {col}::text, 0)"
LOCK_USERS = f"""
SELECT count(pg_advisory_xact_lock({USER_LOCK_KEY.format(col="user_id")})) AS n
FROM (SELECT DISTINCT user_id FROM picked ORDER BY user_id) ordered
"""

# Claim: up to $3 runnable jobs, highest priority then oldest, no user past the cap $2, in one
# round trip (cardforge_claim, server/migrations/0002: pick and lock the rows, take their
# users' locks in order, then count and write in a fresh snapshot, so the cap is exact).
CLAIM = "SELECT * FROM cardforge_claim($1::text[], $2, $3, $4, $5)"

# When idle, sleep until the next job that will become runnable by the clock. Jobs already due
# but held back by the per-user cap are left out: they become claimable when one of that
# user's jobs finishes, which every process hears about (its job event wakes the claimer).
# Counting them made idle workers poll in a tight loop.
NEXT_RUN_AT = """
SELECT extract(epoch FROM min(run_at) - now()) FROM background_jobs
WHERE status = 'pending' AND run_at > now()
"""

# One statement per tick for all of a process's in-flight jobs, fenced on each job's attempt
# (a NULL attempt: on the worker only): a stale attempt of a job this process claimed again
# must not keep renewing the new attempt's lease. Rows are locked in id order, as a batch of
# completions locks them, so the two never deadlock. Returns the rows still held, with the
# cancellation flag in case that NOTIFY was missed while the listener was down.
HEARTBEAT = """
UPDATE background_jobs SET locked_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT j.id FROM background_jobs j
    JOIN unnest($3::uuid[], $4::int[]) AS h(id, attempt) ON j.id = h.id
    WHERE j.worker_id = $1 AND j.status = 'processing'
      AND (h.attempt IS NULL OR j.attempts = h.attempt)
    ORDER BY j.id
    FOR UPDATE OF j
)
RETURNING id, cancel_requested
"""

# The fence: only the worker holding this attempt's lease may finish the job.
FENCE = "status = 'processing' AND id = $1 AND worker_id = $2 AND attempts = $3"

COMPLETE_JOB = f"""
UPDATE background_jobs SET
    status = 'completed', result = $4, usage = $5, error = NULL, completed_at = now(),
    worker_id = NULL, locked_until = NULL
WHERE {FENCE}
RETURNING id
"""

# A batch of completions, each fenced on its attempt (cardforge_complete, migration 0002):
# answers the jobs that passed their fence, now completed; the others are left untouched.
# Rows a job leaves behind are written after this call, in its transaction, for the
# answered jobs only.
COMPLETE_BATCH = "SELECT id FROM cardforge_complete($1::uuid[], $2::int[], $3, $4, $5)"

# Progress commits without waiting for its WAL flush: a NOTIFYing commit holds PostgreSQL's
# server-wide notify lock until its flush is done, so a thousand jobs reporting progress at
# once queued one fsync (~3 ms here) each behind one another. A database crash can only lose
# a progress note that the completion or the next note replaces anyway.
REPORT_PROGRESS = f"""
UPDATE background_jobs SET progress = $4
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit(setting)
WHERE {FENCE}
RETURNING id
"""

REQUEUE_JOB = f"""
UPDATE background_jobs SET
    status = 'pending', error = $4, usage = coalesce($6, usage),
    run_at = now() + make_interval(secs => $5), worker_id = NULL, locked_until = NULL
WHERE {FENCE}
RETURNING id
"""

# Shutdown: the job did not fail, the process is leaving. Give the attempt back.
RELEASE_JOB = f"""
UPDATE background_jobs SET
    status = 'pending', attempts = attempts - 1, run_at = now(),
    worker_id = NULL, locked_until = NULL
WHERE {FENCE}
RETURNING id
"""

# Shutdown, last step: anything still held by this process (a claim that committed as it was
# cut off at the end of the grace period, a release that failed) goes back uncharged.
RELEASE_ALL_OF_WORKER = """
UPDATE background_jobs SET
    status = 'pending', attempts = attempts - 1, run_at = now(),
    worker_id = NULL, locked_until = NULL
WHERE id IN (
    SELECT id FROM background_jobs WHERE worker_id = $1 AND status = 'processing'
    ORDER BY id FOR UPDATE
)
RETURNING id
"""

FAIL_JOB = f"""
UPDATE background_jobs SET
    status = 'failed', error = $4, usage = coalesce($5, usage), completed_at = now(),
    worker_id = NULL, locked_until = NULL
WHERE {FENCE}
RETURNING id
"""

CANCEL_RUNNING_JOB = f"""
UPDATE background_jobs SET
    status = 'cancelled', error = 'Cancelled by the user.', completed_at = now(),
    worker_id = NULL, locked_until = NULL
WHERE {FENCE}
RETURNING id
"""

# The reaper's compare-and-set, in two statements of one transaction: pick the expired rows
# (skipping rows a heartbeat or a finishing worker holds) and take their users' locks in
# order, then change them. A heartbeat that lands first wins; two reapers never both act.
REAP_PICK = f"""
WITH picked AS (
    SELECT id, user_id FROM background_jobs
    WHERE status = 'processing' AND locked_until < now()
    ORDER BY id
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
), locked AS ({LOCK_USERS})
SELECT picked.id FROM picked, locked
"""

REAP_EXPIRED = """
UPDATE background_jobs SET
    status = CASE
        WHEN cancel_requested THEN 'cancelled'
        WHEN attempts >= max_attempts THEN 'failed'
        ELSE 'pending' END,
    error = CASE
        WHEN cancel_requested THEN 'Cancelled by the user.'
        WHEN attempts >= max_attempts
            THEN 'The server working on this stopped unexpectedly; we gave up after '
                || attempts || CASE WHEN attempts = 1 THEN ' attempt.' ELSE ' attempts.' END
        ELSE 'The server working on this stopped unexpectedly.' END,
    completed_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN now() END,
    run_at = now() + make_interval(secs => random() * least($3, $2 * power(2, attempts - 1))),
    worker_id = NULL, locked_until = NULL
WHERE id = ANY($1::uuid[]) AND status = 'processing' AND locked_until < now()
RETURNING id, status
"""

PRUNE_FINISHED = """
DELETE FROM background_jobs WHERE id IN (
    SELECT id FROM background_jobs
    WHERE completed_at < now() - make_interval(days => $1)
    LIMIT 1000
)
"""

# ------------------------------------------------------------------ user side

JOB_FOR_USER = f"SELECT {JOB_COLUMNS} FROM background_jobs WHERE id = $1 AND user_id = $2"

# JOB_FOR_USER for many (id, user_id) pairs at once, $1 the ids and $2 their users; a pair
# that names no job of that user has no row
JOBS_FOR_USERS = f"""
SELECT {JOB_COLUMNS} FROM background_jobs
WHERE (id, user_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
"""

LIST_JOBS = f"""
SELECT {JOB_COLUMNS} FROM background_jobs
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR type = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $6
"""

CHANGES_PAGE = 500  # a stream catches up in pages; a full page means "read again"

JOBS_CHANGED_SINCE = f"""
SELECT {JOB_COLUMNS} FROM background_jobs
WHERE user_id = $1 AND version > $2 AND ($3::uuid IS NULL OR id = $3)
ORDER BY version
LIMIT {CHANGES_PAGE}
"""

# Where a process's SSE feed of one user starts (index background_jobs_user_version_idx).
LATEST_VERSION = "SELECT coalesce(max(version), 0) FROM background_jobs WHERE user_id = $1"

RECENT_JOBS_BY_VERSION = f"""
SELECT * FROM (
    SELECT {JOB_COLUMNS} FROM background_jobs WHERE user_id = $1 ORDER BY version DESC LIMIT $2
) recent ORDER BY version
"""

# One statement for both cases, so a job moving between processing and pending while the
# cancel waits for its row is judged by its state after that move: with two statements (the
# pending case, then the processing case) a job requeued in between matched neither and the
# user got a false 409 while the job ran on.
CANCEL = f"""
UPDATE background_jobs SET
    status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
    error = CASE WHEN status = 'pending' THEN 'Cancelled by the user.' ELSE error END,
    completed_at = CASE WHEN status = 'pending' THEN now() ELSE completed_at END,
    cancel_requested = (status = 'processing') OR cancel_requested
WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'processing')
RETURNING {JOB_COLUMNS}
"""

# Retry: the original row is locked for the retry's transaction, so two concurrent retries of
# one failed job are serialised and the second finds the first one's job.
LOCK_JOB_FOR_USER = f"""
SELECT {JOB_COLUMNS} FROM background_jobs WHERE id = $1 AND user_id = $2 FOR UPDATE
"""

RETRY_OF = f"""
SELECT {JOB_COLUMNS} FROM background_jobs WHERE user_id = $1 AND retry_of = $2
ORDER BY created_at LIMIT 1
"""
