"""HTML fragments: the parts of a page that change while it is open, rendered only here.

A fragment is one template under ``web/templates/fragments/`` with exactly one root element.
The page includes that same template, so the first paint, every live update and the
no-script page are one piece of markup: no label, title or sentence is written twice, and
nothing is ever built in JavaScript. Its root element carries:

- a stable ``id``: the page replaces the element with that id, and nothing else;
- ``data-fragment``: the URL below that renders it again;
- while it can still change, ``data-live``: ``job:<id>`` follows one job's events, ``jobs``
  follows every status change of the user's jobs;
- ``data-version``: the newest job version it shows. Events not newer are skipped, and a
  response older than what is on the page never replaces it.
- optionally ``data-announce``: a sentence said to screen readers when it changes.

The flow: the page listens to ``/api/events`` (SSE); an event names a job and its version;
every live element following that job is refetched from its ``data-fragment`` URL (at most
one fetch in flight per element, bursts coalesced into the next fetch) and replaced by the
parsed response (``web/static/js/live.js``, ``swap.js``). Without the stream, the page
polls the same URLs on the seed's schedule (``polling.js``).

A form that changes a fragment in place posts to a route here (``data-fragment-action``)
that answers with the fragment; its no-script twin (``action``) posts to the page route.

Fragments are authenticated like pages and owner-only: another user's row is a 404, as on
the pages. A signed-out fetch gets a 401, not a redirect to the sign-in page, so a script
never swaps a whole login page into a card; both carry a notice fragment saying so.

To add a fragment: write the template (root element as above), add a route here that loads
the owner's rows and returns ``render_fragment(...)``, and ``{% include %}`` the template
from the page with the same context.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import aiohttp_jinja2
from aiohttp import web

from handlers.models import JobType
from server.errors import AlreadyFinished, ApiError, NotFound
from server.http.auth import USER_KEY
from server.http.errors import error_headers, http_status
from server.http.pages import enqueue_for_page, job_view, quiz_for, recent_jobs
from server.keys import LIBRARY, QUEUE
from server.queue.jobs import JobStatus
from server.store.users import User
from server.wire import wire

routes = web.RouteTableDef()

NO_SUCH_JOB = "There is no such job, or it is not yours."
NO_SUCH_CARD = "There is no such flashcard, or it is not yours."
SIGNED_OUT = "Your session has ended."


class FragmentRefused(Exception):
    """Ends a fragment request with a notice instead of the fragment (401, 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def render_fragment(
    name: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(name, request, context, status=status)
    # a fragment is personal and is always the state now: never from a cache
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(request: web.Request, err: FragmentRefused) -> web.Response:
    context = {"message": err.message, "sign_in": err.status == 401}
    return render_fragment("fragments/notice.html", request, context, status=err.status)


def fragment_user(request: web.Request) -> User:
    user: User | None = request.get(USER_KEY)
    if user is None:
        raise FragmentRefused(401, SIGNED_OUT)
    return user


def parse_id(raw: str, message: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise FragmentRefused(404, message) from None


async def owned_job(request: web.Request, user: User, raw_id: str) -> dict[str, Any]:
    try:
        return wire(await request.app[QUEUE].get(user.id, parse_id(raw_id, NO_SUCH_JOB)))
    except NotFound:
        raise FragmentRefused(404, NO_SUCH_JOB) from None


async def owned_card(request: web.Request, user: User, raw_id: str) -> dict[str, Any]:
    try:
        return wire(await request.app[LIBRARY].flashcard(user.id, parse_id(raw_id, NO_SUCH_CARD)))
    except NotFound:
        raise FragmentRefused(404, NO_SUCH_CARD) from None


View = Callable[[web.Request], Awaitable[web.Response]]


def fragment_view(view: View) -> View:
    """A fragment route: FragmentRefused ends it with its notice."""

    @functools.wraps(view)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await view(request)
        except FragmentRefused as err:
            return refused(request, err)

    return wrapped


# ---------------------------------------------------------------- jobs


@routes.get("/fragments/jobs")
@fragment_view
async def job_list(request: web.Request) -> web.Response:
    """The dashboard's recent-jobs list."""
    user = fragment_user(request)
    return render_fragment("fragments/job_list.html", request, await recent_jobs(request, user))


@routes.get("/fragments/jobs/{id}")
@fragment_view
async def job_section(request: web.Request) -> web.Response:
    """The job page's live part: status, placeholder and progress, the problem, or the
    finished cards, tree or quiz."""
    user = fragment_user(request)
    job = await owned_job(request, user, request.match_info["id"])
    return render_fragment("fragments/job.html", request, await job_view(request, user, job))


@routes.post("/fragments/jobs/{id}/cancel")
@fragment_view
async def cancel_job(request: web.Request) -> web.Response:
    """The Cancel button in place: the job section as the cancel left it."""
    user = fragment_user(request)
    job = await owned_job(request, user, request.match_info["id"])
    try:
        job = wire(await request.app[QUEUE].cancel(user.id, UUID(job["id"])))
    except AlreadyFinished:  # show how it ended, as it is now
        job = await owned_job(request, user, job["id"])
    return render_fragment("fragments/job.html", request, await job_view(request, user, job))


# ---------------------------------------------------------------- a card's answer choices


def choices_context(
    card: dict[str, Any], job: dict[str, Any] | None, *, error: str | None = None
) -> dict[str, Any]:
    quiz = None
    if job is not None and job["status"] == JobStatus.COMPLETED:
        quiz = quiz_for(card, (job.get("result") or {}).get("distractors") or [])
    return {"card": card, "choice_job": job, "quiz": quiz, "error": error}


@routes.get("/fragments/flashcards/{id}/choices")
@fragment_view
async def card_choices(request: web.Request) -> web.Response:
    """A card's "Generate answer choices" block; with ``?job=`` it shows that job: working,
    failed, or the quiz it made."""
    user = fragment_user(request)
    card = await owned_card(request, user, request.match_info["id"])
    job = None
    if "job" in request.query:
        job = await owned_job(request, user, request.query["job"])
        made_for = (job.get("payload") or {}).get("flashcardId")
        if job["type"] != JobType.DISTRACTOR_GENERATION or made_for != card["id"]:
            raise FragmentRefused(404, NO_SUCH_JOB)
    return render_fragment("fragments/card_choices.html", request, choices_context(card, job))


@routes.post("/fragments/flashcards/{id}/choices")
@fragment_view
async def generate_card_choices(request: web.Request) -> web.Response:
    """Start answer choices for the card; the block comes back following the new job (or
    saying why it could not start: invalid, rate limited)."""
    user = fragment_user(request)
    card = await owned_card(request, user, request.match_info["id"])
    body = {"type": JobType.DISTRACTOR_GENERATION.value, "payload": {"flashcardId": card["id"]}}
    try:
        job = await enqueue_for_page(request, user, body)
    except ApiError as err:
        context = choices_context(card, None, error=err.message)
        response = render_fragment(
            "fragments/card_choices.html", request, context, status=http_status(err)
        )
        response.headers.update(error_headers(err))
        return response
    context = choices_context(card, job)
    return render_fragment("fragments/card_choices.html", request, context, status=201)
