"""The three job types of the product, registered by type."""

from __future__ import annotations

from handlers.registry import HandlerRegistry


def default_registry() -> HandlerRegistry:
    from handlers.distractors import HANDLER as distractors
    from handlers.flashcards import HANDLER as flashcards
    from handlers.skill_trees import HANDLER as skill_trees

    return HandlerRegistry([flashcards, distractors, skill_trees])
