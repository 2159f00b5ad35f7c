-- The queue's two batch writes, claim and completion, as functions (issue 10): each was two
-- statements in an explicit transaction, four round trips (BEGIN, lock, write, COMMIT), and
-- the per-user version lock was held across all of them, so with one busy user every claim
-- and every completion of the process queued behind the previous one's network time. A
-- function call is one round trip; the locks are held only while the server works.
--
-- Both keep the two-step shape the guarantees need. Step 1 locks the rows, then takes the
-- version trigger's per-user locks (background_jobs_bump_version) in user_id order before any
-- row is changed, so two batch writers never take two users' locks in opposite orders.
-- Step 2 is a new statement: in a VOLATILE function under READ COMMITTED it gets a fresh
-- snapshot, taken after the locks, so the claim's count of a user's processing jobs sees
-- every claim of that user that committed before: the per-user cap stays exact across
-- processes.

-- Claim up to max_jobs runnable jobs (highest priority, then oldest), none of a user past
-- user_cap. Attempts are counted here, at claim, so a job that kills its worker still runs
-- out of attempts.
--
-- A claim commits without waiting for its WAL flush (synchronous_commit off for the claim's
-- own transaction: call it alone, not inside a larger one). The flush was half of a job's
-- fsyncs and ~3 ms of every pickup here, and losing a claim costs nothing: only a crash of
-- the database server itself can lose it, within a fraction of a second, and then the job is
-- pending again as if never claimed, its attempt uncounted. Nothing a job writes depends on
-- it being durable: every result is written by a fenced, synchronous completion, whose flush
-- also flushes the claim before it (WAL is flushed in order), and a completion fenced on a
-- lost claim finds the job pending and writes nothing.
CREATE FUNCTION cardforge_claim(
    job_types text[], user_cap integer, max_jobs integer, worker text,
    lease_s double precision
) RETURNS TABLE (
    id uuid, user_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
    cancel_requested boolean, priority smallint, run_at timestamptz
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    picked_ids uuid[];
    picked_users uuid[];
BEGIN
    -- step 1: users at the cap are skipped by a snapshot count; the exact count is step 2's
    WITH picked AS (
        SELECT c.id, c.user_id FROM background_jobs c
        WHERE c.status = 'pending' AND c.run_at <= now() AND c.type = ANY(job_types)
          AND c.user_id NOT IN (
              SELECT p.user_id FROM background_jobs p WHERE p.status = 'processing'
              GROUP BY p.user_id HAVING count(*) >= user_cap)
        ORDER BY c.priority DESC, c.run_at, c.id
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    )
    SELECT array_agg(picked.id), array_agg(picked.user_id) INTO picked_ids, picked_users
    FROM picked;
    IF picked_ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM count(pg_advisory_xact_lock(
        hashtextextended('cardforge:job-version:' || ordered.user_id::text, 0)))
    FROM (SELECT DISTINCT unnest(picked_users) AS user_id ORDER BY 1) ordered;
    -- step 2: a fresh snapshot, after the locks
    RETURN QUERY
    WITH room AS (
        SELECT u.user_id, user_cap - count(p.id) AS free
        FROM (SELECT DISTINCT unnest(picked_users) AS user_id) u
        LEFT JOIN background_jobs p ON p.user_id = u.user_id AND p.status = 'processing'
        GROUP BY u.user_id
    ), ranked AS (
        SELECT c.id, c.user_id,
               row_number() OVER (PARTITION BY c.user_id
                                  ORDER BY c.priority DESC, c.run_at, c.id) AS n
        FROM background_jobs c WHERE c.id = ANY(picked_ids)
    ), taken AS (
UPDATE background_jobs j SET
        status = 'processing', attempts = j.attempts + 1, worker_id = worker,
        locked_until = now() + make_interval(secs => lease_s),
        started_at = coalesce(j.started_at, now())
    FROM ranked r JOIN room ON room.user_id = r.user_id
    WHERE j.id = r.id AND r.n <= room.free
    RETURNING j.id, j.user_id, j.type, j.payload, j.attempts, j.max_attempts,
              j.cancel_requested, j.priority, j.run_at
    )
    SELECT * FROM taken;
END $$;

-- Complete a batch of attempts, each fenced on (status, worker, attempt): a job whose fence
-- fails is left as it is and missing from the answer. A caller with rows to write for the
-- jobs calls this first, in its own transaction, and writes the rows of the answered jobs
-- only; without rows, the call alone is the whole transaction.
CREATE FUNCTION cardforge_complete(
    job_ids uuid[], job_attempts integer[], worker text, results jsonb[], usages jsonb[]
) RETURNS TABLE (id uuid) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    held uuid[];
    held_users uuid[];
BEGIN
    -- step 1: lock the rows whose fence holds, in id order (as the heartbeat locks them),
    -- then their users' locks in order
    WITH picked AS (
        SELECT j.id, j.user_id FROM background_jobs j
        JOIN unnest(job_ids, job_attempts) AS f(id, attempt) ON j.id = f.id
        WHERE j.status = 'processing' AND j.worker_id = worker AND j.attempts = f.attempt
        ORDER BY j.id
        FOR UPDATE OF j
    )
    SELECT array_agg(picked.id), array_agg(picked.user_id) INTO held, held_users FROM picked;
    IF held IS NULL THEN
        RETURN;
    END IF;
    PERFORM count(pg_advisory_xact_lock(
        hashtextextended('cardforge:job-version:' || ordered.user_id::text, 0)))
    FROM (SELECT DISTINCT unnest(held_users) AS user_id ORDER BY 1) ordered;
    -- step 2: the rows are locked, nothing changed since the fence
    RETURN QUERY
    WITH done AS (
UPDATE background_jobs j SET
        status = 'completed', result = c.result, usage = c.usage, error = NULL,
        completed_at = now(), worker_id = NULL, locked_until = NULL
    FROM unnest(job_ids, results, usages) AS c(id, result, usage)
    WHERE j.id = c.id AND j.id = ANY(held)
    RETURNING j.id
    )
    SELECT done.id FROM done;
END $$;
