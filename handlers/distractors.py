"""distractor_generation: wrong answer choices for one of the user's cards."""

from __future__ import annotations

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.generator import retry_can_help
from handlers.models import DistractorPayload, DistractorSet, JobType
from handlers.registry import JobHandler

MAX_DISTRACTOR_CHARS = 300
OTHER_ANSWERS_LIMIT = 200


async def generate_distractors(payload: DistractorPayload, ctx: JobContext) -> DistractorSet:
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


def distinct_choices(proposed: list[str], *, answer: str, count: int) -> list[str]:
    """Up to ``count`` non-empty choices, none equal to the answer or to each other.

    Equality ignores case and spacing: "Paris" and " paris " are one choice.
    """
    seen = {_choice_key(answer)}
    choices: list[str] = []
    for text in proposed:
        tidy = " ".join(text.split())
        key = _choice_key(tidy)
        if not tidy or len(tidy) > MAX_DISTRACTOR_CHARS or key in seen:
            continue
        seen.add(key)
        choices.append(tidy)
        if len(choices) == count:
            break
    return choices


def _choice_key(text: str) -> str:
    return " ".join(text.split()).casefold()


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
