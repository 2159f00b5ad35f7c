"""A process-wide limit on concurrent LLM calls that adapts to the provider (AIMD).

With a thousand jobs in flight, a burst would otherwise become a thousand simultaneous calls
and a storm of 429s. The limit starts at ``CARDFORGE_LLM_CONCURRENCY``; a call the provider
refuses as busy (429, 529) halves it, once per round of calls (calls that started before the
last cut do not cut again); each success adds 1/limit, so the limit grows back by about one
per round of successful calls. Handlers never see it: it wraps the generator they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from handlers.context import Usage
from handlers.errors import ProviderBusy
from handlers.generator import StudyGenerator
from handlers.models import CardDraft, NodeDraft
from server.metrics import Metrics


class AdaptiveLimit:
    def __init__(self, maximum: int, *, minimum: int = 1, metrics: Metrics | None = None) -> None:
        self.maximum = maximum
        self.minimum = min(minimum, maximum)
        self.limit = float(maximum)
        self.in_flight = 0
        self.peak = 0
        self._epoch = 0  # bumped on every cut
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._metrics = metrics
        self._report()

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        while self.in_flight >= int(self.limit):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._wake()  # pass on a wake-up this waiter may have been given
                raise
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        epoch = self._epoch
        busy = False
        try:
            yield
        except ProviderBusy:
            busy = True
            raise
        finally:
            self.in_flight -= 1
            if busy:
                if epoch == self._epoch:  # one cut per round: the rest of it saw the old limit
                    self._epoch += 1
                    self.limit = max(float(self.minimum), self.limit / 2)
            elif self.limit < self.maximum:
                self.limit = min(float(self.maximum), self.limit + 1 / self.limit)
            self._report()
            self._wake()

    def _wake(self) -> None:
        room = int(self.limit) - self.in_flight
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    def _report(self) -> None:
        if self._metrics is not None:
            self._metrics.llm_calls_in_flight.set(self.in_flight)
            self._metrics.llm_concurrency_limit.set(int(self.limit))


class LimitedGenerator:
    """A StudyGenerator whose calls all pass through one AdaptiveLimit."""

    def __init__(self, inner: StudyGenerator, limit: AdaptiveLimit) -> None:
        self.inner = inner
        self.limit = limit
        self.provider = inner.provider
        self.model = inner.model

    def __getattr__(self, name: str) -> Any:
        # optional protocol attributes (``deterministic``) read through to the real generator
        return getattr(self.inner, name)

    async def flashcards(self, material: str, *, max_cards: int, usage: Usage) -> list[CardDraft]:
        async with self.limit.call():
            return await self.inner.flashcards(material, max_cards=max_cards, usage=usage)

    async def distractors(
        self,
        *,
        question: str,
        answer: str,
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[str]:
        async with self.limit.call():
            return await self.inner.distractors(
                question=question, answer=answer, count=count, material=material,
                other_answers=other_answers, usage=usage,
            )

    async def deck_distractors(
        self,
        *,
        cards: list[tuple[str, str]],
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[list[str]]:
        async with self.limit.call():
            return await self.inner.deck_distractors(
                cards=cards, count=count, material=material, other_answers=other_answers,
                usage=usage,
            )

    async def skill_tree(
        self,
        *,
        goal: str,
        description: str | None,
        material: str | None,
        max_depth: int,
        usage: Usage,
    ) -> list[NodeDraft]:
        async with self.limit.call():
            return await self.inner.skill_tree(
                goal=goal, description=description, material=material, max_depth=max_depth,
                usage=usage,
            )

    async def aclose(self) -> None:
        await self.inner.aclose()
