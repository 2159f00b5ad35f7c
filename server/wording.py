"""What a person reads about time and about kinds of job, written once.

Messages people read never show internal names (``distractor_generation``) or raw seconds
("try again in 2307 seconds"): the rate limit's refusal, the job page's retry sentence and
the worker's time-out message, and the review page's intervals ("Good · 10 min", "due in
8 days") all take their words from here. The machine-readable parts
(``Retry-After``, ``retryAfter``, the job's ``type``) stay exact; only the sentence is
rounded for people.
"""

from __future__ import annotations

import math
from datetime import datetime

from handlers.models import JobType

MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S

# What a job of each type does, as the verb phrase a sentence needs: "You can make
# answer choices 20 times an hour".
JOB_ACTIONS = {
    JobType.FLASHCARD_GENERATION: "make flashcards",
    JobType.DISTRACTOR_GENERATION: "make answer choices",
    JobType.SKILL_TREE_GENERATION: "make a skill tree",
}


def job_action(job_type: str) -> str:
    try:
        return JOB_ACTIONS[JobType(job_type)]
    except ValueError:  # a type this release does not know: still no internal name shown
        return "start this kind of job"


def duration_in_words(seconds: float) -> str:
    """A wait as a person says it, never shorter than it is: under a minute is "a few
    seconds"; minutes round up ("39 minutes" for 2307 s, "1 minute" for 61 s, never
    "0 minutes"); from an hour on, "about N hours"; from a day and a half, "about N days"."""
    if math.isnan(seconds) or seconds < MINUTE_S:
        return "a few seconds"
    if math.isinf(seconds):
        return "a long time"
    minutes = math.ceil(seconds / MINUTE_S)
    if minutes < 60:
        return _count(minutes, "minute")
    if seconds < 36 * HOUR_S:
        hours = max(1, round(seconds / HOUR_S))
        return "about an hour" if hours == 1 else f"about {hours} hours"
    return f"about {round(seconds / DAY_S)} days"


def time_from_now(seconds: float) -> str:
    """``in 39 minutes``, ``in about 2 hours``, ``in a few seconds`` (also for a time that
    has just passed: the job waits for a free worker)."""
    return f"in {duration_in_words(seconds)}"


def times_an_hour(count: int) -> str:
    if count == 1:
        return "once an hour"
    if count == 2:
        return "twice an hour"
    return f"{count} times an hour"


def rate_limit_message(job_type: str, limit: int, retry_after_s: float) -> str:
    """The 429's sentence: "You can make answer choices 20 times an hour; try again in
    39 minutes." """
    return (
        f"You can {job_action(job_type)} {times_an_hour(limit)}; "
        f"try again {time_from_now(retry_after_s)}."
    )


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ------------------------------------------------------------------ review intervals
# A wait rounds up (never "try again in 0 minutes" for 20 s); an interval of the review
# schedule rounds to the nearest unit, as Anki prints them on its buttons.

MONTH_S = 30 * DAY_S
YEAR_S = 365 * DAY_S


def _rounded(value: float, unit: str) -> str:
    return _count(max(1, round(value)), unit)


def short_interval(seconds: float) -> str:
    """A rating button's interval, Anki-style: "1 min", "10 min", "5 h", "8 days", "3 mo"."""
    if seconds < HOUR_S:
        return f"{max(1, round(seconds / MINUTE_S))} min"
    if seconds < DAY_S:
        return f"{round(seconds / HOUR_S)} h"
    if seconds < MONTH_S:
        return _rounded(seconds / DAY_S, "day")
    if seconds < YEAR_S:
        return f"{round(seconds / MONTH_S)} mo"
    return f"{seconds / YEAR_S:.1f} yr".replace(".0 ", " ")


def span_words(seconds: float) -> str:
    """A span in words: "a minute", "10 minutes", "3 hours", "8 days", "2 months"."""
    if seconds < 90:
        return "a minute"
    if seconds < HOUR_S:
        return _rounded(seconds / MINUTE_S, "minute")
    if seconds < DAY_S:
        return _rounded(seconds / HOUR_S, "hour")
    if seconds < MONTH_S:
        return _rounded(seconds / DAY_S, "day")
    if seconds < YEAR_S:
        return _rounded(seconds / MONTH_S, "month")
    return _rounded(seconds / YEAR_S, "year")


def due_words(due: datetime, now: datetime) -> str:
    """When a card is due, from ``now``: "due now", "due in 10 minutes", "due in 8 days"."""
    seconds = (due - now).total_seconds()
    if seconds <= 0:
        return "due now"
    return f"due in {span_words(seconds)}"


# A job's status inside a sentence: "The job is already done", "this one is still running".
STATUS_WORDS = {
    "pending": "still waiting to run",
    "processing": "still running",
    "completed": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}


def status_words(status: str) -> str:
    return STATUS_WORDS.get(str(status), str(status))
