"""Spans of time as a learner reads them: "10 min" on a rating button, "in 3 days" for when
a card comes back. Pages never print raw seconds."""

from __future__ import annotations

from datetime import datetime

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR
MONTH = 30 * DAY
YEAR = 365 * DAY


def _count(value: float, unit: str) -> str:
    number = max(1, round(value))
    return f"{number} {unit}{'' if number == 1 else 's'}"


def short_interval(seconds: float) -> str:
    """A rating button's interval, Anki-style: "1 min", "10 min", "5 h", "8 days", "3 mo"."""
    if seconds < HOUR:
        return f"{max(1, round(seconds / MINUTE))} min"
    if seconds < DAY:
        return f"{round(seconds / HOUR)} h"
    if seconds < MONTH:
        return _count(seconds / DAY, "day")
    if seconds < YEAR:
        return f"{round(seconds / MONTH)} mo"
    return f"{seconds / YEAR:.1f} yr".replace(".0 ", " ")


def span_words(seconds: float) -> str:
    """A span in words: "a minute", "10 minutes", "3 hours", "8 days", "2 months"."""
    if seconds < 90:
        return "a minute"
    if seconds < HOUR:
        return _count(seconds / MINUTE, "minute")
    if seconds < DAY:
        return _count(seconds / HOUR, "hour")
    if seconds < MONTH:
        return _count(seconds / DAY, "day")
    if seconds < YEAR:
        return _count(seconds / MONTH, "month")
    return _count(seconds / YEAR, "year")


def due_words(due: datetime, now: datetime) -> str:
    """When a card is due, from ``now``: "due now", "due in 10 minutes", "due in 8 days"."""
    seconds = (due - now).total_seconds()
    if seconds <= 0:
        return "due now"
    return f"due in {span_words(seconds)}"
