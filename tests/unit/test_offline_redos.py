"""Hostile text cannot make the offline generator's patterns backtrack (issue 7, item 1).

Each test builds the input that used to blow one pattern up and checks that the work grows
linearly: the work for 8n characters against the work for n. Linear work gives a ratio
near 8; the quadratic patterns these tests were written against gave 64 and more (the
cubic ATX heading, hundreds).

No test here races a clock on a shared machine:

* a pattern's work is counted, not timed: ``tests.support.regex_steps`` replays the
  engine's backtracking step by step, so the ratio is the same number on every machine
  and the bound can be tight (12);
* a function that mixes patterns with Python (the heading scanner, the sentence
  splitter, the whole generator) is measured in CPU time of this process
  (``time.process_time``: a neighbour's load is not counted), the best of interleaved
  runs, against a loose bound (32). A ratio over it is measured again at twice and four
  times the size, and the test fails only if all three are over: a quadratic function is
  over at every size, a scheduling or cache hiccup is not three rounds running.
"""

from __future__ import annotations

import gc
import importlib
import random
import re
import time
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.providers import answer_choices, extract, facts
from handlers.providers.answer_choices import choose_distractors
from handlers.providers.extract import (
    BlockKind,
    Document,
    atx_heading,
    clean_inline,
    parse_blocks,
    split_sentences,
)
from handlers.providers.facts import MAX_FACT_SENTENCE_CHARS, fact_from_sentence
from handlers.providers.offline import extract_cards
from handlers.providers.outline import tree_from_outline
from tests.support.regex_steps import count_steps, match_end

GROWTH = 8
STEP_BOUND = 12.0  # counted work: linear is ~8, quadratic ~64
LINEAR_BOUND = 32.0  # CPU time: room for a busy machine, none for a quadratic function
ROUNDS = 3
MIN_BASE_S = 0.002  # below this much CPU time a run is too short to measure


def assert_linear_steps(
    pattern: re.Pattern[str], make: Callable[[int], str], n: int, *, method: str = "finditer"
) -> None:
    """The engine's counted steps on 8n characters against n: the same on every machine."""
    small, large = make(n), make(GROWTH * n)
    ratio = count_steps(pattern, large, method=method) / count_steps(pattern, small, method=method)
    assert ratio < STEP_BOUND, (
        f"{pattern.pattern[:60]!r}: {GROWTH}x the input ({len(small)} chars) took {ratio:.0f}x "
        "the steps"
    )


def _cpu(work: Callable[[], object]) -> float:
    gc.disable()  # a collection landing in one run would be noise, not the function's cost
    try:
        began = time.process_time()
        work()
        return time.process_time() - began
    finally:
        gc.enable()


def _cpu_ratio(work: Callable[[str], object], make: Callable[[int], str], n: int) -> float:
    """The best of interleaved runs of n and 8n characters: noise hits both alike."""
    while n < 1_000_000 and _cpu(partial(work, make(n))) < MIN_BASE_S:
        n *= 2  # a base run long enough to measure
    small, large = make(n), make(GROWTH * n)
    best_small = best_large = float("inf")
    for _ in range(7):
        best_small = min(best_small, _cpu(lambda: work(small)))
        best_large = min(best_large, _cpu(lambda: work(large)))
    return best_large / max(best_small, 1e-9)


def assert_linear(work: Callable[[str], object], make: Callable[[int], str], n: int) -> None:
    """Linear in CPU time; over the bound in every one of three rounds (n, 2n, 4n) to fail."""
    ratios = []
    for _ in range(ROUNDS):
        ratio = _cpu_ratio(work, make, n)
        if ratio < LINEAR_BOUND:
            return
        ratios.append(ratio)
        n *= 2
    shown = ", ".join(f"{r:.0f}x" for r in ratios)
    raise AssertionError(f"{GROWTH}x the input took {shown} the CPU time in {ROUNDS} rounds")


def _whole_generator(text: str) -> None:
    """Everything the offline provider does with a material."""
    extract_cards(text, 50)
    choose_distractors(
        question="What is it?", answer="the answer", count=3, material=text, other_answers=[]
    )
    tree_from_outline(Document.parse(text), goal="Goal", description=None, max_depth=3)


# ---------------------------------------------------------------- the counter itself

# What this project once shipped, each quadratic or worse on the input beside it.
_SHIPPED_SLOW = [
    (r"^(#{1,6})\s+(.+?)\s*#*\s*$", lambda n: "# a" + " " * n + "b"),  # cubic
    (r"_(\S(?:.*?\S)?)_", lambda n: ("_a" + " " * 5) * n),
    (r"[.!?]+[\"')\]]*\s+", lambda n: "." * n + "a"),
]


@pytest.mark.parametrize(("pattern", "make"), _SHIPPED_SLOW)
def test_the_step_counter_sees_the_backtracking_that_once_froze_the_loop(
    pattern: str, make: Callable[[int], str]
) -> None:
    compiled = re.compile(pattern)
    ratio = count_steps(compiled, make(GROWTH * 16)) / count_steps(compiled, make(16))
    assert ratio > 4 * STEP_BOUND


def test_the_step_counter_matches_what_the_engine_matches() -> None:
    """The model is only evidence if it backtracks like the engine: same matches, same ends."""
    pieces = ["a", "A", "Aa ", " ", ".", "!", "[", "]", "(", ")", "_", "<", ">", "1", ",000",
              ",", "*", ":", " is ", " by ", " in ", "-", "\u2014", "called ", "\n", "|"]
    rng = random.Random(12)
    for _name, pattern in _PATTERNS:
        for _ in range(60):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
            found = pattern.match(text)
            end = match_end(pattern, text)
            assert (found.end() if found else None) == end, (pattern.pattern, text)


# ---------------------------------------------------------------- every pattern, counted

_MODULES = [
    "handlers.text", "handlers.providers.extract", "handlers.providers.facts",
    "handlers.providers.card_lint", "handlers.providers.keyterms",
    "handlers.providers.answer_choices", "handlers.providers.offline", "handlers.chunking",
    "handlers.flashcards", "handlers.duplicates",
]


def _module_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Every compiled pattern of the modules that read user text, each once."""
    found: dict[str, tuple[str, re.Pattern[str]]] = {}
    for module_name in _MODULES:
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, re.Pattern):
                found.setdefault(value.pattern, (f"{module_name}.{name}", value))
    return list(found.values())


_PATTERNS = _module_patterns()
_HOSTILE: list[Callable[[int], str]] = [
    lambda n: "# a" + " " * n + "b",
    lambda n: "." * n + "a",
    lambda n: "![" * n,
    lambda n: "[](" * n,
    lambda n: ("_a" + " " * 5) * n,
    lambda n: "<a" * n,
    lambda n: "1,000" + ",000" * n + "x",
    lambda n: "The cat sat. " + "Aa " * n,
    lambda n: "Alan Turing invented " + "a b in " * n + ", x",
    lambda n: "Word A. " * n,
    lambda n: "| a " * n,  # table cells
    lambda n: "x is " * n,
    lambda n: "**" + "a " * n,
    lambda n: "Term" + " -" * n,  # glossary separators
    lambda n: "called " * n,
    lambda n: "12" + ".5" * n + " (km" * n,  # table values and header units
]


@pytest.mark.parametrize(("name", "pattern"), _PATTERNS, ids=[n for n, _ in _PATTERNS])
def test_every_pattern_is_linear_on_every_hostile_input(
    name: str, pattern: re.Pattern[str]
) -> None:
    # A pattern added to one of these modules is checked here without a test of its own.
    for make in _HOSTILE:
        assert_linear_steps(pattern, make, 16)


# ---------------------------------------------------------------- one test per pattern


def test_atx_heading_with_1000_spaces_does_not_backtrack() -> None:
    # The old "^(#{1,6})\s+(.+?)\s*#*\s*$" tried every split of the spaces: cubic.
    assert_linear(lambda s: parse_blocks(s), lambda n: "# a" + " " * n + "b", 2_000)
    assert_linear(lambda s: parse_blocks(s), lambda n: "# a" + " #" * n + "b\n", 2_000)


def test_sentence_end_after_a_run_of_full_stops_does_not_backtrack() -> None:
    # "[.!?]+...\s+" was retried from every stop of the run, each time scanning its rest.
    assert_linear_steps(extract._SENTENCE_END, lambda n: "." * n + "a", 200)
    assert_linear_steps(extract._SENTENCE_END, lambda n: "!?" * n + "')" * n, 100)
    assert_linear(split_sentences, lambda n: "." * n + "a", 20_000)


def test_paragraph_of_initials_does_not_split_quadratically() -> None:
    # Each candidate stop split the whole paragraph before it to find the previous word:
    # work in Python's string methods, which only CPU time sees.
    assert_linear(split_sentences, lambda n: "Word A. " * n, 2_000)


def test_unclosed_inline_links_do_not_backtrack() -> None:
    assert_linear_steps(extract._INLINE_LINK, lambda n: "![" * n, 200)
    assert_linear_steps(extract._INLINE_LINK, lambda n: "[](" * n, 200)
    assert_linear_steps(extract._INLINE_LINK, lambda n: "[a](" + "x" * n, 200)


def test_unclosed_underscore_emphasis_does_not_backtrack() -> None:
    # "_(\S(?:.*?\S)?)_" scanned to the end of the text from every underscore.
    assert_linear_steps(extract._EMPHASIS_UNDERSCORE, lambda n: ("_a" + " " * 5) * n, 50)
    assert_linear_steps(extract._EMPHASIS_UNDERSCORE, lambda n: "_ a" * n, 100)


def test_unclosed_html_tags_do_not_backtrack() -> None:
    assert_linear_steps(extract._HTML_TAG, lambda n: "<a" * n, 200)


def test_long_thousands_separated_number_does_not_backtrack() -> None:
    assert_linear_steps(answer_choices._NUMBER_IN_TEXT, lambda n: "1,000" + ",000" * n + "x", 100)


def test_run_of_capitalised_words_does_not_backtrack() -> None:
    assert_linear_steps(answer_choices._NAME_SEQUENCE, lambda n: "the word " + "Aa " * n, 100)


def test_who_did_sentence_with_many_time_phrases_does_not_backtrack() -> None:
    # A lazy object followed by an optional "in ..." tail to the end was quadratic.
    assert_linear_steps(
        facts._WHO_DID, lambda n: "Alan Turing invented " + "a b in " * n + ", x", 50,
        method="match",
    )


def test_table_and_list_glossary_patterns_do_not_backtrack() -> None:
    # Issue 12's table rows and list-item glossaries, on the inputs closest to their shape.
    assert_linear_steps(facts._LIST_GLOSSARY, lambda n: "a" + " -" * n, 100, method="match")
    assert_linear_steps(facts._LIST_GLOSSARY, lambda n: "**" + "a:" * n, 100, method="match")
    assert_linear_steps(facts._COUNT_VALUE, lambda n: "1" + " 1" * n, 100, method="match")
    assert_linear_steps(facts._HEADER_UNIT, lambda n: "a (" * n + ")", 100, method="match")
    assert_linear(parse_blocks, lambda n: "| a | b |\n|---|---|\n" + "| x | 1 |\n" * n, 200)


def test_sentences_too_long_for_a_card_are_not_read_for_facts() -> None:
    # Every fact pattern runs on one sentence; the bound keeps a hostile one cheap.
    sentence = "Osmosis is the diffusion of water " + "and salt " * MAX_FACT_SENTENCE_CHARS
    assert fact_from_sentence(sentence, Document.parse(sentence).vocabulary) is None


def test_whole_generator_stays_linear_on_each_hostile_input() -> None:
    for make in _HOSTILE:
        assert_linear(_whole_generator, make, 400)


# ---------------------------------------------------------------- behaviour kept


def test_atx_headings_parse_as_before() -> None:
    assert atx_heading("## Light reactions ##") == (2, "Light reactions")
    assert atx_heading("# C#") == (1, "C#")  # a closing run needs a space before it
    assert atx_heading("###### Six") == (6, "Six")
    assert atx_heading("####### Seven") is None
    assert atx_heading("#hashtag") is None
    assert atx_heading("#   ") is None


def test_rules_and_setext_underlines_are_still_recognised() -> None:
    text = "The big title\n=====\n\nText one.\n\n* * *\n\nthe sub\n---  \n\nText two."
    blocks = parse_blocks(text)
    assert [(b.kind, b.text) for b in blocks] == [
        (BlockKind.HEADING, "The big title"),
        (BlockKind.PARAGRAPH, "Text one."),
        (BlockKind.HEADING, "the sub"),
        (BlockKind.PARAGRAPH, "Text two."),
    ]


def test_inline_markup_is_still_removed() -> None:
    assert clean_inline("See [the docs](http://x.org/a_b) and _this_ <b>now</b>.") == (
        "See the docs and this now."
    )


# ---------------------------------------------------------------- fuzz

_PIECES = st.sampled_from(
    ["#", " ", ".", "!", "?", "[", "]", "(", ")", "_", "<", ">", "a", "A", "Aa ", ",", "1",
     ",000", "\n", "*", "'", " is ", " was ", " called ", " by ", " in ", "-", ":", "|", "`"]
)
_HOSTILE_TEXT = st.lists(st.tuples(_PIECES, st.integers(1, 400)), min_size=1, max_size=6).map(
    lambda runs: "".join(piece * count for piece, count in runs)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HOSTILE_TEXT)
def test_no_run_of_hostile_pieces_makes_the_generator_slow(text: str) -> None:
    # Generous bound per character of CPU time (normal prose costs ~10 us a character);
    # the cubic heading pattern took 3.7 s on 1,004 characters. The best of three runs:
    # one slow run on a loaded machine is not the generator's cost.
    bound = 0.25 + len(text) * 200e-6
    best = float("inf")
    for _ in range(ROUNDS):
        best = min(best, _cpu(lambda: _whole_generator(text)))
        if best < bound:
            return
    raise AssertionError(f"{len(text)} characters took {best:.2f} s of CPU time")
