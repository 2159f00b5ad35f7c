"""flashcard_generation: material in, a de-duplicated, capped deck of cards out."""

from __future__ import annotations

import math
import re

from handlers.chunking import split_into_chunks
from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.generator import retry_can_help
from handlers.models import CardDraft, FlashcardDeck, FlashcardPayload, JobType
from handlers.registry import JobHandler

DEFAULT_MAX_CARDS = 20


async def generate_flashcards(payload: FlashcardPayload, ctx: JobContext) -> FlashcardDeck:
    """One generator call and one progress event per chunk.

    The card budget is shared out over the chunks still to come (the remaining budget
    divided by the chunks left), so a long text is covered end to end instead of the
    first chunk using the whole budget; a chunk that yields less leaves more for later.
    """
    max_cards = payload.max_cards or DEFAULT_MAX_CARDS
    chunks = split_into_chunks(payload.content)
    deck = _Deck()
    for number, chunk in enumerate(chunks, start=1):
        remaining = max_cards - len(deck.cards)
        ask = math.ceil(remaining / (len(chunks) - number + 1))
        if ask > 0:
            drafts = await ctx.generator.flashcards(chunk, max_cards=ask, usage=ctx.usage)
            deck.add(drafts, limit=ask)
        await ctx.progress({"chunk": number, "chunks": len(chunks), "cards": len(deck.cards)})
    if not deck.cards:
        _no_cards(ctx)
    return FlashcardDeck(
        cards=deck.cards,
        message_id=payload.message_id,
        goal_id=payload.goal_id,
        node_id=payload.node_id,
    )


class _Deck:
    """Cards so far; a question seen before (ignoring case and punctuation) is skipped."""

    def __init__(self) -> None:
        self.cards: list[CardDraft] = []
        self._questions: set[str] = set()

    def add(self, drafts: list[CardDraft], *, limit: int) -> None:
        added = 0
        for draft in drafts:
            if added == limit:
                return
            card = CardDraft(
                question=_tidy(draft.question), answer=_tidy(draft.answer), source=draft.source
            )
            key = question_key(card.question)
            if key in self._questions:
                continue
            self._questions.add(key)
            self.cards.append(card)
            added += 1


def question_key(question: str) -> str:
    """Identity of a question for de-duplication: words only, case-folded."""
    return " ".join(re.findall(r"\w+", question.casefold()))


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _no_cards(ctx: JobContext) -> None:
    if retry_can_help(ctx.generator):
        raise RetryableError("The model returned no usable flashcards for this material.")
    raise PermanentError(
        "No flashcards could be made from this material: it has no definitions or "
        "key-term sentences to quote. Paste fuller notes (complete sentences such as "
        "'Osmosis is ...'), or configure an API key."
    )


HANDLER = JobHandler(
    job_type=JobType.FLASHCARD_GENERATION,
    payload_model=FlashcardPayload,
    run=generate_flashcards,
)
