"""What a handler may use: the generator, a progress callback and read-only lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from handlers.generator import StudyGenerator


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


ProgressCallback = Callable[[dict[str, object]], Awaitable[None]]


@dataclass
class Usage:
    """Tokens spent on one job, summed over its LLM calls."""

    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def as_json(self) -> dict[str, object]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
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
        self.usage = Usage(provider=self.generator.provider, model=self.generator.model)
