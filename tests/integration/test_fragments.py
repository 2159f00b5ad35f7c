"""The HTML fragments the pages swap in while open (server.http.fragments): the same markup
as the page, owner-only, escaped, and never a redirect a script could swap into a card."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import asyncpg

from tests.integration.test_pages import (
    CSP,
    MATERIAL,
    XSS_ANSWER,
    XSS_QUESTION,
    audit,
    completed_job_with_cards,
    create_job,
    sign_in,
    wait_until_finished,
)


def root_tag(html: str) -> str:
    """The fragment's root start tag: a fragment is exactly one element."""
    match = re.match(r"\s*(<[a-z]+\b[^>]*>)", html)
    assert match, html[:200]
    return match.group(1)


async def first_card(client: Any, job_id: str) -> dict[str, Any]:
    cards = (await (await client.get(f"/api/flashcards?jobId={job_id}")).json())["flashcards"]
    return cards[0]  # type: ignore[no-any-return]


async def complete_choices_job(
    db: asyncpg.Pool, job_id: str, card_id: str, distractors: list[str]
) -> None:
    """A distractor job finished as a model that answered with ``distractors`` would leave
    it (written with SQL: an API-only replica runs nothing)."""
    result = {"flashcardId": card_id,
              "distractors": [{"id": str(uuid.uuid4()), "text": t} for t in distractors]}
    await db.execute(
        "UPDATE background_jobs SET status = 'completed', completed_at = now(), result = $2 "
        "WHERE id = $1", uuid.UUID(job_id), json.dumps(result),
    )


# ---------------------------------------------------------------- one renderer


async def test_job_fragment_is_the_very_section_the_job_page_renders(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    pending = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    done_id = await completed_job_with_cards(client, db, alice, [("What is ATP?", "Energy")])
    await sign_in(client, alice["token"])

    for job_id in (pending["id"], done_id):
        fragment = await client.get(f"/fragments/jobs/{job_id}", headers={"Accept": "text/html"})
        assert fragment.status == 200
        assert fragment.content_type == "text/html"
        html = (await fragment.text()).strip()
        page = await (await client.get(f"/jobs/{job_id}")).text()
        assert html in page  # byte for byte: the page includes the fragment's template
        assert root_tag(html).startswith('<section class="job" id="job"')
        assert f'data-fragment="/fragments/jobs/{job_id}"' in root_tag(html)

    live = root_tag(await (await client.get(f"/fragments/jobs/{pending['id']}")).text())
    assert f'data-live="job:{pending["id"]}"' in live
    assert 'data-announce="Queued."' in live
    finished = root_tag(await (await client.get(f"/fragments/jobs/{done_id}")).text())
    assert "data-live" not in finished  # a finished job is not followed any more
    assert 'data-announce="Done: 1 flashcard ready."' in finished


async def test_job_fragment_carries_the_progress_sentence_and_version(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    version = await db.fetchval(
        "UPDATE background_jobs SET status = 'processing', worker_id = 'w', attempts = 1, "
        "locked_until = now() + interval '1 hour', started_at = now(), "
        "progress = '{\"chunk\": 2, \"chunks\": 5}' WHERE id = $1 RETURNING version",
        uuid.UUID(job["id"]),
    )
    await sign_in(client, alice["token"])

    html = await (await client.get(f"/fragments/jobs/{job['id']}")).text()

    assert "Chunk 2 of 5" in html
    assert 'max="5" value="2"' in html
    assert f'data-version="{version}"' in root_tag(html)
    assert 'data-announce="Generating flashcards... Chunk 2 of 5"' in root_tag(html)


async def test_job_list_fragment_is_the_dashboards_list_with_its_newest_version(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    await sign_in(client, alice["token"])
    empty = await (await client.get("/fragments/jobs")).text()
    assert "Nothing yet" in empty
    assert 'data-version="0"' in root_tag(empty)

    first = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    second = await create_job(client, alice, "skill_tree_generation", {"goal": "Botany"})

    html = (await (await client.get("/fragments/jobs")).text()).strip()
    assert html in await (await client.get("/")).text()
    assert root_tag(html).startswith('<ul class="job-list" id="job-list"')
    assert 'data-live="jobs"' in root_tag(html)
    newest = max(first["version"], second["version"])
    assert f'data-version="{newest}"' in root_tag(html)
    assert html.index(second["id"]) < html.index(first["id"])  # newest first
    assert ">Photosynthesis</span>" in html and ">Botany</span>" in html


# ---------------------------------------------------------------- a card's answer choices


async def test_card_choices_post_starts_a_job_and_the_block_follows_it_to_the_quiz(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    deck_id = await completed_job_with_cards(client, db, alice, [("What is ATP?", "Energy")])
    await sign_in(client, alice["token"])
    card = await first_card(client, deck_id)

    started = await client.post(f"/fragments/flashcards/{card['id']}/choices")

    assert started.status == 201
    html = await started.text()
    jobs = (await (await client.get("/api/jobs?type=distractor_generation")).json())["jobs"]
    assert len(jobs) == 1 and jobs[0]["payload"]["flashcardId"] == card["id"]
    job_id = jobs[0]["id"]
    tag = root_tag(html)
    assert tag.startswith(f'<div class="card-choices" id="choices-{card["id"]}"')
    assert f'data-live="job:{job_id}"' in tag
    assert f'data-fragment="/fragments/flashcards/{card["id"]}/choices?job={job_id}"' in tag
    assert "Generating answer choices..." in html
    assert "disabled" in html

    await complete_choices_job(db, job_id, card["id"], ["Heat", "Light"])
    done = await client.get(f"/fragments/flashcards/{card['id']}/choices?job={job_id}")

    assert done.status == 200
    quiz = await done.text()
    assert "data-live" not in root_tag(quiz)
    assert quiz.count('class="choice"') == 3
    assert quiz.count('data-correct="true"') == 1
    assert "New answer choices" in quiz
    assert 'data-wrong-text="Incorrect. The answer is: Energy"' in quiz


async def test_card_choices_that_fail_or_are_rate_limited_say_why_with_try_again(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0, rate_limit=1)
    alice = await new_user("alice")
    deck_id = await completed_job_with_cards(client, db, alice, [("What is ATP?", "Energy")])
    await sign_in(client, alice["token"])
    card = await first_card(client, deck_id)
    first = await client.post(f"/fragments/flashcards/{card['id']}/choices")
    assert first.status == 201

    limited = await client.post(f"/fragments/flashcards/{card['id']}/choices")

    assert limited.status == 429
    assert "Retry-After" in limited.headers
    html = await limited.text()
    assert root_tag(html).startswith(f'<div class="card-choices" id="choices-{card["id"]}"')
    assert 'role="alert"' in html and ">Try again</button>" in html
    job_id = re.search(r'data-live="job:([0-9a-f-]{36})"', await first.text())
    assert job_id
    await db.execute("UPDATE background_jobs SET status = 'failed', completed_at = now(), "
                     "error = 'The model refused.' WHERE id = $1", uuid.UUID(job_id.group(1)))
    failed = await (await client.get(
        f"/fragments/flashcards/{card['id']}/choices?job={job_id.group(1)}")).text()
    assert "The model refused." in failed and ">Try again</button>" in failed


# ---------------------------------------------------------------- cancel in place


async def test_cancel_fragment_cancels_the_job_and_returns_its_section(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await sign_in(client, alice["token"])

    resp = await client.post(f"/fragments/jobs/{job['id']}/cancel")

    assert resp.status == 200
    html = await resp.text()
    assert root_tag(html).startswith('<section class="job" id="job"')
    assert "data-live" not in root_tag(html)
    assert "You cancelled this." in html and "Start again" in html
    again = await client.post(f"/fragments/jobs/{job['id']}/cancel")  # already finished
    assert again.status == 200 and "You cancelled this." in await again.text()


# ---------------------------------------------------------------- who may see what


async def test_fragments_are_404_for_other_users_missing_and_malformed_ids(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice, bob = await new_user("alice"), await new_user("bob")
    alices_job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    alices_deck = await completed_job_with_cards(client, db, alice, [("Q?", "A")])
    alices_card = str(await db.fetchval(
        "SELECT id FROM flashcards WHERE job_id = $1", uuid.UUID(alices_deck)))
    await sign_in(client, alice["token"])
    alices_choices = await client.post(f"/fragments/flashcards/{alices_card}/choices")
    assert alices_choices.status == 201
    choices_id = re.search(r'data-live="job:([0-9a-f-]{36})"', await alices_choices.text())
    assert choices_id
    await client.post("/logout")
    await sign_in(client, bob["token"])
    bobs_deck = await completed_job_with_cards(client, db, bob, [("Q?", "A")])
    bobs_card = str(await db.fetchval(
        "SELECT id FROM flashcards WHERE job_id = $1", uuid.UUID(bobs_deck)))

    gets = [
        f"/fragments/jobs/{alices_job['id']}", f"/fragments/jobs/{uuid.uuid4()}",
        "/fragments/jobs/not-a-uuid", f"/fragments/flashcards/{alices_card}/choices",
        f"/fragments/flashcards/{uuid.uuid4()}/choices", "/fragments/flashcards/x/choices",
        # bob's own card, but alice's job, a job that is not answer choices, or a bad id
        f"/fragments/flashcards/{bobs_card}/choices?job={choices_id.group(1)}",
        f"/fragments/flashcards/{bobs_card}/choices?job={bobs_deck}",
        f"/fragments/flashcards/{bobs_card}/choices?job=nope",
    ]
    for path in gets:
        resp = await client.get(path, headers={"Accept": "text/html"})
        assert resp.status == 404, path
        assert resp.content_type == "text/html", path
        html = await resp.text()
        assert root_tag(html).startswith('<p class="alert alert-error live-notice"'), path
        assert "not yours" in html, path
    for path in (f"/fragments/jobs/{alices_job['id']}/cancel",
                 f"/fragments/flashcards/{alices_card}/choices"):
        resp = await client.post(path)
        assert resp.status == 404, path

    # nothing of alice's changed: her job still waits, and no job was made on her card
    assert (await db.fetchval("SELECT status FROM background_jobs WHERE id = $1",
                              uuid.UUID(alices_job["id"]))) == "pending"
    assert await db.fetchval(
        "SELECT count(*) FROM background_jobs WHERE user_id = $1", uuid.UUID(bob["id"])) == 1


async def test_signed_out_fragments_are_401_with_a_notice_not_a_redirect_to_sign_in(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})

    for method, path in (("GET", "/fragments/jobs"), ("GET", f"/fragments/jobs/{job['id']}"),
                         ("POST", f"/fragments/jobs/{job['id']}/cancel"),
                         ("GET", f"/fragments/flashcards/{uuid.uuid4()}/choices")):
        resp = await client.request(method, path, allow_redirects=False)
        assert resp.status == 401, path
        html = await resp.text()
        assert "Your session has ended." in html and 'href="/login"' in html, path
        assert 'name="token"' not in html, path  # not the sign-in page itself


async def test_llm_markup_in_fragments_is_text_and_fragments_send_the_csp(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    deck_id = await completed_job_with_cards(client, db, alice, [(XSS_QUESTION, XSS_ANSWER)])
    await sign_in(client, alice["token"])
    card = await first_card(client, deck_id)
    started = await client.post(f"/fragments/flashcards/{card['id']}/choices")
    job_id = re.search(r'data-live="job:([0-9a-f-]{36})"', await started.text())
    assert job_id
    evil = ["<svg onload=alert(2)>", '"><script>alert(4)</script>']
    await complete_choices_job(db, job_id.group(1), card["id"], evil)

    responses = [
        await client.get(f"/fragments/jobs/{deck_id}"),
        await client.get(f"/fragments/flashcards/{card['id']}/choices?job={job_id.group(1)}"),
        await client.get("/fragments/jobs"),
    ]
    for resp in responses:
        assert resp.status == 200
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["Cache-Control"] == "no-store"
        html = await resp.text()
        found = audit(html)
        assert (found.scripts, found.inline_handlers) == ([], [])
        assert "<script>" not in html and "<img" not in html and "<svg" not in html
    deck, quiz = await responses[0].text(), await responses[1].text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in deck
    assert "&lt;img src=x onerror=alert(1)&gt;" in deck
    assert "&lt;svg onload=alert(2)&gt;" in quiz
    assert "&#34;&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in quiz
    # the answer also travels in an attribute: quoted and escaped, it cannot close it
    assert 'data-wrong-text="Incorrect. The answer is: &lt;img src=x onerror=alert(1)&gt;"' in quiz


async def test_finished_choices_job_renders_the_quiz_through_the_real_worker(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()  # the real workers and the offline provider
    alice = await new_user("alice")
    deck = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await wait_until_finished(client, alice, deck["id"])
    await sign_in(client, alice["token"])
    card = await first_card(client, deck["id"])

    started = await client.post(f"/fragments/flashcards/{card['id']}/choices")
    job_id = re.search(r'data-live="job:([0-9a-f-]{36})"', await started.text())
    assert job_id
    done = await wait_until_finished(client, alice, job_id.group(1))
    assert done["status"] == "completed", done

    quiz = await (await client.get(
        f"/fragments/flashcards/{card['id']}/choices?job={job_id.group(1)}")).text()
    assert quiz.count('class="choice"') == 1 + len(done["result"]["distractors"])
    assert "data-focus-on-arrival" in quiz


async def test_no_script_module_builds_markup_and_modules_are_revalidated(
    make_client: Any,
) -> None:
    """The page's markup lives in the templates only: a module that creates elements or
    writes HTML strings would be a second renderer (and a way for LLM text to become
    markup). Modules are imported without the ?v= hash, so they must be revalidated."""
    client = await make_client(workers=0)
    seen: dict[str, str] = {}
    queue = ["app.js"]
    while queue:  # app.js and every module it imports, directly or not
        path = queue.pop()
        resp = await client.get(f"/static/{path}")
        assert resp.status == 200, path
        assert resp.headers["Cache-Control"] == "no-cache", path
        seen[path] = await resp.text()
        folder = path.rpartition("/")[0]
        for name in re.findall(r'from "\./([a-z/]+\.js)"', seen[path]):
            found = f"{folder}/{name}" if folder else name
            if found not in seen:
                queue.append(found)
    assert {"js/live.js", "js/polling.js", "js/swap.js", "js/forms.js", "js/flip.js",
            "js/quiz.js", "js/tree.js"} <= set(seen)
    for path, script in seen.items():
        assert not re.search(
            r"createElement|createTextNode|\.(inner|outer)HTML\b|insertAdjacentHTML|"
            r"document\.write", script), path
