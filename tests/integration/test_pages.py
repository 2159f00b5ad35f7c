"""The server-rendered pages: sign-in, the dashboard, the job page, and their safety nets
(escaping, CSP, same-origin checks), against a real Postgres and the real workers."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any

import asyncpg

from server.keys import POOL
from server.store.users import demo_login_token
from tests.support.jobs import wait_for

MATERIAL = """# Photosynthesis

Photosynthesis is the process by which plants convert light energy into chemical energy.
The chloroplast is the organelle in which photosynthesis takes place. Chlorophyll is the
green pigment that absorbs mostly red and blue light.

## The Calvin Cycle

The Calvin cycle is a series of light-independent reactions that fix carbon dioxide into
sugar. Rubisco is the enzyme that fixes carbon dioxide to ribulose bisphosphate.
"""

XSS_QUESTION = "<script>alert(1)</script> What runs here?"
XSS_ANSWER = "<img src=x onerror=alert(1)>"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def sign_in(client: Any, token: str) -> None:
    resp = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert resp.status == 303, await resp.text()


async def create_job(client: Any, user: dict[str, str], job_type: str, payload: dict[str, Any]
                     ) -> dict[str, Any]:
    resp = await client.post("/api/jobs", json={"type": job_type, "payload": payload},
                             headers={"Authorization": user["Authorization"]})
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def wait_until_finished(client: Any, user: dict[str, str], job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal job
        resp = await client.get(f"/api/jobs/{job_id}",
                                headers={"Authorization": user["Authorization"]})
        job = await resp.json()
        return job["status"] in ("completed", "failed", "cancelled")

    await wait_for(finished)
    return job


class ScriptAudit(HTMLParser):
    """Every <script> and every attribute that could run or style inline."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_handlers: list[str] = []
        self.style_attributes = 0
        self.style_elements = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
        if tag == "style":
            self.style_elements += 1
        for name, _ in attrs:
            if name.startswith("on"):
                self.inline_handlers.append(f"{tag} {name}")
            if name == "style":
                self.style_attributes += 1


def audit(html: str) -> ScriptAudit:
    parser = ScriptAudit()
    parser.feed(html)
    return parser


# ---------------------------------------------------------------- signing in and out


async def test_login_link_sets_an_httponly_lax_cookie_that_the_json_api_accepts(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    _demo, token = await demo_login_token(client.app[POOL])

    resp = await client.get(f"/login?token={token}", allow_redirects=False)

    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("cardforge_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    jobs = await client.get("/api/jobs")  # the cookie alone, no Authorization header
    assert jobs.status == 200
    dashboard = await client.get("/", allow_redirects=False)
    assert dashboard.status == 200
    assert "Signed in as" in await dashboard.text()


async def test_posted_token_signs_in_and_a_bad_token_gets_the_login_page_with_401(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")

    bad = await client.post("/login", data={"token": "cf_not-a-real-token"},
                            allow_redirects=False)
    assert bad.status == 401
    page = await bad.text()
    assert "not valid" in page
    assert "Set-Cookie" not in bad.headers
    assert (await client.get("/api/jobs")).status == 401

    bad_link = await client.get("/login?token=nope", allow_redirects=False)
    assert bad_link.status == 401

    good = await client.post("/login", data={"token": alice["token"]}, allow_redirects=False)
    assert good.status == 303
    assert good.headers["Location"] == "/"
    assert (await client.get("/api/jobs")).status == 200


async def test_a_sign_in_link_for_a_non_demo_account_is_refused(
    make_client: Any, new_user: Any
) -> None:
    """A GET that signs in could be planted by any site (login CSRF): links are demo-only."""
    client = await make_client(workers=0)
    alice = await new_user("alice")
    resp = await client.get(f"/login?token={alice['token']}", allow_redirects=False)
    assert resp.status == 401 and "Set-Cookie" not in resp.headers
    assert "paste your token" in await resp.text()
    assert (await client.get("/api/jobs")).status == 401


async def test_login_returns_to_the_page_asked_for_but_never_to_another_site(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job_id = uuid.uuid4()

    signed_out = await client.get(f"/jobs/{job_id}", allow_redirects=False)
    assert signed_out.status == 303
    assert signed_out.headers["Location"] == f"/login?next=/jobs/{job_id}"

    back = await client.post("/login", data={"token": alice["token"],
                                             "next": f"/jobs/{job_id}"},
                             allow_redirects=False)
    assert back.headers["Location"] == f"/jobs/{job_id}"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        resp = await client.post("/login", data={"token": alice["token"], "next": evil},
                                 allow_redirects=False)
        assert resp.headers["Location"] == "/"


async def test_login_post_from_another_origin_is_refused(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")

    resp = await client.post("/login", data={"token": alice["token"]},
                             headers={"Origin": "http://evil.example"}, allow_redirects=False)

    assert resp.status == 403
    assert "Set-Cookie" not in resp.headers


async def test_logout_ends_the_session_on_the_server(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    await sign_in(client, alice["token"])
    session = client.session.cookie_jar.filter_cookies(client.make_url("/"))["cardforge_session"]

    resp = await client.post("/logout", allow_redirects=False)

    assert resp.status == 303
    assert resp.headers["Location"] == "/login"
    assert "cardforge_session=" in resp.headers["Set-Cookie"]  # expired by the server
    # the old cookie value, replayed by hand, no longer names a session
    replay = await client.get("/api/jobs", cookies={"cardforge_session": session.value})
    assert replay.status == 401


async def test_pages_redirect_to_login_when_signed_out(make_client: Any) -> None:
    client = await make_client(workers=0)

    for path in ("/", f"/jobs/{uuid.uuid4()}", f"/trees/{uuid.uuid4()}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/login"), path
    form = await client.post("/jobs", data={"type": "flashcard_generation", "content": "x"},
                             allow_redirects=False)
    assert form.status == 303
    assert form.headers["Location"] == "/login"
    login = await client.get("/login")
    assert login.status == 200
    assert 'name="token"' in await login.text()


# ---------------------------------------------------------------- the job page


async def test_job_page_renders_the_placeholder_while_the_job_waits(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)  # an API-only replica: nothing runs the job
    alice = await new_user("alice")
    cards = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    tree = await create_job(client, alice, "skill_tree_generation", {"goal": "Photosynthesis"})
    await sign_in(client, alice["token"])

    page = await (await client.get(f"/jobs/{cards['id']}")).text()
    assert "Generating flashcards..." in page
    assert 'class="spinner"' in page
    assert 'aria-live="polite"' in page
    assert f'action="/jobs/{cards["id"]}/cancel"' in page
    assert ">Cancel</button>" in page
    tree_page = await (await client.get(f"/jobs/{tree['id']}")).text()
    assert "Generating skill tree..." in tree_page


async def test_job_page_shows_progress_chunk_i_of_n(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await db.execute(
        "UPDATE background_jobs SET status = 'processing', worker_id = 'w', attempts = 1, "
        "locked_until = now() + interval '1 hour', started_at = now(), "
        "progress = '{\"chunk\": 2, \"chunks\": 5}' WHERE id = $1", uuid.UUID(job["id"])
    )
    await sign_in(client, alice["token"])

    page = await (await client.get(f"/jobs/{job['id']}")).text()

    assert "Chunk 2 of 5" in page
    assert 'max="5" value="2"' in page


async def test_failed_job_page_shows_the_error_and_try_again_which_starts_a_new_job(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()  # offline provider: no cards in greetings, for good
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": "Hello there."})
    failed = await wait_until_finished(client, alice, job["id"])
    assert failed["status"] == "failed"
    await sign_in(client, alice["token"])

    page = await (await client.get(f"/jobs/{job['id']}")).text()
    assert "Generation failed" in page
    assert "No flashcards could be made" in page
    assert f'action="/jobs/{job["id"]}/retry"' in page
    assert "Try again" in page

    retry = await client.post(f"/jobs/{job['id']}/retry", allow_redirects=False)
    assert retry.status == 303
    new_id = retry.headers["Location"].removeprefix("/jobs/")
    assert new_id != job["id"]
    new_job = await (await client.get(f"/api/jobs/{new_id}")).json()
    assert new_job["retryOf"] == job["id"]


async def test_finished_job_page_has_the_cards_in_the_html(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()  # the real worker and the offline provider
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    done = await wait_until_finished(client, alice, job["id"])
    assert done["status"] == "completed", done
    await sign_in(client, alice["token"])
    cards = (await (await client.get(f"/api/flashcards?jobId={job['id']}")).json())["flashcards"]
    assert cards

    page = await (await client.get(f"/jobs/{job['id']}")).text()

    assert "Generating flashcards..." not in page
    for card in cards:
        assert f'data-card-id="{card["id"]}"' in page
    assert page.count('class="flashcard"') == len(cards)
    assert "Generate answer choices" in page
    dashboard = await (await client.get("/")).text()
    assert f'href="/jobs/{job["id"]}"' in dashboard  # the deck and the recent job
    assert f"{len(cards)} cards" in dashboard


async def test_answer_choices_job_page_renders_a_quiz_with_the_answer_among_choices(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()
    alice = await new_user("alice")
    deck = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await wait_until_finished(client, alice, deck["id"])
    await sign_in(client, alice["token"])
    card = (await (await client.get(f"/api/flashcards?jobId={deck['id']}")).json())[
        "flashcards"][0]

    form = await client.post("/jobs", data={"type": "distractor_generation",
                                            "flashcardId": card["id"]}, allow_redirects=False)
    assert form.status == 303
    choices_id = form.headers["Location"].removeprefix("/jobs/")
    done = await wait_until_finished(client, alice, choices_id)
    assert done["status"] == "completed", done

    page = await (await client.get(f"/jobs/{choices_id}")).text()
    assert page.count('class="choice"') == 1 + len(done["result"]["distractors"])
    assert page.count('data-correct="true"') == 1


async def test_skill_tree_renders_as_a_collapsible_outline(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()
    alice = await new_user("alice")
    job = await create_job(client, alice, "skill_tree_generation",
                           {"goal": "Photosynthesis", "content": MATERIAL})
    done = await wait_until_finished(client, alice, job["id"])
    assert done["status"] == "completed", done
    await sign_in(client, alice["token"])

    job_page = await (await client.get(f"/jobs/{job['id']}")).text()
    tree_page = await (await client.get(f"/trees/{done['result']['treeId']}")).text()

    for page in (job_page, tree_page):
        assert "<details open>" in page
        assert '<ul class="tree-level">' in page
        assert "Photosynthesis" in page


async def test_job_page_is_404_for_missing_malformed_and_other_users_jobs(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice, bob = await new_user("alice"), await new_user("bob")
    alices = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await sign_in(client, bob["token"])

    for path in (f"/jobs/{alices['id']}", f"/jobs/{uuid.uuid4()}", "/jobs/not-a-uuid",
                 "/trees/not-a-uuid", f"/trees/{uuid.uuid4()}"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert resp.content_type == "text/html"
        assert "Not found" in await resp.text()


# ---------------------------------------------------------------- form posts without script


async def test_form_post_creates_the_job_and_an_invalid_form_is_shown_again_with_422(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    await sign_in(client, alice["token"])

    good = await client.post("/jobs", data={"type": "flashcard_generation",
                                            "content": MATERIAL, "maxCards": "5"},
                             allow_redirects=False)
    assert good.status == 303
    job_id = good.headers["Location"].removeprefix("/jobs/")
    job = await (await client.get(f"/api/jobs/{job_id}")).json()
    assert job["payload"] == {"content": MATERIAL, "maxCards": 5}

    bad = await client.post("/jobs", data={"type": "flashcard_generation", "content": MATERIAL,
                                           "maxCards": "500"})
    assert bad.status == 422
    page = await bad.text()
    assert "Cards, at most: Input should be less than or equal to 50" in page
    assert "payload.maxCards" not in page and "maxCards:" not in page
    assert "Generate flashcards" in page
    unknown = await client.post("/jobs", data={"type": "flashcard_generation", "content": "x",
                                               "sneaky": "1"})
    assert unknown.status == 422


async def test_cancel_form_cancels_a_pending_job(make_client: Any, new_user: Any) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await sign_in(client, alice["token"])

    resp = await client.post(f"/jobs/{job['id']}/cancel", allow_redirects=False)

    assert resp.status == 303
    assert resp.headers["Location"] == f"/jobs/{job['id']}"
    page = await (await client.get(f"/jobs/{job['id']}")).text()
    assert "You cancelled this." in page
    assert "Start again" in page


async def test_cross_origin_form_posts_with_the_cookie_are_refused(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    await sign_in(client, alice["token"])
    evil = {"Origin": "http://evil.example"}

    create = await client.post("/jobs", data={"type": "flashcard_generation", "content": "x"},
                               headers=evil, allow_redirects=False)
    api = await client.post("/api/jobs", json={"type": "flashcard_generation",
                                               "payload": {"content": "x"}}, headers=evil)
    logout = await client.post("/logout", headers=evil, allow_redirects=False)

    assert (create.status, api.status, logout.status) == (403, 403, 403)
    assert (await api.json())["code"] == "CSRF_REJECTED"
    assert await create.text() == "Cross-site request refused."  # a sentence, not JSON
    jobs = await (await client.get("/api/jobs")).json()
    assert jobs["jobs"] == []
    same_site = await client.post("/jobs", data={"type": "flashcard_generation", "content": "x"},
                                  headers={"Origin": str(client.make_url("")).rstrip("/")},
                                  allow_redirects=False)
    assert same_site.status == 303


# ---------------------------------------------------------------- escaping and headers


async def completed_job_with_cards(
    client: Any, db: asyncpg.Pool, user: dict[str, str], cards: list[tuple[str, str]]
) -> str:
    """A completed flashcard job whose cards say exactly ``cards`` (written with SQL, as an
    LLM that returned markup would have had them written)."""
    job = await create_job(client, user, "flashcard_generation", {"content": MATERIAL})
    ids = [uuid.uuid4() for _ in cards]
    deck_id = uuid.uuid4()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE background_jobs SET status = 'completed', completed_at = now(), "
            "result = $2 WHERE id = $1",
            uuid.UUID(job["id"]),
            {"deckId": str(deck_id), "flashcardIds": [str(i) for i in ids], "count": len(ids),
             "skippedDuplicates": 0},
        )
        await conn.execute(
            "INSERT INTO decks (id, user_id, job_id, title) VALUES ($1, $2, $3, 'Markup')",
            deck_id, uuid.UUID(user["id"]), uuid.UUID(job["id"]),
        )
        for position, (card_id, (question, answer)) in enumerate(zip(ids, cards, strict=True)):
            await conn.execute(
                "INSERT INTO flashcards (id, user_id, job_id, deck_id, question, answer, "
                "position) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                card_id, uuid.UUID(user["id"]), uuid.UUID(job["id"]), deck_id, question,
                answer, position,
            )
    return str(job["id"])


async def test_llm_markup_in_cards_is_escaped_in_the_server_rendered_html(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job_id = await completed_job_with_cards(client, db, alice, [(XSS_QUESTION, XSS_ANSWER)])
    await sign_in(client, alice["token"])
    deck_id = await db.fetchval("SELECT id FROM decks WHERE job_id = $1", uuid.UUID(job_id))

    for path in (f"/jobs/{job_id}", f"/decks/{deck_id}", f"/decks/{deck_id}/review"):
        page = await (await client.get(path)).text()
        assert "<script>alert(1)</script>" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        found = audit(page)
        assert found.inline_handlers == [], path
        assert all(s.get("src") or s.get("type") == "application/json" for s in found.scripts)
    job_page = await (await client.get(f"/jobs/{job_id}")).text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in job_page


async def test_every_page_sends_the_csp_and_has_no_inline_script_or_style(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job_id = await completed_job_with_cards(client, db, alice, [("What is ATP?", "Energy")])
    pending = await create_job(client, alice, "skill_tree_generation", {"goal": "Biology"})
    login = await client.get("/login")
    await sign_in(client, alice["token"])

    responses = [login]
    for path in ("/", f"/jobs/{job_id}", f"/jobs/{pending['id']}", f"/jobs/{uuid.uuid4()}"):
        responses.append(await client.get(path))
    for resp in responses:
        assert resp.headers["Content-Security-Policy"] == CSP, resp.url
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["Cache-Control"] == "no-store"
        page = await resp.text()
        assert '<meta name="viewport"' in page
        found = audit(page)
        for script in found.scripts:
            assert script.get("src") or script.get("type") == "application/json", script
        assert found.inline_handlers == []
        assert (found.style_attributes, found.style_elements) == (0, 0)
    job_page = await responses[2].text()
    # what the script needs to follow the job travels in data-* attributes, never in a script
    assert re.search(r'<section class="job" id="job"[^>]* data-fragment="/fragments/jobs/',
                     job_page)


async def test_static_files_are_served_from_the_web_package_with_a_version(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    page = await (await client.get("/login")).text()
    src = re.search(r'<script type="module" src="(/static/app\.js\?v=[^"]+)"', page)
    assert src is not None
    for path in (src.group(1), "/static/app.css"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    js = await client.get("/static/app.js")
    assert js.content_type in ("text/javascript", "application/javascript")
    script = await js.text()
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", script)


async def test_origin_null_from_no_referrer_pages_is_accepted_only_when_the_browser_vouches(
    make_client: Any, new_user: Any
) -> None:
    """Referrer-Policy: no-referrer makes Chrome send "Origin: null" on our own form posts;
    Sec-Fetch-Site (set by the browser, not by scripts) tells ours from a sandboxed frame's."""
    client = await make_client(workers=0)
    alice = await new_user("alice")
    form = {"type": "flashcard_generation", "content": MATERIAL}

    ours = await client.post("/login", data={"token": alice["token"]}, allow_redirects=False,
                             headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert ours.status == 303
    same = await client.post("/jobs", data=form, allow_redirects=False,
                             headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert same.status == 303
    for headers in ({"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null", "Sec-Fetch-Site": "same-site"},
                    {"Origin": "null"}):
        refused = await client.post("/jobs", data=form, headers=headers, allow_redirects=False)
        assert refused.status == 403, headers
