"""The study library's JSON API (contract: "Study library"): decks, card edits, FSRS review,
settings and export. Views validate at the edge and call the library; the library raises
NotFound for another user's rows, which the middleware turns into a 404."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.models import CardText, DeckTitle, WireModel
from server.errors import ValidationFailed
from server.http.api import decode_cursor, encode_cursor, parse_uuid, read_json_object
from server.http.auth import require_user
from server.http.schemas import json_model
from server.keys import LIBRARY
from server.store.export import deck_apkg, deck_csv, export_filename
from server.store.models import Deck, Flashcard, RatingName, SettingsUpdate, StudySettings

routes = web.RouteTableDef()

DEFAULT_PAGE = 20
MAX_PAGE = 100
DEFAULT_DUE = 20


class DeckPage(WireModel):
    """``GET /api/decks``: newest first; ``next`` is the cursor to pass as ``before``."""

    decks: list[Deck]
    next: str | None


class DueCards(WireModel):
    cards: list[Flashcard]
    due_count: int


class ListDecksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    before: Annotated[str, Field(max_length=200)] | None = None


class DueQuery(WireModel):
    deck_id: UUID | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = DEFAULT_DUE


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "apkg"]


class RenameDeck(WireModel):
    title: DeckTitle


class EditCard(WireModel):
    question: CardText | None = None
    answer: CardText | None = None


class RateCard(WireModel):
    rating: RatingName


def _parse(model: type[Any], data: Any, message: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ValidationFailed.from_pydantic(message, err) from None


# ------------------------------------------------------------------ decks


@routes.get("/api/decks")
async def list_decks(request: web.Request) -> web.Response:
    user = require_user(request)
    query = _parse(ListDecksQuery, dict(request.query), "The query parameters are not valid.")
    # the jobs' cursor codec: one that refuses times PostgreSQL cannot hold (a 500 here)
    before = decode_cursor(query.before) if query.before else None
    decks = await request.app[LIBRARY].decks(user.id, limit=query.limit, before=before)
    last = decks[-1] if len(decks) == query.limit else None
    next_cursor = encode_cursor(last.created_at, last.id) if last else None
    return json_model(DeckPage(decks=decks, next=next_cursor))


@routes.get("/api/decks/{id}")
async def get_deck(request: web.Request) -> web.Response:
    user = require_user(request)
    deck_id = parse_uuid(request.match_info["id"], "deck")
    return json_model(await request.app[LIBRARY].deck(user.id, deck_id))


@routes.patch("/api/decks/{id}")
async def rename_deck(request: web.Request) -> web.Response:
    user = require_user(request)
    deck_id = parse_uuid(request.match_info["id"], "deck")
    body = _parse(RenameDeck, await read_json_object(request), "The deck title is not valid.")
    return json_model(await request.app[LIBRARY].rename_deck(user.id, deck_id, body.title))


@routes.delete("/api/decks/{id}")
async def delete_deck(request: web.Request) -> web.Response:
    user = require_user(request)
    await request.app[LIBRARY].delete_deck(user.id, parse_uuid(request.match_info["id"], "deck"))
    return web.Response(status=204)


@routes.get("/api/decks/{id}/export")
async def export_deck(request: web.Request) -> web.Response:
    user = require_user(request)
    deck_id = parse_uuid(request.match_info["id"], "deck")
    query = _parse(ExportQuery, dict(request.query), "Choose an export format: csv or apkg.")
    deck = await request.app[LIBRARY].deck(user.id, deck_id)
    disposition = f'attachment; filename="{export_filename(deck, query.format)}"'
    if query.format == "csv":
        return web.Response(
            text=deck_csv(deck), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": disposition},
        )
    # genanki writes an SQLite file and a zip: a thread, so the loop keeps serving.
    package = await asyncio.to_thread(deck_apkg, deck)
    return web.Response(
        body=package, content_type="application/apkg",
        headers={"Content-Disposition": disposition},
    )


# ------------------------------------------------------------------ cards


@routes.patch("/api/flashcards/{id}")
async def edit_flashcard(request: web.Request) -> web.Response:
    user = require_user(request)
    card_id = parse_uuid(request.match_info["id"], "flashcard")
    body = _parse(EditCard, await read_json_object(request), "The card edit is not valid.")
    card = await request.app[LIBRARY].edit_flashcard(
        user.id, card_id, question=body.question, answer=body.answer
    )
    return json_model(card)


@routes.delete("/api/flashcards/{id}")
async def delete_flashcard(request: web.Request) -> web.Response:
    user = require_user(request)
    card_id = parse_uuid(request.match_info["id"], "flashcard")
    await request.app[LIBRARY].delete_flashcard(user.id, card_id)
    return web.Response(status=204)


# ------------------------------------------------------------------ review


@routes.get("/api/reviews/due")
async def due_cards(request: web.Request) -> web.Response:
    user = require_user(request)
    query = _parse(DueQuery, dict(request.query), "The query parameters are not valid.")
    cards, count = await request.app[LIBRARY].due(
        user.id, deck_id=query.deck_id, limit=query.limit
    )
    return json_model(DueCards(cards=cards, due_count=count))


@routes.post("/api/flashcards/{id}/reviews")
async def review_flashcard(request: web.Request) -> web.Response:
    user = require_user(request)
    card_id = parse_uuid(request.match_info["id"], "flashcard")
    body = _parse(
        RateCard, await read_json_object(request),
        "The rating must be one of again, hard, good or easy.",
    )
    outcome = await request.app[LIBRARY].review(user.id, card_id, body.rating)
    return json_model(outcome, status=201)


# ------------------------------------------------------------------ settings


@routes.get("/api/settings")
async def get_settings(request: web.Request) -> web.Response:
    user = require_user(request)
    return json_model(await request.app[LIBRARY].settings(user.id))


@routes.put("/api/settings")
async def put_settings(request: web.Request) -> web.Response:
    user = require_user(request)
    update = _parse(
        SettingsUpdate, await read_json_object(request),
        "Desired retention must be a number from 0.70 to 0.97.",
    )
    settings = StudySettings(desired_retention=update.desired_retention)
    return json_model(await request.app[LIBRARY].save_settings(user.id, settings))
