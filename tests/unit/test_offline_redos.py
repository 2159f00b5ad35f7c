"""Hostile text cannot make the offline generator's patterns backtrack (issue 7, item 1).

Each test builds the input that used to blow one pattern up and checks that the work grows
linearly: the time for 8n characters against the time for n. Linear work gives a ratio
near 8, the quadratic patterns these tests were written against gave 64 and more (the
cubic ATX heading, thousands). The bound (32) leaves room for a busy machine while a
quadratic pattern cannot pass; the best of several runs keeps scheduling noise out.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.providers import answer_choices, facts
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

LINEAR_BOUND = 32.0
GROWTH = 8
MIN_BASE_S = 0.002  # below this, timer and scheduler noise swamp the measurement


def _time(work: Callable[[], object]) -> float:
    gc.disable()  # a collection landing in one run would be noise, not the pattern's cost
    try:
        began = time.perf_counter()
        work()
        return time.perf_counter() - began
    finally:
        gc.enable()


def assert_linear(work: Callable[[str], object], make: Callable[[int], str], n: int) -> None:
    """The best of interleaved runs of n and 8n characters: noise hits both alike."""
    while n < 1_000_000 and _time(partial(work, make(n))) < MIN_BASE_S:
        n *= 2  # a base run long enough to measure
    small, large = make(n), make(GROWTH * n)
    best_small = best_large = float("inf")
    for _ in range(7):
        best_small = min(best_small, _time(lambda: work(small)))
        best_large = min(best_large, _time(lambda: work(large)))
    ratio = best_large / best_small
    assert ratio < LINEAR_BOUND, f"{GROWTH}x the input ({len(small)} chars) took {ratio:.0f}x"


def _whole_generator(text: str) -> None:
    """Everything the offline provider does with a material."""
    extract_cards(text, 50)
    choose_distractors(
        question="What is it?", answer="the answer", count=3, material=text, other_answers=[]
    )
    tree_from_outline(Document.parse(text), goal="Goal", description=None, max_depth=3)


# ---------------------------------------------------------------- one test per pattern


def test_atx_heading_with_1000_spaces_does_not_backtrack() -> None:
    # The old "^(#{1,6})\s+(.+?)\s*#*\s*$" tried every split of the spaces: cubic.
    assert_linear(lambda s: parse_blocks(s), lambda n: "# a" + " " * n + "b", 2_000)
    assert_linear(lambda s: parse_blocks(s), lambda n: "# a" + " #" * n + "b\n", 2_000)


def test_sentence_end_after_a_run_of_full_stops_does_not_backtrack() -> None:
    # "[.!?]+...\s+" was retried from every stop of the run, each time scanning its rest.
    assert_linear(split_sentences, lambda n: "." * n + "a", 20_000)
    assert_linear(split_sentences, lambda n: "!?" * n + "')" * n, 10_000)


def test_paragraph_of_initials_does_not_split_quadratically() -> None:
    # Each candidate stop split the whole paragraph before it to find the previous word.
    assert_linear(split_sentences, lambda n: "Word A. " * n, 2_000)


def test_unclosed_inline_links_do_not_backtrack() -> None:
    assert_linear(clean_inline, lambda n: "![" * n, 20_000)
    assert_linear(clean_inline, lambda n: "[](" * n, 20_000)
    assert_linear(clean_inline, lambda n: "[a](" + "x" * n, 20_000)


def test_unclosed_underscore_emphasis_does_not_backtrack() -> None:
    # "_(\S(?:.*?\S)?)_" scanned to the end of the text from every underscore.
    assert_linear(clean_inline, lambda n: ("_a" + " " * 5) * n, 5_000)
    assert_linear(clean_inline, lambda n: "_ a" * n, 10_000)


def test_unclosed_html_tags_do_not_backtrack() -> None:
    assert_linear(clean_inline, lambda n: "<a" * n, 20_000)


def test_long_thousands_separated_number_does_not_backtrack() -> None:
    find = answer_choices._NUMBER_IN_TEXT.findall
    assert_linear(find, lambda n: "1,000" + ",000" * n + "x", 5_000)


def test_run_of_capitalised_words_does_not_backtrack() -> None:
    find = answer_choices._NAME_SEQUENCE.findall
    assert_linear(find, lambda n: "the word " + "Aa " * n, 5_000)


def test_who_did_sentence_with_many_time_phrases_does_not_backtrack() -> None:
    # A lazy object followed by an optional "in ..." tail to the end was quadratic.
    match = facts._WHO_DID.match
    assert_linear(match, lambda n: "Alan Turing invented " + "a b in " * n + ", x", 2_000)


def test_sentences_too_long_for_a_card_are_not_read_for_facts() -> None:
    # Every fact pattern runs on one sentence; the bound keeps a hostile one cheap.
    sentence = "Osmosis is the diffusion of water " + "and salt " * MAX_FACT_SENTENCE_CHARS
    assert fact_from_sentence(sentence, Document.parse(sentence).vocabulary) is None


def test_whole_generator_stays_linear_on_each_hostile_input() -> None:
    hostile: list[Callable[[int], str]] = [
        lambda n: "# a" + " " * n + "b",
        lambda n: "." * n + "a",
        lambda n: "![" * n,
        lambda n: ("_a" + " " * 5) * n,
        lambda n: "<a" * n,
        lambda n: "1,000" + ",000" * n + "x",
        lambda n: "The cat sat. " + "Aa " * n,
        lambda n: "Alan Turing invented " + "a b in " * n + ", x",
        lambda n: "Word A. " * n,
    ]
    for make in hostile:
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
    # Generous bound per character (normal prose costs ~10 us a character); the cubic
    # heading pattern took 3.7 s on 1,004 characters.
    began = time.perf_counter()
    _whole_generator(text)
    elapsed = time.perf_counter() - began
    assert elapsed < 0.25 + len(text) * 200e-6, f"{len(text)} characters took {elapsed:.2f} s"
