"""The study library's wire shapes: flashcards, their answer choices and skill trees.

Each is built from its row with ``from_row`` and dumped by alias; a field added to the
contract is a field added here (and to the row's SELECT), nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import Field

from handlers.models import DistractorItem, WireModel
from server.wire import IsoTime, RowModel

ReviewStateName = Literal["new", "learning", "review", "relearning"]
RatingName = Literal["again", "hard", "good", "easy"]


class ReviewState(WireModel):
    """A card's FSRS state (py-fsrs 6); ``new`` is a card never reviewed, due at once."""

    state: ReviewStateName
    due: IsoTime
    stability: float | None
    difficulty: float | None
    reps: int
    lapses: int
    last_reviewed_at: IsoTime | None


class Flashcard(RowModel):
    id: UUID
    job_id: UUID
    deck_id: UUID
    question: str
    answer: str
    source: str | None
    goal_id: UUID | None
    node_id: UUID | None
    message_id: str | None
    created_at: IsoTime
    distractors: list[DistractorItem]  # the newest set, possibly empty
    review: ReviewState

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        values = dict(row)
        values["review"] = {
            "state": values["review_state"], "due": values["due"],
            "stability": values["stability"], "difficulty": values["difficulty"],
            "reps": values["reps"], "lapses": values["lapses"],
            "last_reviewed_at": values["last_reviewed_at"],
        }
        values["distractors"] = values.get("distractors") or []
        return cls.model_validate(values)


class Deck(RowModel):
    """A learner's deck; ``jobId`` is the job that created it, which may since be pruned."""

    id: UUID
    title: str
    job_id: UUID | None
    card_count: int
    due_count: int
    created_at: IsoTime
    updated_at: IsoTime


class DeckWithCards(Deck):
    """``GET /api/decks/{id}``: the deck and its cards in deck order."""

    cards: list[Flashcard]


class ReviewRecord(WireModel):
    id: UUID
    rating: RatingName
    reviewed_at: IsoTime
    scheduled_days: float


class ReviewOutcome(WireModel):
    """``POST /api/flashcards/{id}/reviews``: the card as rescheduled and the log row."""

    card: Flashcard
    review: ReviewRecord


DesiredRetention = Annotated[float, Field(ge=0.70, le=0.97, allow_inf_nan=False, strict=True)]


class StudySettings(WireModel):
    desired_retention: DesiredRetention = 0.90


class SettingsUpdate(WireModel):
    """``PUT /api/settings``: a PUT replaces the settings, so every field is required."""

    desired_retention: DesiredRetention


class SkillTreeSummary(RowModel):
    """A tree as the dashboard lists it."""

    id: UUID
    job_id: UUID
    goal: str
    depth: int
    node_count: int
    created_at: IsoTime


class SkillNode(RowModel):
    id: UUID
    parent_id: UUID | None
    title: str
    description: str
    depth: int
    position: int


class SkillTree(SkillTreeSummary):
    """``GET /api/skill-trees/{id}``: flat nodes in pre-order; the root's parentId is null."""

    description: str | None
    nodes: list[SkillNode]

    @classmethod
    def from_rows(cls, tree: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> SkillTree:
        return cls.model_validate({**tree, "nodes": [dict(n) for n in nodes]})
