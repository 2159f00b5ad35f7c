"""Server-rendered pages (aiohttp-jinja2, autoescaped), kept live by ``web/static/app.js``.

Every page renders the job's current state in the HTML itself: a finished deck or tree is in
the markup, so navigating away and back (or browsing with scripts off) shows it. Scripts only
add live updates and in-place actions; every action also works as a plain form post. The
parts of a page that change while it is open are fragments (``server.http.fragments``): the
page includes the same template that the fragment route renders, so all markup, labels and
sentences are written once, here and in ``web/templates``.

No inline script or style anywhere: the Content-Security-Policy below forbids both, so an
LLM's ``<script>`` that slipped past escaping still could not run. Data for scripts travels
in ``data-*`` attributes.
"""

from __future__ import annotations

import importlib.resources
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from handlers.models import JobType
from server.errors import ApiError, CsrfRejected, NotFound
from server.http import api
from server.http.auth import (
    SESSION_COOKIE,
    USER_KEY,
    check_same_origin,
    clear_session_cookie,
    set_session_cookie,
)
from server.http.cost_text import cost_summary
from server.http.errors import http_status
from server.keys import JOBS, LIBRARY, POOL, QUEUE, SETTINGS
from server.queue.jobs import JobStatus
from server.store.users import User, create_session, end_session, user_for_token
from server.wire import wire
from server.wording import time_from_now

routes = web.RouteTableDef()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # the one-click login link carries a token in its query string: never leak it onward
    "Referrer-Policy": "no-referrer",
}
RECENT_JOBS = 20
DECK_CARDS = 500
TREES_LISTED = 20
DECKS_LISTED = 100
TITLE_CHARS = 80

PLACEHOLDERS = {
    JobType.FLASHCARD_GENERATION: "Generating flashcards...",
    JobType.DISTRACTOR_GENERATION: "Generating answer choices...",
    JobType.SKILL_TREE_GENERATION: "Generating skill tree...",
}
TYPE_LABELS = {
    JobType.FLASHCARD_GENERATION: "Flashcards",
    JobType.DISTRACTOR_GENERATION: "Answer choices",
    JobType.SKILL_TREE_GENERATION: "Skill tree",
}
STATUS_LABELS = {
    JobStatus.PENDING: "Queued",
    JobStatus.PROCESSING: "Working",
    JobStatus.COMPLETED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def setup(app: web.Application) -> None:
    """Register the HTML routes, the template environment, static files and headers."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )
    static_dir = Path(str(importlib.resources.files("web") / "static"))
    static = cast(web.StaticResource, app.router.add_static("/static/", static_dir, name="static"))

    def static_url(filename: str) -> str:
        # ?v=<content hash>: a new release's app.js is never served from a stale cache
        return str(static.url_for(filename=filename, append_version=True))

    env.globals.update(
        static_url=static_url,
        placeholder_for=placeholder_for,
        progress_of=progress_of,
        job_title=job_title,
        cost_summary=cost_summary,
        progress_sentence=progress_sentence,
        job_announcement=job_announcement,
        row_announcement=row_announcement,
        type_label=lambda job_type: TYPE_LABELS.get(JobType(job_type), job_type),
        status_label=lambda status: STATUS_LABELS[JobStatus(status)],
        is_active=lambda status: not JobStatus(status).is_terminal,
        detail_sentence=detail_sentence,
    )
    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(revalidate_unversioned_static)
    app.add_routes(routes)


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """On every response, not only pages: no view can forget them, and a JSON body opened
    in a tab (or an error page from aiohttp itself) is covered too."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def revalidate_unversioned_static(
    request: web.Request, response: web.StreamResponse
) -> None:
    """app.js carries ?v=<hash>, but the modules it imports (web/static/js/) cannot: the
    browser must revalidate them (a 304 when unchanged), or a release would run a new app.js
    against last release's modules."""
    if request.path.startswith("/static/") and "v" not in request.query:
        response.headers.setdefault("Cache-Control", "no-cache")


# ---------------------------------------------------------------- presentation helpers


def placeholder_for(job_type: str) -> str:
    return PLACEHOLDERS.get(JobType(job_type), "Working...")


def progress_of(job: Mapping[str, Any]) -> dict[str, int] | None:
    """``{"done": i, "total": n}`` from a job's progress, if it says how far it is."""
    progress = job.get("progress")
    if not isinstance(progress, Mapping):
        return None
    done = progress.get("chunk", progress.get("done"))
    total = progress.get("chunks", progress.get("total"))
    if not isinstance(done, int) or not isinstance(total, int) or total < 1:
        return None
    return {"done": min(done, total), "total": total}


def progress_sentence(job: Mapping[str, Any], now: datetime | None = None) -> str:
    """How far an unfinished job is, in words."""
    progress = progress_of(job)
    if progress:
        return f"Chunk {progress['done']} of {progress['total']}"
    if job.get("nextRetryAt"):
        return retry_sentence(job, now or datetime.now(UTC))
    if job["status"] == JobStatus.PENDING:
        return "Waiting for a free worker…"
    return "Working on it…"


def retry_sentence(job: Mapping[str, Any], now: datetime) -> str:
    """What went wrong, and when the queue tries again: "The AI service was busy (too many
    requests), so we'll try again in 2 minutes (attempt 2 of 3)." The job's ``error`` is the
    last attempt's sentence; ``attempts`` counts the attempts made, so the next is one more.
    """
    try:
        wait_s = (datetime.fromisoformat(str(job["nextRetryAt"])) - now).total_seconds()
    except ValueError:
        wait_s = 0.0
    then = f"try again {time_from_now(wait_s)} (attempt {job['attempts'] + 1} of " \
        f"{job['maxAttempts']})."
    error = " ".join(str(job.get("error") or "Something went wrong.").split())
    if error.endswith((".", "!", "?")) and ". " in error:  # several sentences: add one
        return f"{error} We'll {then}"
    return f"{error.rstrip('.!?')}, so we'll {then}"  # one sentence: join the two


FIELD_LABELS = {
    "question": "Question", "answer": "Answer", "title": "Title", "content": "Study material",
    "maxCards": "Cards, at most", "goal": "Goal", "description": "Description",
    "maxDepth": "Levels", "count": "Number of answer choices", "type": "Kind of job",
    "flashcardId": "The card", "deckId": "The deck",
}


def detail_sentence(item: Mapping[str, Any]) -> str:
    """One field's problem for a person: "Answer: must not be blank" (pydantic's "Value
    error, " prefix and the API's field names stay out of sight)."""
    field = str(item.get("field") or "")
    label = FIELD_LABELS.get(field.rsplit(".", 1)[-1], "")
    message = str(item.get("message") or "").removeprefix("Value error, ")
    return f"{label}: {message}" if label else message


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def job_announcement(
    job: Mapping[str, Any], cards: list[Any], tree: Mapping[str, Any] | None
) -> str:
    """What a screen reader hears when the job view changes under it."""
    status = JobStatus(job["status"])
    if status is JobStatus.PENDING:
        return "Queued."
    if status is JobStatus.PROCESSING:
        return f"{placeholder_for(job['type'])} {progress_sentence(job)}"
    if status is JobStatus.FAILED:
        return f"Generation failed: {job.get('error') or ''}".strip()
    if status is JobStatus.CANCELLED:
        return "You cancelled this."
    if job["type"] == JobType.FLASHCARD_GENERATION:
        return f"Done: {plural(len(cards), 'flashcard')} ready."
    if job["type"] == JobType.SKILL_TREE_GENERATION and tree:
        return f"Done: a skill tree with {tree['nodeCount']} skills."
    if job["type"] == JobType.DISTRACTOR_GENERATION:
        return "Done: answer choices ready."
    return "Done."


def row_announcement(job: Mapping[str, Any]) -> str:
    """A job list row speaks up only when its job finishes."""
    if not JobStatus(job["status"]).is_terminal:
        return ""
    return f"{TYPE_LABELS.get(JobType(job['type']), job['type'])}: " \
        f"{STATUS_LABELS[JobStatus(job['status'])]}."


def job_title(job: Mapping[str, Any]) -> str:
    """A human name for a job in a list: its goal, or the first line of its material (a
    Markdown heading's ``#`` marks dropped)."""
    payload = job.get("payload") or {}
    if job["type"] == JobType.SKILL_TREE_GENERATION and payload.get("goal"):
        return str(payload["goal"])
    if job["type"] == JobType.DISTRACTOR_GENERATION:
        return "Answer choices for a deck" if payload.get("deckId") else "Answer choices for a card"
    if payload.get("title"):
        return str(payload["title"])
    lines = (line.strip().lstrip("#").strip() for line in str(payload.get("content") or "")
             .splitlines())
    first = " ".join(next((line for line in lines if line), "Flashcards").split())
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def outline(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flat node list of the API as nested ``{node, children}``, roots first."""
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for node in sorted(nodes, key=lambda n: n["position"]):
        by_parent.setdefault(node["parentId"], []).append(node)

    def build(parent: str | None) -> list[dict[str, Any]]:
        return [{"node": n, "children": build(n["id"])} for n in by_parent.get(parent, [])]

    return build(None)


# ---------------------------------------------------------------- plumbing


def see_other(location: str) -> web.Response:
    """A 303 as a plain response (returning an HTTPException is deprecated in aiohttp)."""
    return web.Response(status=303, headers={"Location": location})


def render(
    name: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    context = {"user": request.get(USER_KEY), "page": name.removesuffix(".html"), **context}
    response = aiohttp_jinja2.render_template(name, request, context, status=status)
    # pages hold personal data, and "back" must show the job's state now, not a snapshot
    response.headers["Cache-Control"] = "no-store"
    return response


def not_found(request: web.Request, message: str) -> web.Response:
    return render("not_found.html", request, {"message": message}, status=404)


def page_user(request: web.Request) -> User:
    user: User | None = request.get(USER_KEY)
    if user is None:
        back = request.method == "GET" and request.path != "/"
        raise web.HTTPSeeOther(f"/login?next={quote(request.path)}" if back else "/login")
    return user


MAX_NEXT_CHARS = 2000


def safe_next(raw: str | None) -> str:
    """Only a path on this site, else ``/``: a login link must not hand out a redirect to
    another site. Browsers drop tab, CR and LF inside URLs and read a backslash as a slash,
    so ``/\t/evil.example`` becomes ``//evil.example``: the path must be printable ASCII with
    no space and no backslash (page_user percent-encodes the paths it sends here), and must
    not start with ``//``. A control character also used to reach the Location header (a 500).
    """
    if not raw or len(raw) > MAX_NEXT_CHARS or not raw.startswith("/"):
        return "/"
    if raw.startswith("//") or any(not "!" <= char <= "~" or char == "\\" for char in raw):
        return "/"
    return raw


def form_text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------- sign in and out


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    token = request.query.get("token")
    next_path = safe_next(request.query.get("next"))
    if token is not None:
        return await link_sign_in(request, token, next_path)
    if request.get(USER_KEY) is not None:
        return see_other(next_path)
    return render("login.html", request, {"error": None, "next": next_path})


@routes.post("/login")
async def login_submit(request: web.Request) -> web.Response:
    try:
        check_same_origin(request)  # not signed in yet, so the auth middleware did not
    except CsrfRejected as err:
        return render("login.html", request, {"error": err.message, "next": "/"}, status=403)
    form = await request.post()
    return await sign_in(request, form_text(form, "token"), safe_next(form_text(form, "next")))


INVALID_TOKEN = "That token is not valid. Check it, or create a new one with the CLI."


async def link_sign_in(request: web.Request, token: str, next_path: str) -> web.Response:
    """The one-click link of ``cardforge serve --demo``.

    A GET that signs in can be triggered by any site (login CSRF: the victim ends up in the
    attacker's account), so links sign in the local demo account only; any other token in a
    link is refused and must be pasted into the form, whose POST is origin-checked.
    """
    user = await user_for_token(request.app[POOL], token.strip())
    if user is None or not user.is_demo:
        error = INVALID_TOKEN if user is None else (
            "Sign-in links work only for the demo account: paste your token below."
        )
        return render("login.html", request, {"error": error, "next": next_path}, status=401)
    return await start_session(request, user, next_path)


async def sign_in(request: web.Request, token: str, next_path: str) -> web.Response:
    user = await user_for_token(request.app[POOL], token.strip())
    if user is None:
        return render(
            "login.html", request, {"error": INVALID_TOKEN, "next": next_path}, status=401
        )
    return await start_session(request, user, next_path)


async def start_session(request: web.Request, user: User, next_path: str) -> web.Response:
    pool = request.app[POOL]
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a fresh session id on every sign-in: no fixation of an old one
        await end_session(pool, previous)
    session_id = await create_session(pool, user)
    response = see_other(next_path)
    set_session_cookie(response, session_id, secure=request.app[SETTINGS].secure_cookies)
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await end_session(request.app[POOL], session_id)
    response = see_other("/login")
    clear_session_cookie(response)
    return response


# ---------------------------------------------------------------- dashboard


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    return await render_dashboard(request, page_user(request))


async def render_dashboard(
    request: web.Request,
    user: User,
    *,
    error: ApiError | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    app = request.app
    listed = await recent_jobs(request, user)
    decks = [wire(deck) for deck in await app[LIBRARY].decks(
        user.id, limit=DECKS_LISTED, before=None)]
    trees = await app[LIBRARY].skill_trees(user.id, limit=TREES_LISTED)
    study = await app[LIBRARY].settings(user.id)
    context = {
        **listed,
        "decks": decks,
        "due_total": sum(deck["dueCount"] for deck in decks),
        "trees": [wire(tree) for tree in trees],
        "retention_percent": round(study.desired_retention * 100),
        "error": error.message if error else None,
        "details": error.extra.get("details", []) if error else [],
        "values": values or {},
    }
    return render("dashboard.html", request, context, status=status)


async def recent_jobs(request: web.Request, user: User) -> dict[str, Any]:
    """The recent-jobs list (the dashboard's and its fragment's context), with the newest
    job version it shows, so the page can skip events it already reflects."""
    recent = await request.app[QUEUE].page(
        user.id, status=None, job_type=None, limit=RECENT_JOBS, before=None
    )
    jobs = [wire(job) for job in recent]
    return {"jobs": jobs, "jobs_version": max((job["version"] for job in jobs), default=0)}


def job_request_from_form(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The JSON API's envelope from a form: blank optional fields are left out, and the
    API's models do all the checking (field names are the API's camelCase names)."""
    payload = {
        name: value
        for name, value in form.items()
        if name != "type" and isinstance(value, str) and value.strip()
    }
    return {"type": form_text(form, "type"), "payload": payload}


@routes.post("/jobs")
async def create_job_from_form(request: web.Request) -> web.Response:
    """The no-script path of every "Generate" button; the script posts to /api/jobs."""
    user = page_user(request)
    form = await request.post()
    try:
        job = await enqueue_for_page(request, user, job_request_from_form(form))
    except ApiError as err:  # VALIDATION_ERROR, RATE_LIMITED: say so next to the form
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await render_dashboard(
            request, user, error=err, values=values, status=http_status(err)
        )
    return see_other(f"/jobs/{job['id']}")


async def enqueue_for_page(
    request: web.Request, user: User, body: dict[str, Any]
) -> dict[str, Any]:
    """A job from a page's form (the dashboard's, or a card's fragment form), checked by the
    JSON API's service; raises the same ApiErrors the API would."""
    enqueued = await request.app[JOBS].create(user.id, body)
    return wire(enqueued.job)


# ---------------------------------------------------------------- one job


@routes.get("/jobs/{id}")
async def job_page(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        job_id = api.parse_uuid(request.match_info["id"])
        job = wire(await request.app[QUEUE].get(user.id, job_id))
    except NotFound:
        return not_found(request, "There is no such job, or it is not yours.")
    return await render_job(request, user, job)


async def render_job(
    request: web.Request,
    user: User,
    job: dict[str, Any],
    *,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    context = {**await job_view(request, user, job), "notice": notice}
    return render("job.html", request, context, status=status)


async def job_view(request: web.Request, user: User, job: dict[str, Any]) -> dict[str, Any]:
    """The context of fragments/job.html: the job and, once it is done, what it made."""
    context: dict[str, Any] = {"job": job, "cards": [], "tree": None, "quiz": None,
                               "deck": None, "missing": None}
    if job["status"] == JobStatus.COMPLETED:
        context.update(await finished_content(request, user, job))
    return context


async def finished_content(request: web.Request, user: User, job: dict[str, Any]) -> dict[str, Any]:
    """What a completed job made, read back from the library (never from job.result alone:
    the rows are the truth, the result only names them)."""
    library = request.app[LIBRARY]
    result = job.get("result") or {}
    try:
        if job["type"] == JobType.FLASHCARD_GENERATION:
            cards = await library.flashcards(
                user.id, job_id=UUID(job["id"]), goal_id=None, limit=DECK_CARDS
            )
            deck = None
            if "deckId" in result:
                deck = wire(await library.deck_summary(user.id, UUID(result["deckId"])))
            return {"cards": [wire(card) for card in cards], "deck": deck}
        if job["type"] == JobType.DISTRACTOR_GENERATION and "deckId" in result:
            return {"deck": wire(await library.deck_summary(user.id, UUID(result["deckId"])))}
        if job["type"] == JobType.DISTRACTOR_GENERATION and "flashcardId" in result:
            card = await library.flashcard(user.id, UUID(result["flashcardId"]))
            return {"quiz": quiz_for(wire(card), result.get("distractors") or [])}
        if job["type"] == JobType.SKILL_TREE_GENERATION and "treeId" in result:
            tree = wire(await library.skill_tree(user.id, UUID(result["treeId"])))
            return {"tree": {**tree, "outline": outline(tree["nodes"])}}
    except NotFound:
        return {"missing": "What this job made has since been deleted."}
    return {}


def quiz_for(card: dict[str, Any], distractors: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer among this job's distractors, shuffled (the script reshuffles anyway)."""
    choices = [{"text": card["answer"], "correct": True}]
    choices += [{"text": d["text"], "correct": False} for d in distractors]
    random.shuffle(choices)
    return {"card": card, "choices": choices}


@routes.post("/jobs/{id}/retry")
async def retry_from_form(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        job_id = api.parse_uuid(request.match_info["id"])
        enqueued = await request.app[JOBS].retry(user.id, job_id)
    except NotFound:
        return not_found(request, "There is no such job, or it is not yours.")
    except ApiError as err:  # NOT_RETRYABLE, RATE_LIMITED
        job = wire(await request.app[QUEUE].get(user.id, job_id))
        return await render_job(request, user, job, notice=err.message, status=http_status(err))
    return see_other(f"/jobs/{enqueued.job.id}")


@routes.post("/jobs/{id}/cancel")
async def cancel_from_form(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        job_id = api.parse_uuid(request.match_info["id"])
        await request.app[QUEUE].cancel(user.id, job_id)
    except NotFound:
        return not_found(request, "There is no such job, or it is not yours.")
    except ApiError:
        pass  # ALREADY_FINISHED: the job page shows how it finished
    return see_other(f"/jobs/{job_id}")


# ---------------------------------------------------------------- skill trees


@routes.get("/trees/{id}")
async def tree_page(request: web.Request) -> web.Response:
    user = page_user(request)
    try:
        tree_id = api.parse_uuid(request.match_info["id"], "skill tree")
        tree = wire(await request.app[LIBRARY].skill_tree(user.id, tree_id))
    except NotFound:
        return not_found(request, "There is no such skill tree, or it is not yours.")
    return render("tree.html", request, {"tree": {**tree, "outline": outline(tree["nodes"])}})
