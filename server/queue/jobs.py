"""Job status and its state machine, and the Job's wire shape.

    pending ──claim──▶ processing ──complete──▶ completed
       ▲                  │  │ └──permanent error / attempts used up──▶ failed
       └──retryable error─┘  └──cancel requested──▶ cancelled
       └──lease expired (reaper) / shutdown (attempt not charged)
    pending ──cancel──▶ cancelled
    failed, cancelled ──user retry──▶ (a new pending job with retryOf)

`StrEnum` values mirror the CHECK constraint on background_jobs.status in schema.sql.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any


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


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def job_to_json(row: Any) -> dict[str, Any]:
    """The contract's camelCase Job from a background_jobs row (JOB_COLUMNS)."""
    status = JobStatus(row["status"])
    retry_scheduled = status is JobStatus.PENDING and row["attempts"] > 0
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "status": status.value,
        "payload": _json(row["payload"]),
        "result": _json(row["result"]),
        "error": row["error"],
        "priority": row["priority"],
        "attempts": row["attempts"],
        "maxAttempts": row["max_attempts"],
        "progress": _json(row["progress"]),
        "retryOf": str(row["retry_of"]) if row["retry_of"] else None,
        "cancelRequested": row["cancel_requested"],
        "createdAt": iso_or_none(row["created_at"]),
        "startedAt": iso_or_none(row["started_at"]),
        "completedAt": iso_or_none(row["completed_at"]),
        "nextRetryAt": iso_or_none(row["run_at"]) if retry_scheduled else None,
        "usage": _json(row["usage"]),
        "version": row["version"],
    }
