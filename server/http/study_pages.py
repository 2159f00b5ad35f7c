"""The learner's pages: a deck (rename, edit and delete cards, export), a review session
(FSRS, one card at a time, keyboard first) and a quiz over the whole deck.

Like every page (``server.http.pages``), each works as plain forms with scripts off: a post
answers 303 back to the page (or the page again with the error beside the field, and a 4xx),
and the review card is a fragment (``server.http.fragments``) that a rating posted in place
replaces with the next card. Validation is the JSON API's: the same models, the same
messages, so a page can never store what the API would refuse.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from handlers.models import JobType
from server.errors import ApiError, NotFound, ValidationFailed
from server.http import api
from server.http.cost_text import cost_summary
from server.http.errors import http_status
from server.http.fragments import (
    FragmentRefused,
    fragment_user,
    fragment_view,
    parse_id,
    render_fragment,
)
from server.http.library import EditCard, RateCard, RenameDeck
from server.http.pages import (
    form_text,
    not_found,
    page_user,
    quiz_for,
    render,
    render_dashboard,
    see_other,
)
from server.keys import LIBRARY, QUEUE
from server.store.library import ReviewTurn
from server.store.models import StudySettings
from server.store.users import User
from server.wire import wire
from server.wording import due_words, short_interval, span_words

routes = web.RouteTableDef()

NO_SUCH_DECK = "There is no such deck, or it is not yours."
NO_SUCH_CARD = "There is no such flashcard, or it is not yours."
RATINGS = (  # (value, label): keys 1-4 in this order, as in Anki
    ("again", "Again"), ("hard", "Hard"), ("good", "Good"), ("easy", "Easy"),
)
MAX_REPS_DIGITS = 9  # a card reviewed a billion times is a forged form
STATE_LABELS = {"new": "New", "learning": "Learning", "review": "Review",
                "relearning": "Relearning"}


# ---------------------------------------------------------------- presentation


def card_status(card: dict[str, Any], now: datetime) -> str:
    """A card's place in the schedule, in words: "New", "Learning · due in 10 minutes"."""
    review = card["review"]
    if review["state"] == "new":
        return "New"
    due = datetime.fromisoformat(review["due"])
    return f"{STATE_LABELS[review['state']]} · {due_words(due, now)}"


def next_due_sentence(next_due_at: datetime | None, now: datetime) -> str:
    if next_due_at is None:
        return "This deck has no cards to review."
    return f"The next card is due in {span_words((next_due_at - now).total_seconds())}."


def _parse(model: type[Any], data: dict[str, Any], message: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ValidationFailed.from_pydantic(message, err) from None


def _form_fields(form: MultiDictProxy[Any], *names: str) -> dict[str, str]:
    return {name: form_text(form, name) for name in names}


async def owned_deck(request: web.Request, user: User, raw_id: str) -> dict[str, Any]:
    """The deck with its cards, or NotFound (a malformed id is a missing deck too)."""
    try:
        deck_id = UUID(raw_id)
    except ValueError:
        raise NotFound(NO_SUCH_DECK) from None
    return wire(await request.app[LIBRARY].deck(user.id, deck_id))


# ---------------------------------------------------------------- the deck page


@routes.get("/decks/{id}")
async def deck_page(request: web.Request) -> web.Response:
    user = page_user(request)
    return await render_deck(request, user, request.match_info["id"])


async def render_deck(
    request: web.Request,
    user: User,
    raw_id: str,
    *,
    error: ApiError | None = None,
    editing: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The deck page; with ``error``, the form that failed (``editing``: a card id, or
    "title") is open again with what the person typed (``values``)."""
    try:
        deck = await owned_deck(request, user, raw_id)
    except NotFound:
        return not_found(request, NO_SUCH_DECK)
    now = datetime.now(UTC)
    job = None
    if deck["jobId"]:
        try:  # the job that made the deck, while retention keeps it: for its cost
            job = wire(await request.app[QUEUE].get(user.id, UUID(deck["jobId"])))
        except NotFound:
            job = None
    turn: ReviewTurn = await request.app[LIBRARY].review_turn(user.id, UUID(deck["id"]))
    cards = deck["cards"]
    context = {
        "deck": deck,
        "cards": [{**card, "status": card_status(card, now)} for card in cards],
        "with_choices": sum(1 for card in cards if card["distractors"]),
        "next_due": None if turn.card else next_due_sentence(turn.next_due_at, now),
        "cost": cost_summary(job["usage"]) if job else None,
        "error": error.message if error else None,
        "details": error.extra.get("details", []) if error else [],
        "editing": editing,
        "values": values or {},
    }
    return render("deck.html", request, context, status=status)


@routes.post("/decks/{id}/rename")
async def rename_deck(request: web.Request) -> web.Response:
    user = page_user(request)
    raw_id = request.match_info["id"]
    values = _form_fields(await request.post(), "title")
    try:
        deck = await owned_deck(request, user, raw_id)
        body = _parse(RenameDeck, values, "The deck title is not valid.")
        await request.app[LIBRARY].rename_deck(user.id, UUID(deck["id"]), body.title)
    except NotFound:
        return not_found(request, NO_SUCH_DECK)
    except ApiError as err:
        return await render_deck(request, user, raw_id, error=err, editing="title",
                                 values=values, status=http_status(err))
    return see_other(f"/decks/{deck['id']}")


@routes.post("/decks/{id}/delete")
async def delete_deck(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        deck = await owned_deck(request, user, request.match_info["id"])
        await request.app[LIBRARY].delete_deck(user.id, UUID(deck["id"]))
    except NotFound:
        return not_found(request, NO_SUCH_DECK)
    return see_other("/")


async def owned_card(request: web.Request, user: User) -> dict[str, Any]:
    card_id = api.parse_uuid(request.match_info["id"], "flashcard")  # NotFound if malformed
    return wire(await request.app[LIBRARY].flashcard(user.id, card_id))


@routes.post("/flashcards/{id}/edit")
async def edit_card(request: web.Request) -> web.Response:
    user = page_user(request)
    values = _form_fields(await request.post(), "question", "answer")
    try:
        card = await owned_card(request, user)
    except NotFound:
        return not_found(request, NO_SUCH_CARD)
    try:
        body = _parse(EditCard, values, "The card edit is not valid.")
        await request.app[LIBRARY].edit_flashcard(
            user.id, UUID(card["id"]), question=body.question, answer=body.answer
        )
    except NotFound:
        return not_found(request, NO_SUCH_CARD)
    except ApiError as err:
        return await render_deck(request, user, card["deckId"], error=err, editing=card["id"],
                                 values=values, status=http_status(err))
    return see_other(f"/decks/{card['deckId']}#card-{card['id']}")


@routes.post("/flashcards/{id}/delete")
async def delete_card(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        card = await owned_card(request, user)
        await request.app[LIBRARY].delete_flashcard(user.id, UUID(card["id"]))
    except NotFound:
        return not_found(request, NO_SUCH_CARD)
    return see_other(f"/decks/{card['deckId']}")


# ---------------------------------------------------------------- review


async def review_context(request: web.Request, user: User, deck_id: UUID) -> dict[str, Any]:
    """The review card's context: the next due card and what each rating would do."""
    turn: ReviewTurn = await request.app[LIBRARY].review_turn(user.id, deck_id)
    now = datetime.now(UTC)
    ratings = [
        {"value": value, "label": label, "key": index,
         "interval": short_interval(turn.intervals[value])}
        for index, (value, label) in enumerate(RATINGS, start=1)
    ] if turn.card else []
    return {
        "deck_id": str(deck_id),
        "card": wire(turn.card) if turn.card else None,
        "due_count": turn.due_count,
        "ratings": ratings,
        "next_due": next_due_sentence(turn.next_due_at, now),
    }


async def rate_from_form(request: web.Request, user: User, deck_id: UUID) -> None:
    """Apply the posted rating, once: a card rated since the form was shown is left alone.
    Raises NotFound for a card that is not in this deck of the user's, ApiError for a bad
    rating."""
    form = await request.post()
    rating = _parse(RateCard, {"rating": form_text(form, "rating")},
                    "The rating must be one of again, hard, good or easy.").rating
    card_id = api.parse_uuid(form_text(form, "cardId"), "flashcard")
    raw_reps = form_text(form, "reps")
    if not (raw_reps.isascii() and raw_reps.isdigit() and len(raw_reps) <= MAX_REPS_DIGITS):
        raise ValidationFailed("The review form is out of date: reload the page.")
    seen_reps = int(raw_reps)
    card = wire(await request.app[LIBRARY].flashcard(user.id, card_id))
    if card["deckId"] != str(deck_id):
        raise NotFound(NO_SUCH_CARD)
    await request.app[LIBRARY].review_as_seen(user.id, card_id, rating, seen_reps=seen_reps)


@routes.get("/decks/{id}/review")
async def review_page(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        deck = await owned_deck(request, user, request.match_info["id"])
    except NotFound:
        return not_found(request, NO_SUCH_DECK)
    context = {"deck": deck, **await review_context(request, user, UUID(deck["id"])),
               "notice": None}
    return render("review.html", request, context)


@routes.post("/decks/{id}/review")
async def review_submit(request: web.Request) -> web.Response:
    """The no-script rating: rate, then show the next card (303)."""
    user = page_user(request)
    try:
        deck = await owned_deck(request, user, request.match_info["id"])
        await rate_from_form(request, user, UUID(deck["id"]))
    except NotFound:
        return not_found(request, NO_SUCH_CARD)
    except ApiError as err:
        context = {"deck": deck, **await review_context(request, user, UUID(deck["id"])),
                   "notice": err.message}
        return render("review.html", request, context, status=http_status(err))
    return see_other(f"/decks/{deck['id']}/review")


async def fragment_deck_id(request: web.Request, user: User) -> UUID:
    deck_id = parse_id(request.match_info["id"], NO_SUCH_DECK)
    if not await request.app[LIBRARY].deck_exists(user.id, deck_id):
        raise FragmentRefused(404, NO_SUCH_DECK)
    return deck_id


@routes.get("/fragments/decks/{id}/review")
@fragment_view
async def review_card(request: web.Request) -> web.Response:
    user = fragment_user(request)
    deck_id = await fragment_deck_id(request, user)
    context = await review_context(request, user, deck_id)
    return render_fragment("fragments/review.html", request, context)


@routes.post("/fragments/decks/{id}/review")
@fragment_view
async def rate_in_place(request: web.Request) -> web.Response:
    """A rating posted in place: the next card (or "done") comes back."""
    user = fragment_user(request)
    deck_id = await fragment_deck_id(request, user)
    try:
        await rate_from_form(request, user, deck_id)
    except NotFound:
        raise FragmentRefused(404, NO_SUCH_CARD) from None
    except ApiError as err:
        context = {**await review_context(request, user, deck_id), "notice": err.message}
        return render_fragment("fragments/review.html", request, context,
                               status=http_status(err))
    return render_fragment("fragments/review.html", request,
                           await review_context(request, user, deck_id))


# ---------------------------------------------------------------- quiz


@routes.get("/decks/{id}/quiz")
async def quiz_page(request: web.Request) -> web.Response:
    """Every card of the deck that has answer choices, in a fresh random order; the script
    asks them one at a time and gives the score at the end (without it, each question has
    its own "Show the answer")."""
    user = page_user(request)
    try:
        deck = await owned_deck(request, user, request.match_info["id"])
    except NotFound:
        return not_found(request, NO_SUCH_DECK)
    quizzes = [quiz_for(card, card["distractors"]) for card in deck["cards"]
               if card["distractors"]]
    random.shuffle(quizzes)
    context = {
        "deck": deck,
        "quizzes": quizzes,
        "without_choices": len(deck["cards"]) - len(quizzes),
        "choices_type": JobType.DISTRACTOR_GENERATION.value,
    }
    return render("quiz.html", request, context)


# ---------------------------------------------------------------- settings

RETENTION_MESSAGE = "Desired retention must be a whole number from 70 to 97 (percent)."


@routes.post("/settings")
async def save_settings(request: web.Request) -> web.Response:
    """The dashboard's desired retention, in percent (the API's 0.70-0.97 as 70-97)."""
    user = page_user(request)
    form = await request.post()
    raw = form_text(form, "desiredRetention").strip().removesuffix("%").strip()
    try:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3):
            raise ValidationFailed(RETENTION_MESSAGE)
        settings = _parse(StudySettings, {"desiredRetention": int(raw) / 100}, RETENTION_MESSAGE)
    except ApiError as err:
        return await render_dashboard(request, user, error=err, status=http_status(err))
    await request.app[LIBRARY].save_settings(user.id, settings)
    return see_other("/#study-settings")
