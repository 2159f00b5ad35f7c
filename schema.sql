-- cardforge baseline schema: release 824352e, frozen. This is migration 0; every later
-- change is a numbered file in server/migrations/ (read those for the current schema).
-- Every statement is IF NOT EXISTS / CREATE OR REPLACE so that it adopts a database created
-- before migrations existed; it is applied once and recorded in schema_migrations, inside
-- the runner's transaction under an advisory lock. Do not edit its statements: a change
-- here would reach fresh installs only (tests/unit/test_migration_files.py refuses it).

CREATE TABLE IF NOT EXISTS users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash  bytea NOT NULL UNIQUE,          -- sha256 of the API token; the token is never stored
    is_demo     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions: the cookie carries a random id, the table its hash.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_idx ON sessions (expires_at);

-- Every job change bumps `version` from this one sequence, so versions are unique and
-- increase across all jobs: an SSE stream of many jobs can resume from one Last-Event-ID.
CREATE SEQUENCE IF NOT EXISTS job_version_seq;

CREATE TABLE IF NOT EXISTS background_jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type             text NOT NULL CHECK (type IN
                         ('flashcard_generation', 'distractor_generation', 'skill_tree_generation')),
    -- mirrors server.jobs.JobStatus; the state machine is written down there
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    payload          jsonb NOT NULL,
    result           jsonb,
    error            text,
    priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 10),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    progress         jsonb,
    retry_of         uuid,                       -- no FK: retention may prune the original
    cancel_requested boolean NOT NULL DEFAULT false,
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea,                      -- what an idempotent replay must match
    run_at           timestamptz NOT NULL DEFAULT now(),
    worker_id        text,
    locked_until     timestamptz,
    usage            jsonb,
    version          bigint NOT NULL DEFAULT 0,  -- drawn by background_jobs_bump_version
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    CHECK ((status = 'processing') = (worker_id IS NOT NULL AND locked_until IS NOT NULL)),
    CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL))
);

-- claim: the next runnable job by priority, then age
CREATE INDEX IF NOT EXISTS background_jobs_claim_idx
    ON background_jobs (priority DESC, run_at, id) WHERE status = 'pending';
-- reaper and heartbeat: expired leases; per-user processing cap
CREATE INDEX IF NOT EXISTS background_jobs_lease_idx
    ON background_jobs (locked_until) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS background_jobs_processing_user_idx
    ON background_jobs (user_id) WHERE status = 'processing';
-- rate limit (user, type, last hour) and the user's listing (newest first, cursor)
CREATE INDEX IF NOT EXISTS background_jobs_rate_idx
    ON background_jobs (user_id, type, created_at);
CREATE INDEX IF NOT EXISTS background_jobs_user_list_idx
    ON background_jobs (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX IF NOT EXISTS background_jobs_idempotency_idx
    ON background_jobs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- SSE: a user's jobs changed since a Last-Event-ID
CREATE INDEX IF NOT EXISTS background_jobs_user_version_idx
    ON background_jobs (user_id, version);
-- retention
CREATE INDEX IF NOT EXISTS background_jobs_finished_idx
    ON background_jobs (completed_at) WHERE completed_at IS NOT NULL;

-- Every visible change bumps the version and notifies listeners in the same transaction,
-- so no code path can change a job without its SSE subscribers hearing about it.
-- Heartbeats only move locked_until and stay silent.
-- A version is drawn when a row is written but seen only at commit: had two writers of one
-- user's jobs committed v+1 before v, a stream that read v+1 would skip v for good. A per-user
-- lock held from the draw to commit makes a user's versions commit in order (streams are per
-- user; other users' writers never wait).
CREATE OR REPLACE FUNCTION background_jobs_bump_version() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('cardforge:job-version:' || NEW.user_id, 0));
    NEW.version := nextval('job_version_seq');
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION background_jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('cardforge_job_events', json_build_object(
        'id', NEW.id, 'userId', NEW.user_id, 'version', NEW.version,
        'status', NEW.status, 'cancelRequested', NEW.cancel_requested)::text);
    IF NEW.status = 'pending' THEN
        PERFORM pg_notify('cardforge_work', '');
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;


CREATE OR REPLACE TRIGGER background_jobs_version BEFORE UPDATE ON background_jobs FOR EACH ROW
    WHEN ((OLD.status, OLD.progress, OLD.cancel_requested, OLD.error, OLD.result, OLD.attempts,
           OLD.run_at) IS DISTINCT FROM
          (NEW.status, NEW.progress, NEW.cancel_requested, NEW.error, NEW.result, NEW.attempts,
           NEW.run_at))
    EXECUTE FUNCTION background_jobs_bump_version();


CREATE OR REPLACE TRIGGER background_jobs_version_on_insert BEFORE INSERT ON background_jobs
    FOR EACH ROW EXECUTE FUNCTION background_jobs_bump_version();


CREATE OR REPLACE TRIGGER background_jobs_created AFTER INSERT ON background_jobs FOR EACH ROW
    EXECUTE FUNCTION background_jobs_notify();


CREATE OR REPLACE TRIGGER background_jobs_changed AFTER UPDATE ON background_jobs FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION background_jobs_notify();

CREATE TABLE IF NOT EXISTS flashcards (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id      uuid NOT NULL,                   -- no FK: cards outlive pruned jobs
    question    text NOT NULL CHECK (length(question) BETWEEN 1 AND 500),
    answer      text NOT NULL CHECK (length(answer) BETWEEN 1 AND 500),
    goal_id     uuid,
    node_id     uuid,
    message_id  text,
    position    integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, position)                    -- a job's cards are written once
);
CREATE INDEX IF NOT EXISTS flashcards_user_job_idx ON flashcards (user_id, job_id, position);
CREATE INDEX IF NOT EXISTS flashcards_user_created_idx ON flashcards (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS flashcards_user_goal_idx ON flashcards (user_id, goal_id)
    WHERE goal_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS distractors (
    id            uuid PRIMARY KEY,
    flashcard_id  uuid NOT NULL REFERENCES flashcards (id) ON DELETE CASCADE,
    job_id        uuid NOT NULL,
    text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    position      integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, position)
);
CREATE INDEX IF NOT EXISTS distractors_flashcard_idx ON distractors (flashcard_id, created_at);

CREATE TABLE IF NOT EXISTS skill_trees (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id       uuid NOT NULL UNIQUE,
    goal         text NOT NULL,
    description  text,
    depth        integer NOT NULL CHECK (depth BETWEEN 1 AND 5),
    node_count   integer NOT NULL CHECK (node_count >= 1),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS skill_trees_user_idx ON skill_trees (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS skill_nodes (
    id           uuid PRIMARY KEY,
    tree_id      uuid NOT NULL REFERENCES skill_trees (id) ON DELETE CASCADE,
    parent_id    uuid REFERENCES skill_nodes (id) ON DELETE CASCADE,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    depth        integer NOT NULL CHECK (depth >= 1),
    position     integer NOT NULL,
    CHECK ((parent_id IS NULL) = (depth = 1))
);
CREATE INDEX IF NOT EXISTS skill_nodes_tree_idx ON skill_nodes (tree_id, position);
CREATE UNIQUE INDEX IF NOT EXISTS skill_nodes_one_root_idx ON skill_nodes (tree_id)
    WHERE parent_id IS NULL;
