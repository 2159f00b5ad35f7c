"""Small fakes for handler unit tests: a recording generator and in-memory lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from handlers.context import FlashcardRef, JobContext, Usage
from handlers.models import CardDraft, NodeDraft


@dataclass
class RecordingGenerator:
    """A StudyGenerator whose output is scripted and whose calls are recorded."""

    cards_for: Callable[[str, int], list[CardDraft]] = lambda chunk, n: []
    choices: list[str] = field(default_factory=list)
    nodes: list[NodeDraft] = field(default_factory=list)
    provider: str = "fake"
    model: str = "fake-1"
    flashcard_calls: list[tuple[str, int]] = field(default_factory=list)
    distractor_calls: list[dict[str, object]] = field(default_factory=list)
    deck_calls: list[dict[str, object]] = field(default_factory=list)

    async def flashcards(self, material: str, *, max_cards: int, usage: Usage) -> list[CardDraft]:
        self.flashcard_calls.append((material, max_cards))
        usage.add(10, 5)
        return self.cards_for(material, max_cards)

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
        self.distractor_calls.append(
            {"answer": answer, "count": count, "material": material, "others": other_answers}
        )
        return list(self.choices)

    async def deck_distractors(
        self,
        *,
        cards: list[tuple[str, str]],
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[list[str]]:
        self.deck_calls.append({"cards": list(cards), "count": count, "material": material})
        return [[c for c in self.choices if c != answer] for _q, answer in cards]

    async def skill_tree(
        self,
        *,
        goal: str,
        description: str | None,
        material: str | None,
        max_depth: int,
        usage: Usage,
    ) -> list[NodeDraft]:
        return list(self.nodes)

    async def aclose(self) -> None:
        return None


class DeterministicGenerator(RecordingGenerator):
    """Stands in for the offline provider: same input, same output."""

    deterministic = True


@dataclass
class FakeLookups:
    cards: dict[UUID, FlashcardRef] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    other_calls: list[tuple[UUID, int]] = field(default_factory=list)
    library: list[tuple[str, str]] = field(default_factory=list)
    decks: dict[UUID, list[UUID]] = field(default_factory=dict)
    materials: dict[UUID, str] = field(default_factory=dict)

    async def flashcard(self, flashcard_id: UUID) -> FlashcardRef | None:
        return self.cards.get(flashcard_id)

    async def other_answers(self, exclude: UUID, limit: int) -> list[str]:
        self.other_calls.append((exclude, limit))
        return self.others[:limit]

    async def deck_exists(self, deck_id: UUID) -> bool:
        return deck_id in self.decks

    async def library_cards(self, limit: int) -> list[tuple[str, str]]:
        return self.library[:limit]

    async def deck_cards(self, deck_id: UUID) -> list[FlashcardRef]:
        return [self.cards[c] for c in self.decks.get(deck_id, [])]

    async def deck_material(self, deck_id: UUID) -> str | None:
        return self.materials.get(deck_id)


@dataclass
class ProgressLog:
    events: list[dict[str, object]] = field(default_factory=list)

    async def __call__(self, event: dict[str, object]) -> None:
        self.events.append(event)


def make_context(
    generator: RecordingGenerator, lookups: FakeLookups | None = None
) -> tuple[JobContext, ProgressLog]:
    progress = ProgressLog()
    return JobContext(generator=generator, lookups=lookups or FakeLookups(), progress=progress), (
        progress
    )
