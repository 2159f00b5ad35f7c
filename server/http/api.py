"""The JSON API of the contract (/api/...). Views validate at the edge, call a verb of the
queue or the library, and render camelCase JSON; errors are raised as server.errors values
and turned into responses in one place (server.http)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.models import PAYLOAD_MODELS, DistractorPayload, JobType
from server.errors import InvalidJson, NotFound, UnsupportedMediaType, ValidationFailed
from server.http.auth import require_user
from server.http.events import JobStream
from server.keys import HUB, LIBRARY, METRICS, QUEUE, SETTINGS
from server.queue.engine import Enqueued
from server.queue.jobs import JobStatus, job_to_json

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 200
DEFAULT_PAGE = 20
MAX_PAGE = 100


class CreateJobRequest(BaseModel):
    """The envelope of POST /api/jobs; ``payload`` is checked against the type's model."""

    model_config = ConfigDict(extra="forbid")

    type: JobType
    payload: dict[str, Any]
    priority: Annotated[int, Field(ge=0, le=10, strict=True)] = 0


class ListJobsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: JobStatus | None = None
    type: JobType | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    before: str | None = None


def validation_details(err: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    details = []
    for item in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in (*prefix, *item["loc"]))
        details.append({"field": loc or "body", "message": item["msg"]})
    return details


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


def encode_cursor(row: Any) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
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


def _enqueued_response(enqueued: Enqueued, request: web.Request) -> web.Response:
    job = job_to_json(enqueued.job)
    headers = {"Location": f"/api/jobs/{job['id']}"}
    if enqueued.rate is not None:
        headers.update(enqueued.rate.headers())
    if enqueued.created:
        request.app[METRICS].jobs_enqueued.labels(job["type"]).inc()
    return web.json_response(job, status=201 if enqueued.created else 200, headers=headers)


async def validate_job_request(
    request: web.Request, user_id: UUID, body: dict[str, Any]
) -> tuple[CreateJobRequest, BaseModel]:
    """The envelope and its typed payload, or ValidationFailed; shared by the JSON API and
    the dashboard's no-script form posts (server.pages), so both refuse the same input."""
    try:
        envelope = CreateJobRequest.model_validate(body)
    except ValidationError as err:
        raise ValidationFailed(
            "The job request is not valid.", details=validation_details(err)
        ) from None
    model = PAYLOAD_MODELS[envelope.type]
    try:
        payload = model.model_validate(envelope.payload)
    except ValidationError as err:
        raise ValidationFailed(
            f"The payload is not valid for {envelope.type.value}.",
            details=validation_details(err, ("payload",)),
        ) from None
    if isinstance(payload, DistractorPayload) and not await request.app[
        LIBRARY
    ].flashcard_exists(user_id, payload.flashcard_id):
        raise ValidationFailed(
            "The flashcard does not exist.",
            details=[{"field": "payload.flashcardId", "message": "no such flashcard"}],
        )
    return envelope, payload


@routes.post("/api/jobs")
async def create_job(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await read_json_object(request)
    envelope, payload = await validate_job_request(request, user.id, body)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ValidationFailed(
            "The Idempotency-Key header must be 1 to 200 printable characters.",
            details=[{"field": "Idempotency-Key", "message": "invalid"}],
        )
    enqueued = await request.app[QUEUE].enqueue(
        user.id,
        envelope.type.value,
        payload.model_dump(mode="json", by_alias=True, exclude_none=True),
        priority=envelope.priority,
        idempotency_key=key,
    )
    return _enqueued_response(enqueued, request)


@routes.get("/api/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    user = require_user(request)
    try:
        query = ListJobsQuery.model_validate(dict(request.query))
    except ValidationError as err:
        raise ValidationFailed(
            "The query parameters are not valid.", details=validation_details(err)
        ) from None
    before = decode_cursor(query.before) if query.before else None
    rows = await request.app[QUEUE].page(
        user.id,
        status=query.status.value if query.status else None,
        job_type=query.type.value if query.type else None,
        limit=query.limit,
        before=before,
    )
    next_cursor = encode_cursor(rows[-1]) if len(rows) == query.limit else None
    return web.json_response({"jobs": [job_to_json(r) for r in rows], "next": next_cursor})


@routes.get("/api/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    user = require_user(request)
    row = await request.app[QUEUE].get(user.id, parse_uuid(request.match_info["id"]))
    return web.json_response(job_to_json(row))


@routes.post("/api/jobs/{id}")
@routes.post("/api/jobs/{id}/retry")
async def retry_job(request: web.Request) -> web.Response:
    user = require_user(request)
    enqueued = await request.app[QUEUE].retry(user.id, parse_uuid(request.match_info["id"]))
    return _enqueued_response(enqueued, request)


@routes.delete("/api/jobs/{id}")
async def cancel_job(request: web.Request) -> web.Response:
    user = require_user(request)
    row = await request.app[QUEUE].cancel(user.id, parse_uuid(request.match_info["id"]))
    return web.json_response(job_to_json(row))


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
    return web.json_response({"flashcards": cards})


@routes.get("/api/flashcards/{id}")
async def get_flashcard(request: web.Request) -> web.Response:
    user = require_user(request)
    card_id = parse_uuid(request.match_info["id"], "flashcard")
    return web.json_response(await request.app[LIBRARY].flashcard(user.id, card_id))


@routes.get("/api/skill-trees/{id}")
async def get_skill_tree(request: web.Request) -> web.Response:
    user = require_user(request)
    tree_id = parse_uuid(request.match_info["id"], "skill tree")
    return web.json_response(await request.app[LIBRARY].skill_tree(user.id, tree_id))
