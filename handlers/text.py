"""Wording shared by the handlers and the offline generator, each written once.

Comparison forms (``normalize``, ``question_key``), the word pattern, plural and year
tests: the flashcard handler's de-duplication, the card linter and the generator's rules
must agree on them, so they live here and nowhere else.
"""

from __future__ import annotations

import re

# A year as study texts write one: 1000-2099.
YEAR = r"(?:1\d{3}|20\d{2})"
YEAR_WORD = re.compile(rf"(?<![\w-]){YEAR}(?![\w-])")
# A word: letters, then letters, digits, apostrophes or hyphens, ending on a letter or digit.
WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\u2019-]*[A-Za-z0-9]|[A-Za-z]")
_ARTICLES = frozenset({"a", "an", "the"})


def collapse_space(text: str) -> str:
    return " ".join(text.split())


def normalize(text: str) -> str:
    """The comparison form: case-folded, whitespace collapsed."""
    return collapse_space(text).casefold()


def words_of(text: str) -> list[str]:
    return WORD.findall(text)


def question_key(question: str) -> str:
    """A question's identity for de-duplication: its words, case-folded, articles dropped.

    "What is a compositor?" and "What is compositor?" are one question.
    """
    words = re.findall(r"\w+", question.casefold())
    return " ".join(w for w in words if w not in _ARTICLES)


def is_year(raw: str) -> bool:
    return YEAR_WORD.fullmatch(raw) is not None


def is_plural(word: str) -> bool:
    """ "cells", "layers"; not "gas", "osmosis", "virus", "glass"."""
    lower = word.lower()
    return lower.endswith("s") and not lower.endswith(("ss", "us", "is", "as"))
