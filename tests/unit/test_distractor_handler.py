"""distractor_generation: the card must exist; choices are distinct; too few is an error."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from handlers.context import FlashcardRef
from handlers.distractors import MAX_DISTRACTOR_CHARS, distinct_choices, generate_distractors
from handlers.errors import PermanentError, RetryableError
from handlers.models import DistractorPayload
from handlers.providers.offline import OfflineGenerator
from tests.support.generators import (
    DeterministicGenerator,
    FakeLookups,
    RecordingGenerator,
    make_context,
)

CARD_ID = UUID("00000000-0000-0000-0000-000000000001")
CARD = FlashcardRef(
    id=CARD_ID,
    question="What is the capital of France?",
    answer="Paris",
    source_text="Paris is the capital of France. Lyon and Marseille are large French cities.",
)


def lookups(others: list[str] | None = None) -> FakeLookups:
    return FakeLookups(cards={CARD_ID: CARD}, others=others or [])


def test_choices_ignore_case_and_spacing_when_comparing() -> None:
    proposed = ["paris", " Lyon ", "LYON", "Mar   seille", "mar seille", "", "   ", "Nice"]
    assert distinct_choices(proposed, answer="Paris", count=5) == ["Lyon", "Mar seille", "Nice"]


def test_overlong_choices_are_dropped_and_the_count_is_a_cap() -> None:
    proposed = ["x" * (MAX_DISTRACTOR_CHARS + 1), "Lyon", "Nice", "Lille"]
    assert distinct_choices(proposed, answer="Paris", count=2) == ["Lyon", "Nice"]


async def test_distinct_choices_are_returned_for_the_card() -> None:
    generator = RecordingGenerator(choices=["Lyon", "PARIS", "lyon", "Nice", "Lille"])
    ctx, _ = make_context(generator, lookups(["Berlin"]))
    result = await generate_distractors(DistractorPayload(flashcard_id=CARD_ID, count=3), ctx)
    assert result.flashcard_id == CARD_ID
    assert result.distractors == ["Lyon", "Nice", "Lille"]
    call = generator.distractor_calls[0]
    assert call["material"] == CARD.source_text
    assert call["others"] == ["Berlin"]


async def test_other_answers_are_looked_up_without_the_card_itself() -> None:
    generator = RecordingGenerator(choices=["Lyon", "Nice", "Lille"])
    store = lookups()
    ctx, _ = make_context(generator, store)
    await generate_distractors(DistractorPayload(flashcard_id=CARD_ID), ctx)
    assert store.other_calls == [(CARD_ID, 200)]


async def test_a_missing_card_fails_permanently() -> None:
    ctx, _ = make_context(RecordingGenerator(choices=["Lyon"]), lookups())
    with pytest.raises(PermanentError, match=r"The flashcard no longer exists\."):
        await generate_distractors(DistractorPayload(flashcard_id=uuid4()), ctx)


async def test_too_few_distinct_choices_from_a_model_is_retryable() -> None:
    ctx, _ = make_context(RecordingGenerator(choices=["Lyon", "lyon ", "Paris"]), lookups())
    with pytest.raises(RetryableError, match="Only 1 of 3 distinct answer choices"):
        await generate_distractors(DistractorPayload(flashcard_id=CARD_ID, count=3), ctx)


async def test_a_deterministic_generator_keeps_the_choices_it_found() -> None:
    ctx, _ = make_context(DeterministicGenerator(choices=["Lyon"]), lookups())
    result = await generate_distractors(DistractorPayload(flashcard_id=CARD_ID, count=3), ctx)
    assert result.distractors == ["Lyon"]


async def test_a_deterministic_generator_with_no_choices_fails_permanently() -> None:
    ctx, _ = make_context(DeterministicGenerator(choices=["Paris"]), lookups())
    with pytest.raises(PermanentError, match="No answer choices"):
        await generate_distractors(DistractorPayload(flashcard_id=CARD_ID), ctx)


async def test_offline_choices_come_from_the_card_material_and_other_answers() -> None:
    ctx, _ = make_context(OfflineGenerator(), lookups(["Berlin", "Madrid"]))  # type: ignore[arg-type]
    result = await generate_distractors(DistractorPayload(flashcard_id=CARD_ID, count=3), ctx)
    assert len(result.distractors) == 3
    assert "Paris" not in result.distractors
    assert "Lyon" in result.distractors  # a related term from the card's own material
