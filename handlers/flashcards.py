"""flashcard_generation: material in, a de-duplicated, capped deck of cards out."""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata

from handlers.chunking import split_into_chunks
from handlers.context import JobContext
from handlers.duplicates import LIBRARY_SCAN_LIMIT, drop_near_duplicates
from handlers.errors import PermanentError, RetryableError
from handlers.generator import retry_can_help
from handlers.models import (
    DEFAULT_DECK_TITLE,
    CardDraft,
    FlashcardDeck,
    FlashcardPayload,
    JobType,
)
from handlers.registry import JobHandler
from handlers.sources import keep_supported
from handlers.text import question_key

DEFAULT_MAX_CARDS = 20
MAX_TITLE_CHARS = 200
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(\S.*)$", re.MULTILINE)


async def generate_flashcards(payload: FlashcardPayload, ctx: JobContext) -> FlashcardDeck:
    """One generator call and one progress event per chunk.

    The card budget is shared out over the chunks still to come (the remaining budget
    divided by the chunks left), so a long text is covered end to end instead of the
    first chunk using the whole budget; a chunk that yields less leaves more for later.
    """
    if payload.deck_id is not None and not await ctx.lookups.deck_exists(payload.deck_id):
        raise PermanentError("The deck these cards were to be added to no longer exists.")
    max_cards = payload.max_cards or DEFAULT_MAX_CARDS
    chunks = split_into_chunks(payload.content)
    deck = _Deck()
    unsupported = 0
    for number, chunk in enumerate(chunks, start=1):
        remaining = max_cards - len(deck.cards)
        ask = math.ceil(remaining / (len(chunks) - number + 1))
        if ask > 0:
            drafts = await ctx.generator.flashcards(chunk, max_cards=ask, usage=ctx.usage)
            drafts, dropped = await asyncio.to_thread(keep_supported, drafts, chunk)
            unsupported += dropped
            deck.add(drafts, limit=ask)
        await ctx.progress({"chunk": number, "chunks": len(chunks), "cards": len(deck.cards)})
    if not deck.cards:
        _no_cards(ctx)
    library = await ctx.lookups.library_cards(LIBRARY_SCAN_LIMIT)
    cards, skipped = await asyncio.to_thread(drop_near_duplicates, deck.cards, library)
    if not cards and payload.deck_id is None:
        raise PermanentError(
            f"Every card this material gives is already in your library ({skipped} "
            "near-duplicates), so no new deck was made."
        )
    return FlashcardDeck(
        cards=cards,
        message_id=payload.message_id,
        goal_id=payload.goal_id,
        node_id=payload.node_id,
        title=payload.title or deck_title(payload.content),
        deck_id=payload.deck_id,
        skipped_duplicates=skipped,
        dropped_unsupported=unsupported,
    )


def deck_title(material: str) -> str:
    """A new deck's title: the material's first Markdown heading, else its first non-blank
    line (leading ``#`` marks dropped), cut to 200 characters. Migration 0001 titles the
    decks of existing cards by the same rule."""
    heading = _HEADING.search(material)
    if heading is not None:
        line = heading.group(1)
    else:
        line = next((ln for ln in material.splitlines() if ln.strip()), "").lstrip("# \t")
    visible = "".join(ch for ch in line if not unicodedata.category(ch).startswith("C"))
    title = " ".join(visible.split())[:MAX_TITLE_CHARS].strip()
    return title or DEFAULT_DECK_TITLE


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
