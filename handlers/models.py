"""Payloads, outcomes and results of the three job types.

These pydantic models are the single source of truth: the HTTP layer validates with them,
the OpenAPI document is generated from them, and the LLM output schemas derive from them.
Field names are snake_case in Python and camelCase on the wire.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

MAX_CONTENT_CHARS = 100_000
CHUNK_CHARS = 16_000


class WireModel(BaseModel):
    """camelCase on the wire, unknown fields rejected, sizes bounded by each field."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class JobType(StrEnum):
    FLASHCARD_GENERATION = "flashcard_generation"
    DISTRACTOR_GENERATION = "distractor_generation"
    SKILL_TREE_GENERATION = "skill_tree_generation"


# What a person's text may not contain: C0 controls other than tab, line feed and carriage
# return, DEL, C1 controls, and lone surrogates. PostgreSQL refuses U+0000 in text and jsonb
# (a NUL reached the insert and came back as a 500), a lone surrogate is valid JSON but not
# UTF-8, and the other controls are invisible in pages yet change what a terminal shows.
# Tab and line breaks are part of real study material and stay allowed.
UNSTORABLE_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def refuse_control_characters(value: str) -> str:
    """The one check every user-written text field goes through (API and page forms alike)."""
    found = UNSTORABLE_CHARACTERS.search(value)
    if found is not None:
        raise PydanticCustomError(
            "control_character",
            "Text may not contain control characters such as NUL (found U+{code}); tabs and "
            "line breaks are fine.",
            {"code": f"{ord(found.group()):04X}"},
        )
    return value


PlainText = AfterValidator(refuse_control_characters)


ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText
]
MessageId = ShortText
StudyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS), PlainText]
OptionalStudyText = Annotated[str, StringConstraints(max_length=MAX_CONTENT_CHARS), PlainText]
Description = Annotated[str, StringConstraints(max_length=2_000), PlainText]


def tidy_text(text: str) -> str:
    """Text as a card or a title holds it: whitespace runs (newlines too) become one space.

    Raises ValueError for what no card should hold and what would break later: NUL and other
    control or format characters, and lone surrogates (PostgreSQL refuses them as UTF-8).
    """
    tidy = " ".join(text.split())
    for char in tidy:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") and char != "\u200d":
            raise ValueError("must not contain control or invisible characters")
    if not tidy:
        raise ValueError("must not be blank")
    return tidy


def _at_most(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return text

    return AfterValidator(check)


# What a person may type as a card's side or a deck's title, checked like generated text.
# The raw bound (before spaces collapse) keeps a huge input from being scanned at all.
CardText = Annotated[
    str, StringConstraints(min_length=1, max_length=2_000), AfterValidator(tidy_text),
    _at_most(500),
    Field(description="1 to 500 characters once each run of whitespace becomes one space; "
                      "control and invisible characters are refused.",
          json_schema_extra={"maxLength": 500}),
]
DeckTitle = Annotated[
    str, StringConstraints(min_length=1, max_length=2_000), AfterValidator(tidy_text),
    _at_most(200),
    Field(description="1 to 200 characters once each run of whitespace becomes one space; "
                      "control and invisible characters are refused.",
          json_schema_extra={"maxLength": 200}),
]


# ---------------------------------------------------------------- payloads (user input)


class FlashcardPayload(WireModel):
    content: StudyText
    message_id: MessageId | None = None
    goal_id: UUID | None = None
    node_id: UUID | None = None
    max_cards: Annotated[int, Field(ge=1, le=50)] | None = None
    title: DeckTitle | None = None  # the new deck's; else the material's first heading/line
    deck_id: UUID | None = None  # append to this deck of the user's instead of a new one


class DistractorPayload(WireModel):
    """Choices for one card (``flashcardId``) or for every card of a deck (``deckId``)."""

    flashcard_id: UUID | None = None
    deck_id: UUID | None = None
    count: Annotated[int, Field(ge=1, le=6)] = 3

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.flashcard_id is None) == (self.deck_id is None):
            raise ValueError("give either flashcardId or deckId, not both")
        return self


class SkillTreePayload(WireModel):
    goal: ShortText
    description: Description | None = None
    content: OptionalStudyText | None = None
    max_depth: Annotated[int, Field(ge=1, le=5)] = 3


PAYLOAD_MODELS: dict[JobType, type[WireModel]] = {
    JobType.FLASHCARD_GENERATION: FlashcardPayload,
    JobType.DISTRACTOR_GENERATION: DistractorPayload,
    JobType.SKILL_TREE_GENERATION: SkillTreePayload,
}


# ---------------------------------------------------------------- generator drafts


class CardDraft(BaseModel):
    """One flashcard as a generator proposes it (one fact, self-contained question)."""

    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    # The passage of the material the card was made from (the sentence it quotes), so a
    # reader can check the card against its source. Optional: not every generator has it.
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1_000)] | None = (
        None
    )


class NodeDraft(BaseModel):
    """A skill-tree node; ``parent`` is the ``key`` of its parent, ``None`` for the root."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    parent: str | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=1_000)] = ""


MAX_TREE_NODES = 60


# ---------------------------------------------------------------- outcomes (to persist)


DEFAULT_DECK_TITLE = "Untitled deck"


class FlashcardDeck(BaseModel):
    """Cards to insert, de-duplicated and capped, with the payload's links: into a new deck
    titled ``title``, or appended to the user's deck ``deck_id``."""

    cards: list[CardDraft]
    message_id: str | None = None
    goal_id: UUID | None = None
    node_id: UUID | None = None
    title: str = DEFAULT_DECK_TITLE
    deck_id: UUID | None = None
    skipped_duplicates: int = 0  # near-duplicates of cards already in the user's library
    dropped_unsupported: int = 0  # cards whose answer their quoted source did not support


class DistractorSet(BaseModel):
    flashcard_id: UUID
    distractors: list[str]


class NodeCard(BaseModel):
    """A card made from the section a node teaches; ``node`` is that node's ``key``."""

    node: str
    card: CardDraft


class DeckDistractors(BaseModel):
    """Answer choices for every card of a deck, written in one fenced transaction."""

    deck_id: UUID
    sets: list[DistractorSet]


class ValidatedTree(BaseModel):
    """A tree that passed validation: nodes in pre-order, exactly one root, depth bounded.

    ``cards`` (from a generator that can link them) are stored with the tree as their goal
    and their node as ``nodeId``.
    """

    goal: str
    description: str | None = None
    nodes: list[NodeDraft]
    depth: int
    cards: list[NodeCard] = []


class PlainResult(BaseModel):
    """An outcome with no rows to write: the dict becomes the job's result as is."""

    data: dict[str, object]


Outcome = FlashcardDeck | DistractorSet | DeckDistractors | ValidatedTree | PlainResult


# ---------------------------------------------------------------- results (job.result)


class FlashcardResult(WireModel):
    deck_id: UUID
    flashcard_ids: list[UUID]
    count: int
    skipped_duplicates: int
    dropped_unsupported: int
    provider: str


class DistractorItem(WireModel):
    id: UUID
    text: str


class DistractorResult(WireModel):
    flashcard_id: UUID
    distractors: list[DistractorItem]
    provider: str


class DeckDistractorResult(WireModel):
    deck_id: UUID
    card_count: int
    distractor_count: int
    provider: str


class SkillTreeResult(WireModel):
    tree_id: UUID
    node_count: int
    depth: int
    provider: str
