"""The JSON API's envelopes and error body: the shapes the edge adds around the queue's and
the library's models. The OpenAPI components are generated from these same classes."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from handlers.models import WireModel
from server.queue.jobs import Job, JobStatus
from server.store.models import Flashcard


class JobPage(WireModel):
    """``GET /api/jobs``: newest first; ``next`` is the cursor to pass as ``before``."""

    jobs: list[Job]
    next: str | None


class FlashcardList(WireModel):
    flashcards: list[Flashcard]


class ErrorDetail(WireModel):
    field: str
    message: str


class ErrorBody(WireModel):
    """Every error: a sentence a person can read and a code a program can branch on.

    The optional fields are what particular errors add (``details`` for validation,
    ``retryAfter`` in seconds for rate limits, the job's ``status`` for a refused retry or
    cancel); further fields an error carries are passed through rather than refused.
    """

    model_config = ConfigDict(extra="allow")

    error: str
    code: str
    details: list[ErrorDetail] | None = None
    retry_after: int | None = None
    status: JobStatus | None = None


def json_model(
    model: BaseModel,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    exclude_none: bool = False,
) -> web.Response:
    """A model as the response body, serialized by pydantic-core straight to JSON text."""
    return web.Response(
        text=model.model_dump_json(by_alias=True, exclude_none=exclude_none),
        status=status,
        headers=headers,
        content_type="application/json",
    )
