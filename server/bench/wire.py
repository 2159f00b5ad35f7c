"""``cardforge bench --wire``: what turning a job row into the JSON a client receives costs.

Every ``GET /api/jobs/{id}``, list page and SSE event pays it: ``Job.from_row`` (pydantic-core
validation of the row's Python values) and ``model_dump_json`` (serialization straight to
JSON text). No database: the row is a realistic completed job held in memory, with a
2,000-character payload and ten card ids in its result.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from server.http.schemas import JobPage
from server.queue.jobs import Job

PAGE = 20


def sample_row() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(), "user_id": uuid.uuid4(), "type": "flashcard_generation",
        "status": "completed", "payload": {"content": "Osmosis moves water. " * 95,
                                           "maxCards": 10},
        "result": {"flashcardIds": [str(uuid.uuid4()) for _ in range(10)], "count": 10,
                   "provider": "offline"},
        "error": None, "priority": 0, "attempts": 1, "max_attempts": 3,
        "progress": {"chunk": 1, "chunks": 1}, "retry_of": None, "cancel_requested": False,
        "run_at": now, "usage": {"inputTokens": 812, "outputTokens": 240,
                                 "provider": "offline", "model": "offline-1"},
        "version": 42, "created_at": now, "started_at": now, "completed_at": now,
    }


def _best_us(work: Any, number: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(number):
            work()
        best = min(best, time.perf_counter() - began)
    return best / number * 1e6


def wire_speed(*, number: int = 5_000, repeat: int = 5) -> int:
    row = sample_row()
    rows = [row] * PAGE
    job = Job.from_row(row)
    one = _best_us(lambda: Job.from_row(row).model_dump_json(by_alias=True), number, repeat)
    build = _best_us(lambda: Job.from_row(row), number, repeat)
    dump = _best_us(lambda: job.model_dump_json(by_alias=True), number, repeat)
    page = _best_us(
        lambda: JobPage(jobs=[Job.from_row(r) for r in rows], next=None).model_dump_json(
            by_alias=True
        ),
        max(number // PAGE, 1), repeat,
    )
    size = len(job.model_dump_json(by_alias=True))
    print(f"job row -> JSON ({size} bytes): {one:.1f} us (from_row {build:.1f} us + "
          f"model_dump_json {dump:.1f} us); a page of {PAGE}: {page:.0f} us "
          f"(best of {repeat} x {number} on this machine)")
    return 0
