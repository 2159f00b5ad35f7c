"""The study library's wire shapes: flashcards, their answer choices and skill trees.

Each is built from its row with ``from_row`` and dumped by alias; a field added to the
contract is a field added here (and to the row's SELECT), nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from handlers.models import DistractorItem
from server.wire import IsoTime, RowModel


class Flashcard(RowModel):
    id: UUID
    job_id: UUID
    question: str
    answer: str
    goal_id: UUID | None
    node_id: UUID | None
    message_id: str | None
    created_at: IsoTime


class FlashcardWithChoices(Flashcard):
    """``GET /api/flashcards/{id}``: the card with its newest set of answer choices."""

    distractors: list[DistractorItem]

    @classmethod
    def from_rows(
        cls, row: Mapping[str, Any], distractors: Sequence[Mapping[str, Any]]
    ) -> FlashcardWithChoices:
        return cls.model_validate({**row, "distractors": [dict(d) for d in distractors]})


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
