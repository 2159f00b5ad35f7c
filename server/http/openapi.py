"""The OpenAPI document. Its components are generated from the pydantic models that validate
requests and that every response is dumped from, so the document cannot drift from them;
this module only lays out the paths."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from handlers.models import (
    PAYLOAD_MODELS,
    DistractorPayload,
    DistractorResult,
    FlashcardPayload,
    FlashcardResult,
    SkillTreePayload,
    SkillTreeResult,
)
from server.http.schemas import ErrorBody, FlashcardList, JobPage
from server.queue.jobs import Job
from server.queue.service import CreateJobRequest
from server.store.models import Flashcard, SkillTree

SSE_DESCRIPTION = (
    "Each event is `event: job` (or `progress`) with `id: <version>` and `data: <Job>`, the "
    "Job without its long payload text (content -> contentLength, description -> "
    "descriptionLength). Resume with Last-Event-ID. At most CARDFORGE_MAX_STREAMS_PER_USER "
    "streams per user (429 TOO_MANY_STREAMS)."
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("ErrorBody")}}}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description,
                     "content": {"application/json": {"schema": schema}}}}


def _job_id_param() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}


def _create_job_request() -> dict[str, Any]:
    """The envelope of POST /api/jobs, one variant per job type: ``payload``'s schema is the
    type's pydantic payload model (the envelope model itself can only say "an object")."""
    priority = CreateJobRequest.model_json_schema()["properties"]["priority"]
    variants = [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "payload"],
            "properties": {
                "type": {"const": job_type.value},
                "payload": _ref(model.__name__),
                "priority": priority,
            },
        }
        for job_type, model in PAYLOAD_MODELS.items()
    ]
    return {"oneOf": variants, "discriminator": {"propertyName": "type"}}


def _created_job_links(responses: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links: the id a 201 returns is what the job routes take (clients and
    stateful API testers follow these)."""
    by_id = {"id": "$response.body#/id"}
    responses["201"]["links"] = {
        "GetJob": {"operationId": "getJob", "parameters": by_id},
        "CancelJob": {"operationId": "cancelJob", "parameters": by_id},
        "RetryJob": {"operationId": "retryJob", "parameters": by_id},
    }
    return responses


@cache
def openapi_document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (FlashcardPayload, "validation"),
        (DistractorPayload, "validation"),
        (SkillTreePayload, "validation"),
        (FlashcardResult, "serialization"),
        (DistractorResult, "serialization"),
        (SkillTreeResult, "serialization"),
        (Job, "serialization"),
        (JobPage, "serialization"),
        (FlashcardList, "serialization"),
        (Flashcard, "serialization"),
        (SkillTree, "serialization"),
        (ErrorBody, "serialization"),
    ]
    _, defs = models_json_schema(
        models, by_alias=True, ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["CreateJobRequest"] = _create_job_request()
    job = _ref("Job")
    common = {"401": _error("Missing or invalid credentials")}
    not_found = {"404": _error("No such job (or not yours)")}
    too_many_streams = {"429": _error(
        "TOO_MANY_STREAMS: the user already has CARDFORGE_MAX_STREAMS_PER_USER streams open")}
    paths: dict[str, Any] = {
        "/api/jobs": {
            "post": {
                "summary": "Create a job",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "maxLength": 200}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("CreateJobRequest")}}},
                "responses": _created_job_links(_ok("Created", job, "201"))
                | _ok("Idempotent replay", job) | {
                    "400": _error("Invalid JSON"), "413": _error("Body too large"),
                    "415": _error("Body not declared as application/json"),
                    "422": _error("Validation error"), "429": _error("Rate limited"), **common},
            },
            "get": {
                "summary": "List your jobs, newest first",
                "parameters": [
                    {"name": "status", "in": "query", "schema": _ref("JobStatus")},
                    {"name": "type", "in": "query", "schema": _ref("JobType")},
                    {"name": "limit", "in": "query", "schema": {"type": "integer",
                                                                 "minimum": 1, "maximum": 100}},
                    {"name": "before", "in": "query", "schema": {"type": "string"}},
                ],
                "description": "List items leave the long payload text out: content and "
                               "description are replaced by contentLength and "
                               "descriptionLength (GET /api/jobs/{id} has them whole).",
                "responses": _ok("A page of jobs", _ref("JobPage")) | {
                    "422": _error("Invalid query"), **common},
            },
        },
        "/api/jobs/{id}": {
            "parameters": [_job_id_param()],
            "get": {"summary": "Get a job", "operationId": "getJob",
                    "responses": _ok("The job", job) | not_found | common},
            "post": {"summary": "Retry a failed or cancelled job (creates a new job)",
                     "operationId": "retryJob",
                     "responses": _ok("The new job", job, "201") | not_found | common | {
                         "409": _error("Not retryable"), "429": _error("Rate limited")}},
            "delete": {"summary": "Cancel a job", "operationId": "cancelJob",
                       "responses": _ok("The job", job) | not_found | common | {
                           "409": _error("Already finished")}},
        },
        "/api/jobs/{id}/retry": {
            "parameters": [_job_id_param()],
            "post": {"summary": "Retry (alias)",
                     "responses": _ok("The new job", job, "201") | not_found | common | {
                         "409": _error("Not retryable"), "429": _error("Rate limited")}},
        },
        "/api/jobs/{id}/events": {
            "parameters": [_job_id_param()],
            "get": {"summary": "SSE stream of one job", "operationId": "jobEvents",
                    "description": SSE_DESCRIPTION,
                    "responses": {"200": {"description": "text/event-stream",
                                          "content": {"text/event-stream": {}}},
                                  **not_found, **common, **too_many_streams}},
        },
        "/api/events": {"get": {"summary": "SSE stream of all your jobs",
                                "description": SSE_DESCRIPTION, "responses": {
            "200": {"description": "text/event-stream", "content": {"text/event-stream": {}}},
            **common, **too_many_streams}}},
        "/api/flashcards": {"get": {
            "summary": "Your flashcards",
            "parameters": [{"name": "jobId", "in": "query", "schema": {"type": "string"}},
                           {"name": "goalId", "in": "query", "schema": {"type": "string"}}],
            "responses": _ok("Flashcards", _ref("FlashcardList")) | common}},
        "/api/flashcards/{id}": {"parameters": [_job_id_param()], "get": {
            "summary": "A flashcard with its answer choices",
            "responses": _ok("The flashcard", _ref("Flashcard")) | not_found
            | common}},
        "/api/skill-trees/{id}": {"parameters": [_job_id_param()], "get": {
            "summary": "A skill tree (flat nodes)",
            "responses": _ok("The tree", _ref("SkillTree")) | not_found | common}},
        "/healthz": {"get": {"summary": "Liveness", "security": [],
                             "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"summary": "Readiness (database and LISTEN connection)",
                            "security": [], "responses": {"200": {"description": "ready"},
                                                          "503": {"description": "not ready"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "cardforge", "version": "0.1.0",
                 "description": "Background generation of flashcards, answer choices and "
                                "skill trees."},
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "cardforge_session"}}},
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }
