"""What the pages say about a job, written once in Python for the page, its fragments and
the screen-reader announcements (nothing of it is repeated in JavaScript)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.http.pages import (
    detail_sentence,
    job_announcement,
    progress_sentence,
    row_announcement,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def job(status: str, job_type: str = "flashcard_generation", **fields: Any) -> dict[str, Any]:
    return {"status": status, "type": job_type, "progress": None, "nextRetryAt": None,
            "attempts": 1, "maxAttempts": 3, "error": None, **fields}


@pytest.mark.parametrize(("state", "sentence"), [
    (job("pending", attempts=0), "Waiting for a free worker…"),
    (job("processing"), "Working on it…"),
    (job("processing", progress={"chunk": 2, "chunks": 5}), "Chunk 2 of 5"),
    (job("processing", progress={"done": 9, "total": 4}), "Chunk 4 of 4"),  # never past the end
    (job("processing", progress={"chunk": "2", "chunks": 5}), "Working on it…"),
])
def test_progress_sentence_says_how_far_an_unfinished_job_is(
    state: dict[str, Any], sentence: str
) -> None:
    assert progress_sentence(state) == sentence


def test_job_announcement_says_what_changed_and_what_was_made() -> None:
    cards = [{"id": "a"}, {"id": "b"}]
    assert job_announcement(job("pending"), [], None) == "Queued."
    assert job_announcement(job("processing", progress={"chunk": 1, "chunks": 2}), [], None) \
        == "Generating flashcards... Chunk 1 of 2"
    assert job_announcement(job("completed"), cards, None) == "Done: 2 flashcards ready."
    assert job_announcement(job("completed"), cards[:1], None) == "Done: 1 flashcard ready."
    tree = {"nodeCount": 7}
    assert job_announcement(job("completed", "skill_tree_generation"), [], tree) \
        == "Done: a skill tree with 7 skills."
    assert job_announcement(job("completed", "distractor_generation"), [], None) \
        == "Done: answer choices ready."
    assert job_announcement(job("failed", error="The key was refused."), [], None) \
        == "Generation failed: The key was refused."
    assert job_announcement(job("cancelled"), [], None) == "You cancelled this."


def test_a_job_row_speaks_only_when_its_job_finishes() -> None:
    assert row_announcement(job("processing")) == ""
    assert row_announcement(job("completed")) == "Flashcards: Done."
    assert row_announcement(job("failed", "skill_tree_generation")) == "Skill tree: Failed."


def retrying(after_s: float, error: str | None, attempts: int = 1) -> dict[str, Any]:
    return job("pending", attempts=attempts, maxAttempts=5, error=error,
               nextRetryAt=(NOW + timedelta(seconds=after_s)).isoformat())


@pytest.mark.parametrize(("state", "sentence"), [
    (retrying(50, "The AI service was busy (too many requests).", attempts=1),
     "The AI service was busy (too many requests), so we'll try again in a few seconds "
     "(attempt 2 of 5)."),
    (retrying(61, "The AI service was overloaded.", attempts=2),
     "The AI service was overloaded, so we'll try again in 2 minutes (attempt 3 of 5)."),
    (retrying(3 * 3600, "The AI service did not answer in time."),
     "The AI service did not answer in time, so we'll try again in about 3 hours "
     "(attempt 2 of 5)."),
    (retrying(-10, "Could not reach the AI service."),  # due: waiting for a free worker
     "Could not reach the AI service, so we'll try again in a few seconds (attempt 2 of 5)."),
    (retrying(90, None),
     "Something went wrong, so we'll try again in 2 minutes (attempt 2 of 5)."),
    (retrying(90, "Two things. Both went wrong."),
     "Two things. Both went wrong. We'll try again in 2 minutes (attempt 2 of 5)."),
])
def test_a_job_waiting_to_retry_says_what_happened_and_when_in_plain_words(
    state: dict[str, Any], sentence: str
) -> None:
    assert progress_sentence(state, now=NOW) == sentence
    assert "seconds" not in sentence.replace("a few seconds", "")


def test_a_malformed_retry_time_still_reads_as_a_sentence() -> None:
    state = job("pending", nextRetryAt="not a time", error="The AI service was overloaded.")
    assert progress_sentence(state, now=NOW) == (
        "The AI service was overloaded, so we'll try again in a few seconds (attempt 2 of 3)."
    )


def test_form_errors_name_the_forms_labels_not_the_apis_fields() -> None:
    assert detail_sentence({"field": "payload.maxCards",
                            "message": "Input should be less than or equal to 50"}) == (
        "Cards, at most: Input should be less than or equal to 50")
    assert detail_sentence({"field": "payload.maxDepth", "message": "Field required"}) == (
        "Levels: Field required")
    assert "sneaky" not in detail_sentence(
        {"field": "payload.sneaky", "message": "Extra inputs are not permitted"})
