"""Spans of time in words (server/wording.py): never "0", never raw seconds, and a
longer span never reads shorter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from server.wording import due_words, short_interval, span_words

SPANS = st.floats(min_value=0, max_value=400 * 365 * 86_400, allow_nan=False)
UNITS = ["min", "h", "day", "mo", "yr"]


def magnitude(text: str) -> tuple[int, float]:
    number, unit = re.fullmatch(r"([\d.]+) (min|h|days?|mo|yr)", text).groups()  # type: ignore[union-attr]
    return UNITS.index(unit.rstrip("s")), float(number)


def test_the_fsrs_intervals_of_a_new_card_read_as_anki_shows_them() -> None:
    assert [short_interval(s) for s in (60, 330, 600, 8 * 86_400)] == [
        "1 min", "6 min", "10 min", "8 days"]
    assert short_interval(86_400) == "1 day"
    assert short_interval(45 * 86_400) == "2 mo"
    assert short_interval(2 * 365 * 86_400) == "2 yr"
    assert span_words(30) == "a minute" and span_words(600) == "10 minutes"
    assert span_words(3 * 3600) == "3 hours" and span_words(86_400) == "1 day"


@given(SPANS, SPANS)
def test_short_intervals_never_say_zero_and_keep_their_order(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert not short_interval(low).startswith("0")
    unit_low, n_low = magnitude(short_interval(low))
    unit_high, n_high = magnitude(short_interval(high))
    assert (unit_low, n_low) <= (unit_high, n_high) or unit_low < unit_high


@given(SPANS)
def test_spans_in_words_never_show_seconds_or_zero(seconds: float) -> None:
    words = span_words(seconds)
    assert "second" not in words and not words.startswith("0")
    assert re.fullmatch(r"(a minute|\d+ (minute|hour|day|month|year)s?)", words)


def test_due_words_says_now_for_the_past_and_the_present() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert due_words(now - timedelta(days=3), now) == "due now"
    assert due_words(now, now) == "due now"
    assert due_words(now + timedelta(minutes=10), now) == "due in 10 minutes"
