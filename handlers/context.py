"""What a handler may use: the generator, a progress callback and read-only lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from handlers.generator import StudyGenerator
from handlers.pricing import ModelPrice


@dataclass(frozen=True)
class FlashcardRef:
    """A card the user owns, as a distractor handler sees it."""

    id: UUID
    question: str
    answer: str
    source_text: str | None  # the material it was generated from, if still retained


class Lookups(Protocol):
    """Read-only queries scoped to the job's user."""

    async def flashcard(self, flashcard_id: UUID) -> FlashcardRef | None: ...

    async def other_answers(self, exclude: UUID, limit: int) -> list[str]: ...

    async def deck_exists(self, deck_id: UUID) -> bool: ...

    async def library_cards(self, limit: int) -> list[tuple[str, str]]:
        """(question, answer) of the user's newest cards, for near-duplicate checks."""
        ...

    async def deck_cards(self, deck_id: UUID) -> list[FlashcardRef]:
        """The deck's cards in deck order (empty when the deck is gone)."""
        ...

    async def deck_material(self, deck_id: UUID) -> str | None:
        """The study material the deck's cards came from, as far as it is retained."""
        ...


class NoLookups:
    """Lookups for a job run outside any user's library (the benchmarks): nothing exists."""

    async def flashcard(self, flashcard_id: UUID) -> FlashcardRef | None:
        return None

    async def other_answers(self, exclude: UUID, limit: int) -> list[str]:
        return []

    async def deck_exists(self, deck_id: UUID) -> bool:
        return False

    async def library_cards(self, limit: int) -> list[tuple[str, str]]:
        return []

    async def deck_cards(self, deck_id: UUID) -> list[FlashcardRef]:
        return []

    async def deck_material(self, deck_id: UUID) -> str | None:
        return None


ProgressCallback = Callable[[dict[str, object]], Awaitable[None]]


@dataclass
class Usage:
    """Tokens spent on one job, summed over its LLM calls, and what they cost.

    ``input_tokens`` are the ones billed at the full input rate: tokens written to or read
    from the prompt cache are counted apart, as the provider reports and bills them.
    ``price`` is None for a model the price table does not know: its cost is unknown, not 0.
    """

    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    price: ModelPrice | None = None

    def add(self, input_tokens: int, output_tokens: int, *, cache_write_tokens: int = 0,
            cache_read_tokens: int = 0) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cache_write_tokens += cache_write_tokens
        self.cache_read_tokens += cache_read_tokens

    @property
    def cost_usd(self) -> float | None:
        if self.price is None:
            return None
        return self.price.cost_usd(
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
            cache_write_tokens=self.cache_write_tokens, cache_read_tokens=self.cache_read_tokens,
        )

    def as_json(self) -> dict[str, object]:
        cost = self.cost_usd
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "cacheReadTokens": self.cache_read_tokens,
            "cacheWriteTokens": self.cache_write_tokens,
            "costUsd": round(cost, 6) if cost is not None else None,
            "provider": self.provider,
            "model": self.model,
        }


@dataclass
class JobContext:
    generator: StudyGenerator
    lookups: Lookups
    progress: ProgressCallback
    usage: Usage = field(init=False)

    def __post_init__(self) -> None:
        # a generator may carry the price of its model (optional, like ``deterministic``)
        price = getattr(self.generator, "price", None)
        self.usage = Usage(
            provider=self.generator.provider, model=self.generator.model,
            price=price if isinstance(price, ModelPrice) else None,
        )
