"""Every SQL statement of cardforge, named. Callers speak in verbs (server.queue, server.library,
server.auth); this module is the one place to read when asking "what does it do to the DB?"."""

from __future__ import annotations

from server.jobs import JOB_COLUMNS

# ------------------------------------------------------------------ schema

MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('cardforge:migrate', 0))"

# ------------------------------------------------------------------ users and sessions

CREATE_USER = "INSERT INTO users (name, token_hash, is_demo) VALUES ($1, $2, $3) RETURNING id"
USER_BY_TOKEN_HASH = "SELECT id, name, is_demo FROM users WHERE token_hash = $1"
FIRST_DEMO_USER = "SELECT id, name, is_demo FROM users WHERE is_demo ORDER BY created_at LIMIT 1"
SET_USER_TOKEN = "UPDATE users SET token_hash = $2 WHERE id = $1"
CREATE_SESSION = """
INSERT INTO sessions (id_hash, user_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
USER_BY_SESSION = """
SELECT u.id, u.name, u.is_demo FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id_hash = $1 AND s.expires_at > now()
"""
DELETE_SESSION = "DELETE FROM sessions WHERE id_hash = $1"
PRUNE_SESSIONS = "DELETE FROM sessions WHERE expires_at < now()"

# ------------------------------------------------------------------ enqueue

# Serialises enqueues of one (user, type) across every process, so that the count below
# cannot be raced: the rate limit is exact, not approximately right.
RATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 1))"

RATE_WINDOW = """
SELECT count(*) AS used,
       extract(epoch FROM min(created_at) + interval '1 hour' - now()) AS reset_s
FROM background_jobs
WHERE user_id = $1 AND type = $2 AND created_at > now() - interval '1 hour'
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

# ------------------------------------------------------------------ study material

INSERT_FLASHCARDS = """
INSERT INTO flashcards (id, user_id, job_id, question, answer, goal_id, node_id, message_id,
                        position)
SELECT u.id, $1, $2, u.question, u.answer, $3, $4, $5, u.position
FROM unnest($6::uuid[], $7::text[], $8::text[], $9::int[]) AS u(id, question, answer, position)
"""

INSERT_DISTRACTORS = """
INSERT INTO distractors (id, flashcard_id, job_id, text, position)
SELECT u.id, $1, $2, u.text, u.position
FROM unnest($3::uuid[], $4::text[], $5::int[]) AS u(id, text, position)
"""

INSERT_SKILL_TREE = """
INSERT INTO skill_trees (id, user_id, job_id, goal, description, depth, node_count)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

INSERT_SKILL_NODES = """
INSERT INTO skill_nodes (id, tree_id, parent_id, title, description, depth, position)
SELECT u.id, $1, u.parent_id, u.title, u.description, u.depth, u.position
FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::int[])
    AS u(id, parent_id, title, description, depth, position)
"""

FLASHCARD_COLUMNS = "id, job_id, question, answer, goal_id, node_id, message_id, created_at"

FLASHCARD_FOR_USER = f"SELECT {FLASHCARD_COLUMNS} FROM flashcards WHERE id = $1 AND user_id = $2"

FLASHCARD_SOURCE = """
SELECT f.id, f.question, f.answer, j.payload->>'content' AS source_text
FROM flashcards f LEFT JOIN background_jobs j ON j.id = f.job_id
WHERE f.id = $1 AND f.user_id = $2
"""

OTHER_ANSWERS = """
SELECT DISTINCT answer FROM (
    SELECT answer FROM flashcards WHERE user_id = $1 AND id <> $2
    ORDER BY created_at DESC LIMIT $3
) recent
"""

LIST_FLASHCARDS = f"""
SELECT {FLASHCARD_COLUMNS} FROM flashcards
WHERE user_id = $1 AND ($2::uuid IS NULL OR job_id = $2) AND ($3::uuid IS NULL OR goal_id = $3)
ORDER BY created_at DESC, job_id, position
LIMIT $4
"""

# A card may have been given answer choices more than once: show the newest set.
DISTRACTORS_FOR_CARD = """
SELECT id, text FROM distractors
WHERE flashcard_id = $1 AND job_id = (
    SELECT job_id FROM distractors WHERE flashcard_id = $1 ORDER BY created_at DESC LIMIT 1)
ORDER BY position
"""

SKILL_TREE_FOR_USER = """
SELECT id, job_id, goal, description, depth, node_count, created_at
FROM skill_trees WHERE id = $1 AND user_id = $2
"""

SKILL_NODES = """
SELECT id, parent_id, title, description, depth, position
FROM skill_nodes WHERE tree_id = $1 ORDER BY position
"""

LIST_SKILL_TREES = """
SELECT id, job_id, goal, description, depth, node_count, created_at
FROM skill_trees WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2
"""

# ------------------------------------------------------------------ health and metrics

PING = "SELECT 1"
QUEUE_DEPTH = "SELECT status, count(*) FROM background_jobs GROUP BY status"
