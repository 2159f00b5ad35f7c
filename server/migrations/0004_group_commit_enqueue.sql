-- Enqueue in groups (issue 10): every insert notifies (background_jobs_notify), and PostgreSQL
-- serialises the commits of notifying transactions server-wide, each holding the notify lock
-- across its own WAL flush. One enqueue per transaction was one flush per job, in series:
-- POST /api/jobs stalled at about one job per fsync with its backends waiting on that lock
-- (pg_stat_activity: Lock/object, IO/WALSync). The engine sends whatever was enqueued while
-- the previous group was being written as one call, one transaction, one flush.
--
-- Each job is decided as cardforge_enqueue (0003) decides one, in the given order: the window
-- is counted in a new statement, so it sees every enqueue committed before the locks and the
-- jobs this call has already inserted; the limit stays exact within the group and across
-- processes.
--
-- Lock order (server/queue/queries.py): the (user, type) rate locks in (user, type) order,
-- then the version trigger's per-user locks in user_id order, before any row is written, so
-- two groups never take two users' locks in opposite orders; a single enqueue takes one of
-- each in the same order.
--
-- Answers one row per job, n its 1-based position: the window's figures before it, and the
-- inserted job, or a NULL job when its window was full.
CREATE FUNCTION cardforge_enqueue_group(
    job_users uuid[], job_types text[], job_payloads jsonb[], job_priorities smallint[],
    job_request_hashes bytea[], job_max_attempts integer, rate_limit integer, window_s integer
) RETURNS TABLE (n integer, used bigint, reset_s numeric, job background_jobs)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM count(pg_advisory_xact_lock(
        hashtextextended(ordered.user_id::text || ':' || ordered.type, 1)))
    FROM (SELECT DISTINCT u AS user_id, t AS type FROM unnest(job_users, job_types) AS k(u, t)
          ORDER BY 1, 2) ordered;
    PERFORM count(pg_advisory_xact_lock(
        hashtextextended('cardforge:job-version:' || ordered.user_id::text, 0)))
    FROM (SELECT DISTINCT unnest(job_users) AS user_id ORDER BY 1) ordered;
    FOR i IN 1 .. cardinality(job_users) LOOP
        n := i;
        job := NULL;
        -- a new statement: a snapshot taken after the locks, with this call's inserts
        SELECT count(*),
               extract(epoch FROM min(w.created_at) + make_interval(secs => window_s) - now())
        INTO used, reset_s
        FROM background_jobs w
        WHERE w.user_id = job_users[i] AND w.type = job_types[i]
          AND w.created_at > now() - make_interval(secs => window_s);
        IF used < rate_limit THEN
            INSERT INTO background_jobs
                (user_id, type, payload, priority, max_attempts, request_hash)
            VALUES (job_users[i], job_types[i], job_payloads[i], job_priorities[i],
                    job_max_attempts, job_request_hashes[i])
            RETURNING * INTO job;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
