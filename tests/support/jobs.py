"""Test handlers, settings and waits for the queue, API and fault tests.

The job service core is tested with its own handlers registered through the real registry:
each is mapped to a real job type (the schema only admits those) and behaves as the test
scripts it, keyed by the job's ``content``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.models import FlashcardPayload, JobType, Outcome, PlainResult
from handlers.registry import HandlerRegistry, JobHandler
from server.config import Settings
from server.queue.engine import ClaimedJob, JobQueue

FAST = {
    "lease_seconds": 2.0,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "poll_seconds": 0.5,
    "shutdown_grace_seconds": 2.0,
    "keepalive_seconds": 15.0,
}


def app_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url, "workers": 2, "llm_provider": "offline",
        "user_concurrency": 100, **FAST,
    }
    values.update(overrides)
    return Settings(**values)


Behaviour = Callable[[FlashcardPayload, JobContext, int], Awaitable[Outcome]]


@dataclass
class ScriptedJobs:
    """A flashcard_generation stand-in whose behaviour is chosen by the job's content:

    ``instant`` · ``slow:<s>`` · ``fail:<n>`` (retryable n times, then succeeds) ·
    ``retry-after:<s>`` · ``permanent`` · ``crash`` (kills the whole process: SIGKILL) ·
    ``raise`` (an unexpected exception) · ``progress:<n>`` · ``hang``.
    """

    runs: Counter[str] = field(default_factory=Counter)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, payload: FlashcardPayload, ctx: JobContext) -> Outcome:
        key = payload.content
        self.runs[key] += 1
        self.started.set()
        n = self.runs[key]
        kind, _, arg = key.partition(":")
        if kind == "slow":
            await asyncio.sleep(float(arg.split("#")[0]))
        elif kind == "hang":
            await asyncio.Event().wait()
        elif kind == "fail" and n <= int(arg.split("#")[0]):
            raise RetryableError(f"scripted failure {n}")
        elif kind == "retry-after":
            raise RetryableError("rate limited", retry_after_s=float(arg.split("#")[0]))
        elif kind == "permanent":
            raise PermanentError("scripted permanent failure")
        elif kind == "raise":
            raise ZeroDivisionError("scripted bug")
        elif kind == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "progress":
            for i in range(int(arg.split("#")[0])):
                await ctx.progress({"chunk": i + 1})
        return PlainResult(data={"echo": key, "run": n})

    def registry(self) -> HandlerRegistry:
        return HandlerRegistry(
            [JobHandler(JobType.FLASHCARD_GENERATION.value, FlashcardPayload, self.run)]
        )


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0, interval_s: float = 0.05
) -> None:
    """Poll until ``predicate`` holds; a correctness wait with a generous ceiling, not a
    timing assertion."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval_s)


def make_queue(pool: asyncpg.Pool, **overrides: Any) -> JobQueue:
    """A JobQueue with fast retries and limits no test hits unless it sets them."""
    options: dict[str, Any] = {
        "rate_limit": 100_000, "max_attempts": 3, "lease_s": 30.0, "retry_base_s": 0.05,
        "retry_max_s": 0.2, "user_concurrency": 1000,
    }
    options.update(overrides)
    return JobQueue(pool, **options)


async def claim_one(queue: JobQueue, worker_id: str = "w") -> ClaimedJob:
    job = await queue.claim(worker_id, [JobType.FLASHCARD_GENERATION.value])
    assert job is not None
    return job
