"""Housekeeping that no request waits for: the retention sweep and expired-session pruning.

It is its own loop, not a step of the reaper, so that a slow sweep over a large table can
never delay lease recovery, and an API-only replica (``--workers 0``) still keeps its
sessions table small. Every statement is an idempotent, batched DELETE, so replicas running
it at the same moment only share the work.
"""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from server.queue.engine import JobQueue
from server.store.users import prune_sessions

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 3600.0
FIRST_SWEEP_DELAY_S = 10.0  # shortly after start-up, not in the middle of it
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)


async def sweep_once(queue: JobQueue, retention_days: int) -> None:
    """Prune finished jobs past retention (decks, cards and reviews stay) and dead sessions."""
    await queue.prune(retention_days)
    await prune_sessions(queue.pool)


async def run_maintenance(
    queue: JobQueue, retention_days: int, *, first_delay_s: float = FIRST_SWEEP_DELAY_S
) -> None:
    delay = first_delay_s
    while True:
        await asyncio.sleep(delay * random.uniform(0.9, 1.1))
        delay = SWEEP_INTERVAL_S
        try:
            await sweep_once(queue, retention_days)
        except DB_ERRORS as err:
            log.warning("maintenance sweep failed (%s); trying again in an hour", err)

