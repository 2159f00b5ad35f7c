"""The JSON API of the contract (/api/...). Views validate at the edge, call a verb of the
job service, the queue or the library, and dump the models they get back by alias; errors
are raised as server.errors values and turned into responses in one place
(server.http.errors, through the middleware)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.models import JobType
from server.errors import InvalidJson, NotFound, UnsupportedMediaType, ValidationFailed
from server.http.auth import require_user
from server.http.errors import rate_limit_headers
from server.http.events import JobStream
from server.http.schemas import FlashcardList, JobPage, json_model
from server.keys import HUB, JOBS, LIBRARY, QUEUE, SETTINGS
from server.queue.engine import Enqueued
from server.queue.jobs import JobStatus, job_summary

routes = web.RouteTableDef()

DEFAULT_PAGE = 20
MAX_PAGE = 100


class ListJobsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: JobStatus | None = None
    type: JobType | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    before: str | None = None


def parse_uuid(raw: str, what: str = "job") -> UUID:
    """A malformed id names nothing, so it is a 404 like any other missing row."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"No such {what}.") from None


def is_json_media_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object. Only a body declared as JSON is read as JSON (the contract's
    415): text/plain is what a cross-site form can send without a CORS preflight."""
    if not is_json_media_type(request.content_type):
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = await request.read()
    try:
        # orjson bounds nesting (1024 levels) and refuses invalid UTF-8, lone surrogates and
        # NaN: the standard decoder recursed once per bracket into a RecursionError (a 500).
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidJson("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The request body must be a JSON object.",
            details=[{"field": "body", "message": "expected an object"}],
        )
    return body


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    """The ``next`` of a page of jobs or decks: the (created_at, id) its last row has."""
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_CHARS = 200


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (created_at, id) a page ended at. Only what encode_cursor makes is accepted: an
    aware time that converts to UTC (one at the edge of the datetime range overflowed inside
    asyncpg, a 500) and a UUID."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
            raise ValueError("not a cursor")
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, job_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("not a cursor")
        return at.astimezone(UTC), UUID(job_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "The 'before' cursor is not valid; pass the 'next' value of a previous page.",
            details=[{"field": "before", "message": "invalid cursor"}],
        ) from None


def _enqueued_response(enqueued: Enqueued) -> web.Response:
    headers = {"Location": f"/api/jobs/{enqueued.job.id}"}
    if enqueued.rate is not None:
        headers.update(rate_limit_headers(enqueued.rate))
    return json_model(enqueued.job, status=201 if enqueued.created else 200, headers=headers)


@routes.post("/api/jobs")
async def create_job(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await read_json_object(request)
    enqueued = await request.app[JOBS].create(
        user.id, body, idempotency_key=request.headers.get("Idempotency-Key")
    )
    return _enqueued_response(enqueued)


@routes.get("/api/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    user = require_user(request)
    try:
        query = ListJobsQuery.model_validate(dict(request.query))
    except ValidationError as err:
        raise ValidationFailed.from_pydantic("The query parameters are not valid.", err) from None
    before = decode_cursor(query.before) if query.before else None
    jobs = await request.app[QUEUE].page(
        user.id,
        status=query.status.value if query.status else None,
        job_type=query.type.value if query.type else None,
        limit=query.limit,
        before=before,
    )
    next_cursor = (
        encode_cursor(jobs[-1].created_at, jobs[-1].id) if len(jobs) == query.limit else None
    )
    return json_model(JobPage(jobs=[job_summary(job) for job in jobs], next=next_cursor))


@routes.get("/api/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    user = require_user(request)
    job = await request.app[QUEUE].get(user.id, parse_uuid(request.match_info["id"]))
    return json_model(job)


@routes.post("/api/jobs/{id}")
@routes.post("/api/jobs/{id}/retry")
async def retry_job(request: web.Request) -> web.Response:
    user = require_user(request)
    enqueued = await request.app[JOBS].retry(user.id, parse_uuid(request.match_info["id"]))
    return _enqueued_response(enqueued)


@routes.delete("/api/jobs/{id}")
async def cancel_job(request: web.Request) -> web.Response:
    user = require_user(request)
    job = await request.app[QUEUE].cancel(user.id, parse_uuid(request.match_info["id"]))
    return json_model(job)


@routes.get("/api/jobs/{id}/events")
async def job_events(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    job_id = parse_uuid(request.match_info["id"])
    await request.app[QUEUE].get(user.id, job_id)  # 404 before the stream starts
    return await _stream(request, user.id, job_id)


@routes.get("/api/events")
async def all_events(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    return await _stream(request, user.id, None)


async def _stream(request: web.Request, user_id: UUID, job_id: UUID | None) -> web.StreamResponse:
    app = request.app
    stream = JobStream(
        request, app[QUEUE], app[HUB], user_id, job_id, app[SETTINGS].keepalive_seconds
    )
    return await stream.run()


@routes.get("/api/flashcards")
async def list_flashcards(request: web.Request) -> web.Response:
    user = require_user(request)
    filters: dict[str, UUID | None] = {}
    for name in ("jobId", "goalId"):
        raw = request.query.get(name)
        try:
            filters[name] = UUID(raw) if raw else None
        except ValueError:
            raise ValidationFailed(
                f"'{name}' must be a UUID.", details=[{"field": name, "message": "invalid"}]
            ) from None
    cards = await request.app[LIBRARY].flashcards(
        user.id, job_id=filters["jobId"], goal_id=filters["goalId"]
    )
    return json_model(FlashcardList(flashcards=cards))


@routes.get("/api/flashcards/{id}")
async def get_flashcard(request: web.Request) -> web.Response:
    user = require_user(request)
    card_id = parse_uuid(request.match_info["id"], "flashcard")
    return json_model(await request.app[LIBRARY].flashcard(user.id, card_id))


@routes.get("/api/skill-trees/{id}")
async def get_skill_tree(request: web.Request) -> web.Response:
    user = require_user(request)
    tree_id = parse_uuid(request.match_info["id"], "skill tree")
    return json_model(await request.app[LIBRARY].skill_tree(user.id, tree_id))
