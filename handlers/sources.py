"""Sourced cards: a card's ``source`` must be a passage of its material, and its answer must
be supported by that passage. A card that fails either check is dropped and counted: a
quote the model made up, or an answer the quote does not hold, is how an LLM card goes
wrong without looking wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz, utils

from handlers.models import CardDraft

# partial_ratio finds the best-matching window: 90 lets a quote differ from the material by
# re-flowed whitespace, a changed quote mark or a dropped word.
QUOTE_IN_MATERIAL = 90.0
# The answer's words must be (nearly) all in the quote; short answers are matched whole.
ANSWER_IN_QUOTE = 85.0
ANSWER_WORDS_COVERED = 0.75


def quote_is_from(quote: str, material: str) -> bool:
    return fuzz.partial_ratio(
        utils.default_process(quote), utils.default_process(material)
    ) >= QUOTE_IN_MATERIAL


def answer_is_supported(answer: str, quote: str) -> bool:
    answer_n, quote_n = utils.default_process(answer), utils.default_process(quote)
    if not answer_n:
        return False
    if fuzz.partial_ratio(answer_n, quote_n) >= ANSWER_IN_QUOTE:
        return True
    words = [w for w in answer_n.split() if len(w) > 2]
    quoted = set(quote_n.split())
    return bool(words) and sum(w in quoted for w in words) / len(words) >= ANSWER_WORDS_COVERED


def keep_supported(
    cards: Sequence[CardDraft], material: str
) -> tuple[list[CardDraft], int]:
    """Cards whose source checks out (cards with no source are kept: not every generator
    quotes), and how many were dropped."""
    kept: list[CardDraft] = []
    dropped = 0
    for card in cards:
        if card.source is not None and not (
            quote_is_from(card.source, material) and answer_is_supported(card.answer, card.source)
        ):
            dropped += 1
            continue
        kept.append(card)
    return kept, dropped
