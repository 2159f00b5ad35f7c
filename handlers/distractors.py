"""distractor_generation: wrong answer choices for one of the user's cards."""

from __future__ import annotations

from uuid import UUID

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.generator import retry_can_help
from handlers.models import DeckDistractors, DistractorPayload, DistractorSet, JobType
from handlers.registry import JobHandler
from handlers.text import normalize

MAX_DISTRACTOR_CHARS = 300
OTHER_ANSWERS_LIMIT = 200
# Cards per generator call for a whole deck: a 50-card deck is 5 calls, not 50.
DECK_CHUNK = 10


async def generate_distractors(
    payload: DistractorPayload, ctx: JobContext
) -> DistractorSet | DeckDistractors:
    if payload.deck_id is not None:
        return await generate_deck_distractors(payload.deck_id, payload.count, ctx)
    assert payload.flashcard_id is not None  # the payload model requires one of the two
    card = await ctx.lookups.flashcard(payload.flashcard_id)
    if card is None:
        raise PermanentError("The flashcard no longer exists.")
    other_answers = await ctx.lookups.other_answers(card.id, OTHER_ANSWERS_LIMIT)
    proposed = await ctx.generator.distractors(
        question=card.question,
        answer=card.answer,
        count=payload.count,
        material=card.source_text,
        other_answers=other_answers,
        usage=ctx.usage,
    )
    choices = distinct_choices(proposed, answer=card.answer, count=payload.count)
    if len(choices) < payload.count:
        _too_few(ctx, found=len(choices), wanted=payload.count)
    return DistractorSet(flashcard_id=card.id, distractors=choices)


async def generate_deck_distractors(
    deck_id: UUID, count: int, ctx: JobContext
) -> DeckDistractors:
    """Choices for every card of a deck, DECK_CHUNK cards per generator call, all written at
    once when the job completes. Only the deck's own material and answers are offered as
    candidates, so a choice never comes from another deck's topic."""
    cards = await ctx.lookups.deck_cards(deck_id)
    if not cards:
        raise PermanentError("The deck has no cards to make answer choices for.")
    material = await ctx.lookups.deck_material(deck_id)
    if material is None:  # its jobs were pruned: the cards' own quotes are the material
        material = "\n".join(c.source_text for c in cards if c.source_text) or None
    answers = [c.answer for c in cards]
    chunks = [cards[i:i + DECK_CHUNK] for i in range(0, len(cards), DECK_CHUNK)]
    sets: list[DistractorSet] = []
    for number, chunk in enumerate(chunks, start=1):
        proposed = await ctx.generator.deck_distractors(
            cards=[(c.question, c.answer) for c in chunk], count=count, material=material,
            other_answers=answers, usage=ctx.usage,
        )
        for card, choices in zip(chunk, proposed, strict=True):
            sets.append(DistractorSet(
                flashcard_id=card.id,
                distractors=distinct_choices(choices, answer=card.answer, count=count),
            ))
        await ctx.progress({"chunk": number, "chunks": len(chunks), "cards": len(sets)})
    if not any(s.distractors for s in sets):
        _too_few(ctx, found=0, wanted=count)
    return DeckDistractors(deck_id=deck_id, sets=sets)


def distinct_choices(proposed: list[str], *, answer: str, count: int) -> list[str]:
    """Up to ``count`` non-empty choices, none equal to the answer or to each other.

    Equality ignores case and spacing: "Paris" and " paris " are one choice.
    """
    seen = {normalize(answer)}
    choices: list[str] = []
    for text in proposed:
        tidy = " ".join(text.split())
        key = normalize(tidy)
        if not tidy or len(tidy) > MAX_DISTRACTOR_CHARS or key in seen:
            continue
        seen.add(key)
        choices.append(tidy)
        if len(choices) == count:
            break
    return choices


def _too_few(ctx: JobContext, *, found: int, wanted: int) -> None:
    """A model may do better next time; a deterministic generator keeps what it found."""
    if retry_can_help(ctx.generator):
        raise RetryableError(f"Only {found} of {wanted} distinct answer choices were generated.")
    if found == 0:
        raise PermanentError(
            "No answer choices could be found for this card: its material has no related "
            "terms and you have no other cards to borrow answers from. Add more cards or "
            "configure an API key."
        )


HANDLER = JobHandler(
    job_type=JobType.DISTRACTOR_GENERATION,
    payload_model=DistractorPayload,
    run=generate_distractors,
)
