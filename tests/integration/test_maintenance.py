"""The maintenance loop: retention and session pruning, run apart from the reaper."""

from __future__ import annotations

import asyncio

import asyncpg

from handlers.models import CardDraft, FlashcardDeck
from server.maintenance import run_maintenance, sweep_once
from server.store.users import create_session, create_user
from tests.support.jobs import claim_one, make_queue


async def test_sweep_prunes_old_jobs_and_expired_sessions_but_keeps_cards(
    db: asyncpg.Pool,
) -> None:
    user, _ = await create_user(db, "old")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    deck = FlashcardDeck(cards=[CardDraft(question="What is x?", answer="x")])
    assert await queue.complete(job, "w", deck, provider="t", usage=None)
    await create_session(db, user)
    live = await create_session(db, user)
    await db.execute("UPDATE background_jobs SET completed_at = now() - interval '31 days'")
    await db.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE ctid = "
        "(SELECT ctid FROM sessions LIMIT 1)"
    )
    await sweep_once(queue, 30)
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 1
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1
    assert live


async def test_maintenance_loop_sweeps_shortly_after_start_and_keeps_running(
    db: asyncpg.Pool,
) -> None:
    user, _ = await create_user(db, "old")
    queue = make_queue(db)
    await queue.enqueue(user.id, "flashcard_generation", {"content": "x"})
    job = await claim_one(queue)
    deck = FlashcardDeck(cards=[CardDraft(question="What is y?", answer="y")])
    assert await queue.complete(job, "w", deck, provider="t", usage=None)
    await db.execute("UPDATE background_jobs SET completed_at = now() - interval '31 days'")
    task = asyncio.create_task(run_maintenance(queue, 30, first_delay_s=0.01))
    try:
        for _ in range(200):
            if await db.fetchval("SELECT count(*) FROM background_jobs") == 0:
                break
            await asyncio.sleep(0.02)
        assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0
        assert not task.done()
    finally:
        task.cancel()
