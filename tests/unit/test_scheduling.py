"""FSRS scheduling as the review endpoint applies it: the contract's semantics, on a new card
and on a card already in review, with timezone-aware times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.store.scheduling import RATINGS, review

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def new_card() -> dict[str, Any]:
    return {"review_state": "new", "learning_step": None, "stability": None,
            "difficulty": None, "due": NOW, "reps": 0, "lapses": 0, "last_reviewed_at": None}


def as_row(card: dict[str, Any], rating: str, when: datetime) -> dict[str, Any]:
    done = review(card, rating, desired_retention=0.9, now=when)
    return {"review_state": done.state, "learning_step": done.learning_step,
            "stability": done.stability, "difficulty": done.difficulty, "due": done.due,
            "reps": done.reps, "lapses": done.lapses, "last_reviewed_at": when}


def in_review() -> dict[str, Any]:
    """A card graduated to review with "good", "good", then reviewed on its due date."""
    card = as_row(new_card(), "good", NOW)
    card = as_row(card, "good", card["due"])
    assert card["review_state"] == "review"
    return card


def interval(card: dict[str, Any], rating: str) -> timedelta:
    when = card["due"]
    return review(card, rating, desired_retention=0.9, now=when).due - when


def test_after_again_a_new_card_is_due_within_a_day() -> None:
    assert interval(new_card(), "again") <= timedelta(days=1)


@pytest.mark.parametrize("rating", ["good", "easy"])
def test_after_good_or_easy_a_new_card_is_not_due_now(rating: str) -> None:
    assert review(new_card(), rating, desired_retention=0.9, now=NOW).due > NOW


@pytest.mark.parametrize("card", [new_card, in_review], ids=["new", "in review"])
def test_easy_is_never_sooner_than_good_nor_good_than_hard(card: Any) -> None:
    hard, good, easy = (interval(card(), r) for r in ("hard", "good", "easy"))
    assert easy >= good >= hard


def test_forgetting_a_card_in_review_counts_a_lapse_and_relearns_it() -> None:
    done = review(in_review(), "again", desired_retention=0.9, now=NOW + timedelta(days=30))
    assert (done.state, done.lapses, done.reps) == ("relearning", 1, 3)
    assert done.due - (NOW + timedelta(days=30)) <= timedelta(days=1)


def test_a_higher_desired_retention_schedules_reviews_sooner() -> None:
    card = in_review()
    strict = review(card, "good", desired_retention=0.97, now=card["due"]).due
    relaxed = review(card, "good", desired_retention=0.70, now=card["due"]).due
    assert strict < relaxed


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        review(new_card(), "good", desired_retention=0.9, now=datetime(2026, 1, 1))


def test_every_contract_rating_maps_to_an_fsrs_rating() -> None:
    assert list(RATINGS) == ["again", "hard", "good", "easy"]
