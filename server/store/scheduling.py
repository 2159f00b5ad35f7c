"""Spaced repetition with FSRS (py-fsrs 6, the scheduler Anki adopted): a card's stored
state in, the rescheduled state out.

Pure and cheap (a few float operations), so it runs inline, between the card's
``SELECT ... FOR UPDATE`` and its UPDATE. Times are timezone-aware UTC throughout: fsrs
refuses naive datetimes, and asyncpg returns timestamptz as aware UTC.

Fuzzing is off: with it, two cards reviewed alike drift apart by a random day or two
(Anki's load spreading), but "easy" could then land before "good", which the contract
rules out. Each rating's interval is a deterministic function of the card and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fsrs import Card, Rating, Scheduler, State

RATINGS: dict[str, Rating] = {
    "again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy,
}
_STATE_NAMES = {State.Learning: "learning", State.Review: "review", State.Relearning: "relearning"}
_STATES = {name: state for state, name in _STATE_NAMES.items()}
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Scheduled:
    """The columns a review writes: the card's new FSRS state and the log row's figures."""

    state: str
    learning_step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    reps: int
    lapses: int
    reviewed_at: datetime
    scheduled_days: float


@lru_cache(maxsize=64)
def scheduler_for(desired_retention: float) -> Scheduler:
    return Scheduler(desired_retention=desired_retention, enable_fuzzing=False)


def _as_fsrs_card(row: Any) -> Card:
    state = row["review_state"]
    # card_id is given: without one, fsrs mints an id from the clock and sleeps 1 ms.
    if state == "new":
        return Card(card_id=1, state=State.Learning, step=0, due=row["due"])
    return Card(
        card_id=1, state=_STATES[state], step=row["learning_step"],
        stability=row["stability"], difficulty=row["difficulty"], due=row["due"],
        last_review=row["last_reviewed_at"],
    )


def review(row: Any, rating: str, *, desired_retention: float, now: datetime | None = None
           ) -> Scheduled:
    """The card (a row with the FSRS columns) after ``rating`` at ``now``."""
    reviewed_at = now or datetime.now(UTC)
    if reviewed_at.tzinfo is None:
        raise ValueError("review times must be timezone-aware")
    before = row["review_state"]
    card, _log = scheduler_for(desired_retention).review_card(
        _as_fsrs_card(row), RATINGS[rating], reviewed_at
    )
    # fsrs 6 does not count repetitions or lapses; a lapse is forgetting a card in review.
    lapsed = before == "review" and rating == "again"
    return Scheduled(
        state=_STATE_NAMES[card.state],
        learning_step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        reps=row["reps"] + 1,
        lapses=row["lapses"] + (1 if lapsed else 0),
        reviewed_at=reviewed_at,
        scheduled_days=max((card.due - reviewed_at).total_seconds(), 0.0) / SECONDS_PER_DAY,
    )


def preview(row: Any, *, desired_retention: float, now: datetime | None = None
            ) -> dict[str, float]:
    """Seconds until the card would be due again after each rating at ``now``: what the
    review page prints on its rating buttons. Nothing is written."""
    at = now or datetime.now(UTC)
    return {
        rating: max((review(row, rating, desired_retention=desired_retention, now=at).due
                     - at).total_seconds(), 0.0)
        for rating in RATINGS
    }
