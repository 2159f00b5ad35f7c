"""Durations and kinds of job as a person reads them (server.wording)."""

from __future__ import annotations

import math

import pytest

from handlers.models import JobType
from server.queue.jobs import JobStatus
from server.wording import (
    JOB_ACTIONS,
    duration_in_words,
    rate_limit_message,
    status_words,
    time_from_now,
)


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "a few seconds"),
    (-5, "a few seconds"),  # a retry time that just passed
    (1, "a few seconds"),
    (59.9, "a few seconds"),
    (60, "1 minute"),
    (61, "2 minutes"),  # rounded up: never sooner than it is
    (2307, "39 minutes"),
    (3540, "59 minutes"),
    (3541, "about an hour"),
    (3600, "about an hour"),
    (7200, "about 2 hours"),
    (2.6 * 3600, "about 3 hours"),
    (36 * 3600, "about 2 days"),
    (math.nan, "a few seconds"),
    (math.inf, "a long time"),
])
def test_durations_are_words_rounded_up_never_zero_minutes(seconds: float, words: str) -> None:
    assert duration_in_words(seconds) == words
    assert time_from_now(seconds) == f"in {words}"


def test_the_rate_limit_says_what_the_learner_can_do_and_when() -> None:
    assert rate_limit_message("distractor_generation", 20, 2307) == (
        "You can make answer choices 20 times an hour; try again in 39 minutes."
    )
    assert rate_limit_message("flashcard_generation", 1, 30) == (
        "You can make flashcards once an hour; try again in a few seconds."
    )
    assert rate_limit_message("skill_tree_generation", 2, 3600) == (
        "You can make a skill tree twice an hour; try again in about an hour."
    )
    assert "_" not in rate_limit_message("some_future_type", 5, 60)


def test_every_job_type_and_status_has_words() -> None:
    assert set(JOB_ACTIONS) == set(JobType)
    for status in JobStatus:
        assert "_" not in status_words(status)
    assert status_words("processing") == "still running"
