"""The hot queries use the indexes schema.sql creates for them (checked with EXPLAIN on a
table with enough rows and fresh statistics that a sequential scan would be the planner's
choice if an index were missing or unusable)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from server.queue import queries as q
from server.queue.engine import RATE_WINDOW_S
from server.store.users import create_user


@pytest.fixture
async def loaded(db: asyncpg.Pool) -> uuid.UUID:
    users = [(await create_user(db, f"u{i}"))[0].id for i in range(20)]
    await db.execute(
        """INSERT INTO background_jobs (user_id, type, payload, max_attempts, status,
                                        completed_at, worker_id, locked_until)
           SELECT ($1::uuid[])[1 + g % 20], 'flashcard_generation', '{"content": "x"}', 3,
                  s.status,
                  CASE WHEN s.status = 'completed' THEN now() END,
                  CASE WHEN s.status = 'processing' THEN 'w' END,
                  CASE WHEN s.status = 'processing' THEN now() + interval '30 s' END
           FROM generate_series(1, 20000) g,
                LATERAL (SELECT CASE WHEN g % 10 = 0 THEN 'pending'
                                     WHEN g % 10 = 1 THEN 'processing'
                                     ELSE 'completed' END AS status) s""",
        users,
    )
    await db.execute("VACUUM ANALYZE background_jobs")  # the steady state autovacuum keeps
    return users[0]


async def plan(db: asyncpg.Pool, sql: str, *args: object) -> str:
    rows = await db.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def index_scans(conn: asyncpg.Connection) -> dict[str, int]:
    """Index scans of background_jobs so far, as the statistics system counts them."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = await conn.fetch(
        "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes "
        "WHERE relname = 'background_jobs'")
    return {r["indexrelname"]: r["idx_scan"] for r in rows}


async def test_claim_uses_the_partial_pending_index(db: asyncpg.Pool, loaded: uuid.UUID) -> None:
    """The claim is a function (migration 0002), whose statements EXPLAIN cannot show: the
    indexes it used are read from the statistics instead, around one real claim."""
    async with db.acquire() as conn:
        before = await index_scans(conn)
        claimed = await conn.fetch(q.CLAIM, ["flashcard_generation"], 2, 100, "w", 30.0)
        # this session's counts reach the shared statistics when it next goes idle
        await conn.execute("SELECT pg_stat_force_next_flush()")
        after = await index_scans(conn)
    assert claimed
    used = {name for name, scans in after.items() if scans > before.get(name, 0)}
    assert "background_jobs_claim_idx" in used
    assert "background_jobs_pkey" in used  # step 2 takes the picked rows by id
    # the per-user counts read one of the partial indexes on processing rows
    assert used & {"background_jobs_processing_user_idx", "background_jobs_lease_idx"}


async def test_reaper_uses_the_lease_index(db: asyncpg.Pool, loaded: uuid.UUID) -> None:
    assert "background_jobs_lease_idx" in await plan(db, q.REAP_PICK)


async def test_rate_window_uses_the_rate_index(db: asyncpg.Pool, loaded: uuid.UUID) -> None:
    text = await plan(db, q.RATE_WINDOW, loaded, "flashcard_generation", RATE_WINDOW_S)
    assert "background_jobs_rate_idx" in text


async def test_listing_uses_the_user_list_index(db: asyncpg.Pool, loaded: uuid.UUID) -> None:
    text = await plan(db, q.LIST_JOBS, loaded, None, None, None, None, 20)
    assert "background_jobs_user_list_idx" in text


async def test_sse_catch_up_uses_the_version_index(db: asyncpg.Pool, loaded: uuid.UUID) -> None:
    text = await plan(db, q.JOBS_CHANGED_SINCE, loaded, 19_990, None)
    assert "background_jobs_user_version_idx" in text
