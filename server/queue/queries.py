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

# ------------------------------------------------------------------ worker side

# Attempts are counted here, at claim, so a job that kills its worker still runs out of
# attempts. The per-user cap keeps one user's burst from occupying every worker.
CLAIM_JOB = f"""
UPDATE background_jobs SET
    status = 'processing', attempts = attempts + 1, worker_id = $1,
    locked_until = now() + make_interval(secs => $2), started_at = coalesce(started_at, now())
WHERE id = (
    SELECT c.id FROM background_jobs c
    WHERE c.status = 'pending' AND c.run_at <= now() AND c.type = ANY($3::text[])
      AND (SELECT count(*) FROM background_jobs p
           WHERE p.user_id = c.user_id AND p.status = 'processing') < $4
    ORDER BY c.priority DESC, c.run_at, c.id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING {JOB_COLUMNS}
"""

NEXT_RUN_AT = """
SELECT extract(epoch FROM min(run_at) - now()) FROM background_jobs WHERE status = 'pending'
"""

# One statement per tick for all of a process's in-flight jobs; returns the ones whose
# cancellation was requested, in case that NOTIFY was missed while the listener was down.
HEARTBEAT = """
UPDATE background_jobs SET locked_until = now() + make_interval(secs => $2)
WHERE id = ANY($3::uuid[]) AND worker_id = $1 AND status = 'processing'
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

REPORT_PROGRESS = f"UPDATE background_jobs SET progress = $4 WHERE {FENCE} RETURNING id"

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

# The reaper's compare-and-set: only rows whose lease is still expired at update time are
# touched, so a heartbeat that lands first wins and two reapers never both act.
REAP_EXPIRED = """
UPDATE background_jobs SET
    status = CASE
        WHEN cancel_requested THEN 'cancelled'
        WHEN attempts >= max_attempts THEN 'failed'
        ELSE 'pending' END,
    error = CASE
        WHEN cancel_requested THEN 'Cancelled by the user.'
        WHEN attempts >= max_attempts
            THEN 'The worker running this job was lost ' || attempts || ' times; giving up.'
        ELSE 'The worker running this job was lost; retrying.' END,
    completed_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN now() END,
    run_at = now() + make_interval(secs => random() * least($2, $1 * power(2, attempts - 1))),
    worker_id = NULL, locked_until = NULL
WHERE id IN (
    SELECT id FROM background_jobs
    WHERE status = 'processing' AND locked_until < now()
    FOR UPDATE SKIP LOCKED
)
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

CANCEL_PENDING = f"""
UPDATE background_jobs SET
    status = 'cancelled', error = 'Cancelled by the user.', completed_at = now()
WHERE id = $1 AND user_id = $2 AND status = 'pending'
RETURNING {JOB_COLUMNS}
"""

REQUEST_CANCEL = f"""
UPDATE background_jobs SET cancel_requested = true
WHERE id = $1 AND user_id = $2 AND status = 'processing'
RETURNING {JOB_COLUMNS}
"""
