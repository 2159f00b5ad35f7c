"""Near-duplicate cards across a learner's whole library (rapidfuzz).

Two cards are the same card when their questions read the same after case, punctuation and
spacing are ignored (a score of 100), or when the questions are near-identical (a ratio of
at least QUESTION_SCORE: "What is osmosis?" / "What's osmosis?") *and* the answers agree
(ANSWER_SCORE). The answer check keeps "capital of France?" / "capital of Spain?" apart:
their questions differ by one word but their answers share nothing. And a different number
makes a different fact ("in 1789" / "in 1799"; "Paragraph 12" / "Paragraph 45"): cards
whose numbers differ are never duplicates, however alike their words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz, process, utils

from handlers.models import CardDraft

QUESTION_SCORE = 90.0
ANSWER_SCORE = 80.0
_NUMBER = re.compile(r"\d+")
# How many of the user's newest cards a job compares against: a bound on the work, which
# grows with cards x library (rapidfuzz does ~10^7 comparisons/s; 50 x 20,000 is 0.1 s).
LIBRARY_SCAN_LIMIT = 20_000


def drop_near_duplicates(
    cards: Sequence[CardDraft], library: Sequence[tuple[str, str]]
) -> tuple[list[CardDraft], int]:
    """The cards that are new to the library (or to each other), and how many were skipped.

    CPU-bound for a large library: call it off the event loop (``asyncio.to_thread``).
    """
    questions = [utils.default_process(q) for q, _a in library]
    answers = [utils.default_process(a) for _q, a in library]
    numbers = [_numbers(q, a) for q, a in library]
    kept: list[CardDraft] = []
    skipped = 0
    for card in cards:
        question = utils.default_process(card.question)
        answer = utils.default_process(card.answer)
        card_numbers = _numbers(card.question, card.answer)
        matches = process.extract(
            question, questions, scorer=fuzz.ratio, score_cutoff=QUESTION_SCORE, limit=None
        )
        if any(
            numbers[i] == card_numbers
            and (score == 100 or fuzz.ratio(answer, answers[i]) >= ANSWER_SCORE)
            for _match, score, i in matches
        ):
            skipped += 1
            continue
        kept.append(card)
        questions.append(question)
        answers.append(answer)
        numbers.append(card_numbers)
    return kept, skipped


def _numbers(question: str, answer: str) -> tuple[str, ...]:
    return tuple(_NUMBER.findall(question + " " + answer))
