"""The one interface both providers implement: study material in, drafts out.

Handlers own orchestration (chunking, de-duplication, caps, validation, progress);
a generator owns one call's worth of generation. Each call adds its token usage to the
``usage`` it is given, so one shared generator serves many concurrent jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from handlers.models import CardDraft, NodeDraft

if TYPE_CHECKING:
    from handlers.context import Usage


class StudyGenerator(Protocol):
    provider: str
    model: str

    async def flashcards(self, material: str, *, max_cards: int, usage: Usage) -> list[CardDraft]:
        """Cards for one chunk of material (at most ``max_cards``)."""
        ...

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
        """Plausible wrong answers, similar in form to ``answer``."""
        ...

    async def deck_distractors(
        self,
        *,
        cards: list[tuple[str, str]],
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[list[str]]:
        """Wrong answers for several (question, answer) cards in one call, one list per card
        in the same order (a list may be short or empty)."""
        ...

    async def skill_tree(
        self,
        *,
        goal: str,
        description: str | None,
        material: str | None,
        max_depth: int,
        usage: Usage,
    ) -> list[NodeDraft]:
        """Nodes of a tree for the goal; the handler validates the shape."""
        ...

    async def aclose(self) -> None: ...


def retry_can_help(generator: StudyGenerator) -> bool:
    """False for a generator whose output is a pure function of its input.

    Such a generator (the offline one) sets ``deterministic = True``: running the same job
    again gives the same result, so a shortfall is permanent rather than retryable. The
    attribute is optional so that the protocol stays as it was for other providers.
    """
    return getattr(generator, "deterministic", False) is not True
