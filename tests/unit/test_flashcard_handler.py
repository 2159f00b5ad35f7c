"""flashcard_generation: chunking, one call and one progress event per chunk, dedup, caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.chunking import split_into_chunks
from handlers.errors import PermanentError, RetryableError
from handlers.flashcards import DEFAULT_MAX_CARDS, generate_flashcards
from handlers.models import CHUNK_CHARS, CardDraft, FlashcardPayload
from handlers.providers.offline import OfflineGenerator
from tests.support.generators import DeterministicGenerator, RecordingGenerator, make_context

CORPUS = Path(__file__).parent / "corpus"


def _document(chars: int, paragraph_chars: int = 1_000) -> str:
    """Numbered paragraphs of exactly ``paragraph_chars`` separated by blank lines."""
    paragraphs = []
    for i in range(chars // (paragraph_chars + 2)):
        head = f"Paragraph {i:03d} explains topic {i}. "
        paragraphs.append((head + "Filler words go here. " * 60)[: paragraph_chars - 1] + ".")
    return "\n\n".join(paragraphs)


def _one_card_per_paragraph(chunk: str, budget: int) -> list[CardDraft]:
    cards = [
        CardDraft(question=f"What does {p.split()[1]} explain?", answer=p.split()[4].rstrip("."))
        for p in chunk.split("\n\n")
    ]
    return cards[:budget]


def _same_cards_every_chunk(chunk: str, budget: int) -> list[CardDraft]:
    return [
        CardDraft(question="What is  osmosis?", answer="water   diffusion"),
        CardDraft(question="what is OSMOSIS", answer="water diffusion"),
        CardDraft(question=f"Which chunk starts with {chunk[:14]}?", answer=chunk[:14]),
    ][:budget]


def test_sixty_thousand_characters_become_four_chunks_at_paragraph_boundaries() -> None:
    document = _document(60_000)
    assert len(document) > 3 * CHUNK_CHARS
    chunks = split_into_chunks(document)
    assert len(chunks) == 4
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    paragraphs = document.split("\n\n")
    assert [p for c in chunks for p in c.split("\n\n")] == paragraphs


def test_a_paragraph_longer_than_a_chunk_is_split_between_sentences() -> None:
    sentence = "The mitochondrion makes most of the cell's ATP. "
    giant = sentence * (CHUNK_CHARS // len(sentence) + 50)
    chunks = split_into_chunks("Intro.\n\n" + giant)
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    assert all(c.rstrip().endswith(".") for c in chunks)


def test_text_without_any_break_is_hard_split_as_a_last_resort() -> None:
    chunks = split_into_chunks("x" * (2 * CHUNK_CHARS + 5))
    assert [len(c) for c in chunks] == [CHUNK_CHARS, CHUNK_CHARS, 5]


async def test_long_content_is_one_call_and_one_progress_event_per_chunk() -> None:
    generator = RecordingGenerator(cards_for=_one_card_per_paragraph)
    ctx, progress = make_context(generator)
    payload = FlashcardPayload(content=_document(60_000), max_cards=50)

    deck = await generate_flashcards(payload, ctx)

    assert len(generator.flashcard_calls) == 4
    assert all(len(chunk) <= CHUNK_CHARS for chunk, _ in generator.flashcard_calls)
    assert [e["chunk"] for e in progress.events] == [1, 2, 3, 4]
    assert {e["chunks"] for e in progress.events} == {4}
    assert progress.events[-1]["cards"] == len(deck.cards) == 50
    assert ctx.usage.input_tokens == 40


async def test_short_content_is_exactly_one_call() -> None:
    generator = RecordingGenerator(cards_for=_one_card_per_paragraph)
    ctx, progress = make_context(generator)
    content = _document(5_000)
    await generate_flashcards(FlashcardPayload(content=content), ctx)
    assert generator.flashcard_calls == [(content, DEFAULT_MAX_CARDS)]
    assert progress.events == [{"chunk": 1, "chunks": 1, "cards": content.count("\n\n") + 1}]


async def test_duplicate_questions_across_chunks_are_dropped_and_text_is_tidied() -> None:
    generator = RecordingGenerator(cards_for=_same_cards_every_chunk)
    ctx, _ = make_context(generator)
    deck = await generate_flashcards(FlashcardPayload(content=_document(60_000)), ctx)
    questions = [c.question for c in deck.cards]
    assert questions.count("What is osmosis?") == 1
    assert "what is OSMOSIS" not in questions
    assert deck.cards[0].answer == "water diffusion"
    assert len(questions) == len({q.lower() for q in questions}) == 5


async def test_max_cards_is_shared_over_chunks_so_the_whole_text_is_covered() -> None:
    generator = RecordingGenerator(cards_for=_one_card_per_paragraph)
    ctx, _ = make_context(generator)
    deck = await generate_flashcards(FlashcardPayload(content=_document(60_000), max_cards=8), ctx)
    assert len(deck.cards) == 8
    assert [budget for _, budget in generator.flashcard_calls] == [2, 2, 2, 2]


async def test_a_short_chunk_leaves_its_budget_to_later_chunks() -> None:
    def nothing_from_the_first_chunk(chunk: str, budget: int) -> list[CardDraft]:
        return [] if chunk.startswith("Paragraph 000") else _one_card_per_paragraph(chunk, budget)

    generator = RecordingGenerator(cards_for=nothing_from_the_first_chunk)
    ctx, _ = make_context(generator)
    deck = await generate_flashcards(FlashcardPayload(content=_document(60_000), max_cards=8), ctx)
    assert len(deck.cards) == 8
    assert [budget for _, budget in generator.flashcard_calls] == [2, 3, 3, 2]


async def test_default_cap_applies_when_max_cards_is_missing() -> None:
    generator = RecordingGenerator(cards_for=_one_card_per_paragraph)
    ctx, _ = make_context(generator)
    deck = await generate_flashcards(FlashcardPayload(content=_document(60_000)), ctx)
    assert len(deck.cards) == DEFAULT_MAX_CARDS


async def test_payload_links_are_carried_to_the_deck() -> None:
    generator = RecordingGenerator(cards_for=_one_card_per_paragraph)
    ctx, _ = make_context(generator)
    payload = FlashcardPayload(content=_document(3_000), message_id="m-1")
    deck = await generate_flashcards(payload, ctx)
    assert (deck.message_id, deck.goal_id, deck.node_id) == ("m-1", None, None)


async def test_no_cards_from_a_model_is_retryable() -> None:
    ctx, _ = make_context(RecordingGenerator())
    with pytest.raises(RetryableError):
        await generate_flashcards(FlashcardPayload(content="Some notes."), ctx)


async def test_no_cards_from_a_deterministic_generator_is_permanent() -> None:
    ctx, _ = make_context(DeterministicGenerator())
    with pytest.raises(PermanentError, match="No flashcards could be made"):
        await generate_flashcards(FlashcardPayload(content="Some notes."), ctx)


async def test_offline_generator_over_a_long_real_text_dedupes_repeated_material() -> None:
    texts = [p.read_text() for p in sorted(CORPUS.glob("*.md"))]
    document = "\n\n".join(texts * 5)[:60_000]  # the corpus, five times over
    ctx, progress = make_context(OfflineGenerator())  # type: ignore[arg-type]
    deck = await generate_flashcards(FlashcardPayload(content=document, max_cards=50), ctx)
    assert len(progress.events) == 4
    questions = [c.question.casefold() for c in deck.cards]
    assert len(questions) == len(set(questions)) >= 25
    assert (ctx.usage.provider, ctx.usage.input_tokens) == ("offline", 0)
