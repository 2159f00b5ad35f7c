-- Enqueue as a function (issue 10): a job without an Idempotency-Key was an explicit
-- transaction of five round trips (BEGIN, rate lock, window count, insert, COMMIT), and the
-- (user, type) rate lock and the version trigger's per-user lock were held across the network
-- time of all of them, so one user's enqueues queued behind one another's round trips. A
-- function call is one round trip; the locks are held only while the server works.
--
-- The rate limit stays exact: the function takes the same (user, type) advisory lock as
-- server/queue/queries.py RATE_LOCK (the idempotent path, which stays a transaction, takes it
-- there, so both paths serialise on one lock), then counts the window in a new statement. In
-- a VOLATILE function under READ COMMITTED that statement gets a fresh snapshot, taken after
-- the lock, so it sees every enqueue of the (user, type) that committed before: an advisory
-- lock is released after its transaction's commit is visible.
--
-- Lock order, as every single-row writer (server/queue/queries.py): the rate lock, then the
-- insert's row and its one user's version lock (background_jobs_bump_version), and nothing
-- waited for after it.
--
-- Answers one row: the window's figures as they were before this job (used, the seconds
-- until its oldest job leaves it, NULL for an empty window) and the inserted job, or a NULL
-- job when the window is full (nothing was written).
CREATE FUNCTION cardforge_enqueue(
    job_user uuid, job_type text, job_payload jsonb, job_priority smallint,
    job_max_attempts integer, job_retry_of uuid, job_request_hash bytea,
    rate_limit integer, window_s integer,
    OUT used bigint, OUT reset_s numeric, OUT job background_jobs
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(job_user::text || ':' || job_type, 1));
    -- a new statement: a snapshot taken after the lock
    SELECT count(*), extract(epoch FROM min(w.created_at) + make_interval(secs => window_s) - now())
    INTO used, reset_s
    FROM background_jobs w
    WHERE w.user_id = job_user AND w.type = job_type
      AND w.created_at > now() - make_interval(secs => window_s);
    IF used >= rate_limit THEN
        RETURN;
    END IF;
    INSERT INTO background_jobs
        (user_id, type, payload, priority, max_attempts, retry_of, request_hash)
    VALUES (job_user, job_type, job_payload, job_priority, job_max_attempts, job_retry_of,
            job_request_hash)
    RETURNING * INTO job;
END $$;
