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
from server.http.library import (
    DeckPage,
    DueCards,
    DueQuery,
    EditCard,
    ExportQuery,
    ListDecksQuery,
    RateCard,
    RenameDeck,
)
from server.http.schemas import ErrorBody, FlashcardList, JobPage
from server.queue.jobs import Job
from server.queue.service import CreateJobRequest
from server.store.models import (
    Deck,
    DeckWithCards,
    Flashcard,
    ReviewOutcome,
    SettingsUpdate,
    SkillTree,
    StudySettings,
)

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


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters, by alias, from its own JSON
    Schema (an optional field's ``anyOf [..., null]`` is just the type: a query string has
    no null)."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items()
                if k != "title" and not (k == "default" and v is None)}
        variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            prop = {**variants[0], **prop}
        params.append({"name": name, "in": "query", "required": name in required,
                       "schema": prop})
    return params


def _json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _no_content(description: str) -> dict[str, Any]:
    return {"204": {"description": description}}


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
        (Deck, "serialization"),
        (DeckWithCards, "serialization"),
        (DeckPage, "serialization"),
        (DueCards, "serialization"),
        (ReviewOutcome, "serialization"),
        (StudySettings, "serialization"),
        (RenameDeck, "validation"),
        (EditCard, "validation"),
        (RateCard, "validation"),
        (SettingsUpdate, "validation"),
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
            "parameters": [
                {"name": "jobId", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                {"name": "goalId", "in": "query", "schema": {"type": "string", "format": "uuid"}},
            ],
            "responses": _ok("Flashcards", _ref("FlashcardList")) | {
                "422": _error("VALIDATION_ERROR: jobId or goalId is not a UUID")} | common}},
        "/api/flashcards/{id}": {"parameters": [_job_id_param()], "get": {
            "summary": "A flashcard with its answer choices", "operationId": "getFlashcard",
            "responses": _linked(_ok("The flashcard", _ref("Flashcard")), CARD_LINKS, "/id")
            | _not_found("flashcard") | common}, **_card_edits(common)},
        "/api/skill-trees/{id}": {"parameters": [_job_id_param()], "get": {
            "summary": "A skill tree (flat nodes)",
            "responses": _ok("The tree", _ref("SkillTree")) | not_found | common}},
        **_library_paths(common),
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


# ---------------------------------------------------------------- the study library


# OpenAPI links: where a response names a deck or a card, the routes that take its id
# (clients and stateful API testers follow these from a list to its items).
DECK_LINKS = {"GetDeck": "getDeck", "RenameDeck": "renameDeck", "DeleteDeck": "deleteDeck",
              "ExportDeck": "exportDeck"}
CARD_LINKS = {"GetFlashcard": "getFlashcard", "EditFlashcard": "editFlashcard",
              "ReviewFlashcard": "reviewFlashcard", "DeleteFlashcard": "deleteFlashcard"}


def _linked(
    responses: dict[str, Any], links: dict[str, str], pointer: str, status: str = "200"
) -> dict[str, Any]:
    """``responses`` with links from its ``status`` answer: each operation gets the id at
    ``pointer`` in the body as its ``id`` path parameter."""
    by_id = {"id": f"$response.body#{pointer}"}
    responses[status]["links"] = {
        name: {"operationId": operation, "parameters": by_id} for name, operation in links.items()
    }
    return responses


def _not_found(what: str) -> dict[str, Any]:
    return {"404": _error(f"No such {what} (or not yours; also a malformed id)")}


def _body_errors() -> dict[str, Any]:
    """What a route with a JSON body may answer for a body it cannot use."""
    return {
        "400": _error("INVALID_JSON: the body is not JSON"),
        "403": _error("CSRF_REJECTED: a cookie-authenticated change from another site"),
        "413": _error("PAYLOAD_TOO_LARGE: the body is over 1 MiB"),
        "415": _error("UNSUPPORTED_MEDIA_TYPE: the body is not declared as JSON"),
        "422": _error("VALIDATION_ERROR: the body does not match its model (see details)"),
    }


def _card_edits(common: dict[str, Any]) -> dict[str, Any]:
    """PATCH and DELETE of /api/flashcards/{id} (the path item GET shares)."""
    return {
        "patch": {"summary": "Edit a card's question or answer", "operationId": "editFlashcard",
                  "requestBody": _json_body("EditCard"),
                  "responses": _linked(_ok("The card as edited", _ref("Flashcard")),
                                       CARD_LINKS, "/id")
                  | _not_found("flashcard") | _body_errors() | common},
        "delete": {"summary": "Delete a card (its answer choices and reviews go too)",
                   "operationId": "deleteFlashcard",
                   "responses": _no_content("Deleted") | _not_found("flashcard")
                   | {"403": _body_errors()["403"]} | common},
    }


def _library_paths(common: dict[str, Any]) -> dict[str, Any]:
    """The contract's "Study library" routes (server.http.library)."""
    deck_id = [_job_id_param()]
    no_deck = _not_found("deck")
    invalid_query = {"422": _error("VALIDATION_ERROR: a query parameter is not valid")}
    forbidden = {"403": _body_errors()["403"]}
    return {
        "/api/decks": {"get": {
            "summary": "Your decks, newest first", "operationId": "listDecks",
            "parameters": _query_params(ListDecksQuery),
            "responses": _linked(_ok("A page of decks", _ref("DeckPage")), DECK_LINKS,
                                 "/decks/0/id") | invalid_query | common}},
        "/api/decks/{id}": {
            "parameters": deck_id,
            "get": {"summary": "A deck with its cards in deck order", "operationId": "getDeck",
                    "responses": _linked(_ok("The deck", _ref("DeckWithCards")), CARD_LINKS,
                                         "/cards/0/id") | no_deck | common},
            "patch": {"summary": "Rename a deck", "operationId": "renameDeck",
                      "requestBody": _json_body("RenameDeck"),
                      "responses": _linked(_ok("The deck", _ref("Deck")), DECK_LINKS, "/id")
                      | no_deck | _body_errors() | common},
            "delete": {"summary": "Delete a deck (its cards and their reviews go too)",
                       "operationId": "deleteDeck",
                       "responses": _no_content("Deleted") | no_deck | forbidden | common},
        },
        "/api/decks/{id}/export": {"parameters": deck_id, "get": {
            "summary": "Export a deck as CSV or as an Anki package", "operationId": "exportDeck",
            "parameters": _query_params(ExportQuery),
            "responses": {"200": {
                "description": "The deck as a download (Content-Disposition: attachment). CSV: "
                               "header row question,answer,source, one row per card, RFC 4180 "
                               "quoting. apkg: an Anki package, note GUIDs stable per card.",
                "content": {"text/csv": {"schema": {"type": "string"}},
                            "application/apkg": {"schema": {"type": "string",
                                                            "format": "binary"}}}}}
            | no_deck | {"422": _error("VALIDATION_ERROR: the format is not csv or apkg")}
            | common}},
        "/api/flashcards/{id}/reviews": {"parameters": [_job_id_param()], "post": {
            "summary": "Rate a card (FSRS): writes a review log row and moves its due time",
            "operationId": "reviewFlashcard",
            "requestBody": _json_body("RateCard"),
            "responses": _linked(_ok("The card as rescheduled, and the review",
                                     _ref("ReviewOutcome"), "201"),
                                 CARD_LINKS, "/card/id", "201")
            | _not_found("flashcard") | _body_errors() | common}},
        "/api/reviews/due": {"get": {
            "summary": "Cards due now (new cards count as due), most overdue first",
            "operationId": "dueCards",
            "parameters": _query_params(DueQuery),
            "responses": _linked(_ok("Due cards and how many are due", _ref("DueCards")),
                                 CARD_LINKS, "/cards/0/id")
            | no_deck | invalid_query | common}},
        "/api/settings": {
            "get": {"summary": "Your study settings", "operationId": "getSettings",
                    "responses": _ok("The settings", _ref("StudySettings")) | common},
            "put": {"summary": "Replace your study settings", "operationId": "putSettings",
                    "requestBody": _json_body("SettingsUpdate"),
                    "responses": _ok("The settings", _ref("StudySettings")) | _body_errors()
                    | common},
        },
    }
