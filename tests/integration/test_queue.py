"""The queue engine against a real PostgreSQL: claims, fences, leases, retries, cancel."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest

from handlers.models import CardDraft, FlashcardDeck, PlainResult
from server.errors import RateLimited
from server.queue.engine import backoff_s
from server.queue.jobs import JobStatus
from server.store.users import create_user
from tests.support.jobs import ScriptedJobs, claim_one, make_queue, wait_for

TYPES = ["flashcard_generation"]


async def bulk_insert(pool: asyncpg.Pool, user_id: uuid.UUID, n: int) -> None:
    await pool.execute(
        """INSERT INTO background_jobs (user_id, type, payload, max_attempts)
           SELECT $1, 'flashcard_generation', jsonb_build_object('content', 'job ' || g), 3
           FROM generate_series(1, $2) g""",
        user_id, n,
    )


async def test_16_workers_handle_each_of_2000_jobs_exactly_once(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "bulk")
    await bulk_insert(db, user.id, 2000)
    queue = make_queue(db)
    handled: Counter[uuid.UUID] = Counter()

    async def worker(n: int) -> None:
        while (job := await queue.claim(f"w{n}", TYPES)) is not None:
            handled[job.id] += 1
            assert await queue.complete(
                job, f"w{n}", PlainResult(data={}), provider="test", usage=None
            )

    await asyncio.gather(*(worker(n) for n in range(16)))
    assert len(handled) == 2000
    assert set(handled.values()) == {1}
    counts = dict(await db.fetch("SELECT status, count(*) FROM background_jobs GROUP BY 1"))
    assert counts == {"completed": 2000}


async def test_claim_takes_higher_priority_first_then_oldest(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "p")
    queue = make_queue(db)
    low = await queue.enqueue(user.id, "flashcard_generation", {"content": "low"})
    high = await queue.enqueue(user.id, "flashcard_generation", {"content": "hi"}, priority=9)
    first = await queue.claim("w", TYPES)
    second = await queue.claim("w", TYPES)
    assert first is not None and second is not None
    assert (first.id, second.id) == (high.job.id, low.job.id)
    assert first.attempts == 1  # counted at claim


async def test_concurrent_enqueues_commit_as_one_group_within_each_users_limit(
    db: asyncpg.Pool,
) -> None:
    """Notifying commits are serialised server-wide, each across its WAL flush: enqueues made
    together are one transaction, and each job is still counted against its own window."""
    alice, _ = await create_user(db, "alice")
    bob, _ = await create_user(db, "bob")
    queue = make_queue(db, rate_limit=3)
    outcomes = await asyncio.gather(
        *(queue.enqueue(user.id, "flashcard_generation", {"content": f"c{i}"}, priority=i % 3)
          for i in range(5) for user in (alice, bob)),
        return_exceptions=True,
    )
    created = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(created) == 6 and len(refused) == 4
    assert sorted(o.rate.remaining for o in created if o.rate is not None) == [0, 0, 1, 1, 2, 2]
    assert all(o.limit == 3 and o.retry_after_s >= 1 for o in refused)
    assert {o.job.priority for o in created} == {0, 1, 2}
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM background_jobs") == 1
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 6


async def test_reads_made_together_each_get_their_own_users_job_or_not_found(
    db: asyncpg.Pool,
) -> None:
    """Concurrent gets are one query: grouping must not let a user read another's job."""
    alice, _ = await create_user(db, "alice")
    bob, _ = await create_user(db, "bob")
    queue = make_queue(db)
    mine = (await queue.enqueue(alice.id, "flashcard_generation", {"content": "a"})).job
    theirs = (await queue.enqueue(bob.id, "flashcard_generation", {"content": "b"})).job
    asks = [(alice.id, mine.id), (alice.id, theirs.id), (bob.id, theirs.id),
            (alice.id, uuid.uuid4()), (alice.id, mine.id), (bob.id, mine.id)]
    answers = await asyncio.gather(*(queue.get(u, j) for u, j in asks), return_exceptions=True)
    assert [a.id if not isinstance(a, BaseException) else type(a).__name__
            for a in answers] == [mine.id, "NotFound", theirs.id, "NotFound", mine.id, "NotFound"]
    assert await queue.get(alice.id, mine.id) == answers[0]  # alone, the same answer


async def test_a_job_the_database_refuses_fails_alone_and_its_group_is_written(
    db: asyncpg.Pool,
) -> None:
    alice, _ = await create_user(db, "alice")
    queue = make_queue(db)
    ghost = uuid.uuid4()  # no such user: the insert breaks the foreign key
    outcomes = await asyncio.gather(
        queue.enqueue(alice.id, "flashcard_generation", {"content": "a"}),
        queue.enqueue(ghost, "flashcard_generation", {"content": "g"}),
        queue.enqueue(alice.id, "flashcard_generation", {"content": "b"}),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], asyncpg.ForeignKeyViolationError)
    assert [o.job.payload for o in (outcomes[0], outcomes[2])] == [  # type: ignore[union-attr]
        {"content": "a"}, {"content": "b"}]
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 2


async def test_per_user_cap_lets_another_user_through_a_burst(db: asyncpg.Pool) -> None:
    burst, _ = await create_user(db, "burst")
    other, _ = await create_user(db, "other")
    queue = make_queue(db, user_concurrency=2)
    await bulk_insert(db, burst.id, 10)
    await queue.enqueue(other.id, "flashcard_generation", {"content": "mine"})
    claimed = [await queue.claim("w", TYPES) for _ in range(3)]
    owners = [job.user_id for job in claimed if job is not None]
    assert owners.count(burst.id) == 2
    assert other.id in owners


async def test_lost_lease_is_reaped_and_late_completion_writes_nothing(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "lease")
    queue = make_queue(db, lease_s=0.2)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    stale = await queue.claim("dead-worker", TYPES)
    assert stale is not None
    await asyncio.sleep(0.3)  # no heartbeat: the lease runs out
    assert [status for _, status in await queue.reap()] == ["pending"]
    fresh = None
    while fresh is None:  # reaped jobs wait out a (tiny) backoff
        fresh = await queue.claim("live-worker", TYPES)
    assert fresh.attempts == 2

    deck = FlashcardDeck(cards=[CardDraft(question="What is x?", answer="x")])
    assert not await queue.complete(stale, "dead-worker", deck, provider="t", usage=None)
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 0
    assert await queue.complete(fresh, "live-worker", deck, provider="t", usage=None)
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 1
    # and the dead worker cannot fail, requeue or cancel it afterwards either
    assert not await queue.fail(stale, "dead-worker", "late")
    assert await queue.requeue(stale, "dead-worker", "late") is None
    assert (await db.fetchval("SELECT status FROM background_jobs")) == "completed"


async def test_heartbeat_keeps_a_long_job_from_being_reaped(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "hb")
    queue = make_queue(db, lease_s=0.3)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await queue.claim("w", TYPES)
    assert job is not None
    for _ in range(5):
        await asyncio.sleep(0.15)
        assert await queue.heartbeat("w", [job.id]) == {job.id: False}
        assert await queue.reap() == []
    assert await queue.heartbeat("someone-else", [job.id]) == {}


async def test_reaper_fails_a_job_whose_attempts_are_used_up(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "r")
    queue = make_queue(db, lease_s=0.05, max_attempts=1)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    assert await queue.claim("w", TYPES) is not None
    await asyncio.sleep(0.1)
    assert [status for _, status in await queue.reap()] == ["failed"]
    row = await db.fetchrow("SELECT status, error, completed_at FROM background_jobs")
    assert row["status"] == "failed"
    assert row["error"] == (
        "The server working on this stopped unexpectedly; we gave up after 1 attempt."
    )
    assert row["completed_at"] is not None


def test_backoff_is_capped_exponential_with_full_jitter_and_honours_retry_after_up_to_the_cap(
) -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(60.0, 1.0 * 2 ** (attempt - 1))
        samples = [backoff_s(attempt, base_s=1, cap_s=60, rng=rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the range
    assert all(
        backoff_s(a, base_s=1, cap_s=60, retry_after_s=45, rng=rng) >= 45 for a in range(1, 9)
    )
    # a retry-after past the cap waits the cap, not what the provider asked
    assert {backoff_s(a, base_s=1, cap_s=60, retry_after_s=90, rng=rng) for a in (1, 8)} == {60}


@pytest.mark.parametrize("retry_after_s", [1e9, float("inf"), float("nan")])
async def test_a_provider_retry_after_of_a_billion_seconds_waits_no_longer_than_the_retry_maximum(
    db: asyncpg.Pool, retry_after_s: float
) -> None:
    user, _ = await create_user(db, "ra-huge")
    queue = make_queue(db, retry_max_s=300.0)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    status = await queue.requeue(job, "w", "slow down", retry_after_s=retry_after_s)
    assert status is JobStatus.PENDING
    delay = await db.fetchval("SELECT extract(epoch FROM run_at - now()) FROM background_jobs")
    assert float(delay) <= 300.0


async def test_retryable_error_requeues_no_earlier_than_retry_after(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "ra")
    queue = make_queue(db, retry_max_s=60.0)  # a retry-after is honoured up to the cap
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    assert await queue.requeue(job, "w", "slow down", retry_after_s=30) is JobStatus.PENDING
    delay = await db.fetchval("SELECT extract(epoch FROM run_at - now()) FROM background_jobs")
    assert 29 <= float(delay) <= 31
    assert await queue.claim("w", TYPES) is None  # not before its time


async def test_retryable_error_fails_the_job_after_max_attempts(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "ma")
    queue = make_queue(db, max_attempts=2, retry_base_s=0.001, retry_max_s=0.001)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    assert await queue.requeue(job, "w", "boom") is JobStatus.PENDING
    await asyncio.sleep(0.01)
    job = await claim_one(queue)
    assert await queue.requeue(job, "w", "boom") is JobStatus.FAILED
    row = await db.fetchrow("SELECT status, attempts, error FROM background_jobs")
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert "gave up after 2 attempts" in row["error"]


async def test_shutdown_release_gives_the_attempt_back(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "rel")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    assert await queue.release(job, "w")
    row = await db.fetchrow("SELECT status, attempts, worker_id FROM background_jobs")
    assert tuple(row) == ("pending", 0, None)


async def test_every_change_bumps_the_version_but_heartbeats_do_not(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "v")
    queue = make_queue(db)
    created = await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    versions = [created.job.version]
    job = await claim_one(queue)
    versions.append(await db.fetchval("SELECT version FROM background_jobs"))
    await queue.heartbeat("w", [job.id])
    assert await db.fetchval("SELECT version FROM background_jobs") == versions[-1]
    await queue.report_progress(job, "w", {"chunk": 1})
    versions.append(await db.fetchval("SELECT version FROM background_jobs"))
    assert versions == sorted(set(versions))


async def test_prune_removes_old_finished_jobs_but_keeps_their_cards(db: asyncpg.Pool) -> None:
    user, _ = await create_user(db, "old")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    deck = FlashcardDeck(cards=[CardDraft(question="What is x?", answer="x")])
    assert await queue.complete(job, "w", deck, provider="t", usage=None)
    await db.execute("UPDATE background_jobs SET completed_at = now() - interval '31 days'")
    assert await queue.prune(30) == 1
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 1


@pytest.mark.parametrize("content", ["fail:1"])
async def test_worker_pool_retries_with_backoff_then_completes(
    make_client: Any, new_user: Any, scripted: ScriptedJobs, db: asyncpg.Pool, content: str
) -> None:
    client = await make_client(scripted.registry())
    alice = await new_user()
    resp = await client.post(
        "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": content}},
        headers={"Authorization": alice["Authorization"]},
    )
    job_id = (await resp.json())["id"]

    async def completed() -> bool:
        return await db.fetchval("SELECT status FROM background_jobs WHERE id=$1",
                                 uuid.UUID(job_id)) == "completed"

    await wait_for(completed)
    row = await db.fetchrow("SELECT attempts, result FROM background_jobs")
    assert row["attempts"] == 2 and row["result"] == {"echo": content, "run": 2}
