"""What the pages say about a job, written once in Python for the page, its fragments and
the screen-reader announcements (nothing of it is repeated in JavaScript)."""

from __future__ import annotations

from typing import Any

import pytest

from server.http.pages import job_announcement, progress_sentence, row_announcement


def job(status: str, job_type: str = "flashcard_generation", **fields: Any) -> dict[str, Any]:
    return {"status": status, "type": job_type, "progress": None, "nextRetryAt": None,
            "attempts": 1, "maxAttempts": 3, "error": None, **fields}


@pytest.mark.parametrize(("state", "sentence"), [
    (job("pending", attempts=0), "Waiting for a free worker…"),
    (job("processing"), "Working on it…"),
    (job("processing", progress={"chunk": 2, "chunks": 5}), "Chunk 2 of 5"),
    (job("processing", progress={"done": 9, "total": 4}), "Chunk 4 of 4"),  # never past the end
    (job("processing", progress={"chunk": "2", "chunks": 5}), "Working on it…"),
    (job("pending", nextRetryAt="2026-01-01T00:00:00+00:00"),
     "Retrying soon (attempt 1 of 3 hit a snag)"),
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
    assert job_announcement(job("cancelled"), [], None) == "Cancelled."


def test_a_job_row_speaks_only_when_its_job_finishes() -> None:
    assert row_announcement(job("processing")) == ""
    assert row_announcement(job("completed")) == "Flashcards: Done."
    assert row_announcement(job("failed", "skill_tree_generation")) == "Skill tree: Failed."
