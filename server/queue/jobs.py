"""Job status and its state machine, and the Job's wire shape.

    pending ──claim──▶ processing ──complete──▶ completed
       ▲                  │  │ └──permanent error / attempts used up──▶ failed
       └──retryable error─┘  └──cancel requested──▶ cancelled
       └──lease expired (reaper) / shutdown (attempt not charged)
    pending ──cancel──▶ cancelled
    failed, cancelled ──user retry──▶ (a new pending job with retryOf)

`StrEnum` values mirror the CHECK constraint on background_jobs.status in schema.sql, and
tests/unit/test_job_transitions.py checks that every status change written in
server/queue/queries.py is an edge of ``TRANSITIONS``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from handlers.models import (
    DistractorPayload,
    DistractorResult,
    FlashcardPayload,
    FlashcardResult,
    JobType,
    SkillTreePayload,
    SkillTreeResult,
)
from server.wire import DocumentedAs, IsoTime, RowModel


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
RETRYABLE_BY_USER = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.PENDING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

JOB_COLUMNS = (
    "id, user_id, type, status, payload, result, error, priority, attempts, max_attempts, "
    "progress, retry_of, cancel_requested, run_at, usage, version, created_at, started_at, "
    "completed_at"
)


def _decoded(value: Any) -> Any:
    """A JSON column as the object it holds. A value stored as a JSON *string* of an object
    (written already-encoded through the pool's json codec) is read as that object, as the
    Job JSON always has been."""
    return json.loads(value) if isinstance(value, str) else value


class Usage(RowModel):
    """What the job's LLM calls cost, stored as JSON on the row (keys a newer release adds
    are ignored by an older reader rather than refused)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None: the model's price is unknown (offline: 0)
    provider: str | None = None
    model: str | None = None


JobPayload = Annotated[
    dict[str, Any], DocumentedAs(FlashcardPayload, DistractorPayload, SkillTreePayload)
]
JobResult = Annotated[
    dict[str, Any], DocumentedAs(FlashcardResult, DistractorResult, SkillTreeResult)
]


class Job(RowModel):
    """A job: what was asked (type, payload), where it stands, and what it made (result)."""

    id: UUID
    type: JobType
    status: JobStatus
    payload: Annotated[JobPayload, Field(description=(
        "What was asked. GET /api/jobs/{id} and the response to the request that created "
        "the job return it whole. In GET /api/jobs list items and in SSE events the long "
        "text fields are left out and replaced by their length in characters: content -> "
        "contentLength, description -> descriptionLength."))]
    result: JobResult | None
    error: str | None
    priority: int
    attempts: int
    max_attempts: int
    progress: dict[str, Any] | None
    retry_of: UUID | None
    cancel_requested: bool
    created_at: IsoTime
    started_at: IsoTime | None
    completed_at: IsoTime | None
    next_retry_at: IsoTime | None
    usage: Usage | None
    version: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """A background_jobs row (JOB_COLUMNS) as a Job."""
        retry_scheduled = row["status"] == JobStatus.PENDING and row["attempts"] > 0
        return cls.model_validate(
            {
                "id": row["id"],
                "type": row["type"],
                "status": row["status"],
                "payload": _decoded(row["payload"]),
                "result": _decoded(row["result"]),
                "error": row["error"],
                "priority": row["priority"],
                "attempts": row["attempts"],
                "max_attempts": row["max_attempts"],
                "progress": _decoded(row["progress"]),
                "retry_of": row["retry_of"],
                "cancel_requested": row["cancel_requested"],
                "created_at": row["created_at"],
                "started_at": row["started_at"],
                "completed_at": row["completed_at"],
                "next_retry_at": row["run_at"] if retry_scheduled else None,
                "usage": _decoded(row["usage"]),
                "version": row["version"],
            }
        )


# Payload fields that can hold a whole study text (100k characters). Streams and lists carry
# their length instead: every event and list item used to repeat the submitted text (a 41 KB
# line per progress tick). GET /api/jobs/{id} keeps the whole payload.
LONG_TEXT_FIELDS = ("content", "description")


def job_summary(job: Job) -> Job:
    """The Job of SSE events and list items: long payload text replaced by its length
    (``content`` -> ``contentLength``, ``description`` -> ``descriptionLength``)."""
    payload = job.payload
    if not any(name in payload for name in LONG_TEXT_FIELDS):
        return job
    slim = {k: v for k, v in payload.items() if k not in LONG_TEXT_FIELDS}
    for name in LONG_TEXT_FIELDS:
        value = payload.get(name)
        if isinstance(value, str):
            slim[f"{name}Length"] = len(value)
    return job.model_copy(update={"payload": slim})
