"""The learner's pages over real HTTP and PostgreSQL: the deck page and its forms, the review
session (plain posts and in-place fragments) and the whole-deck quiz. Decks are made by real
flashcard jobs (the offline provider); the pages are read as HTML."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest

from tests.integration.test_generation import PHOTOSYNTHESIS
from tests.integration.test_library import make_deck
from tests.integration.test_pages import sign_in

BAD_TEXTS = ["", "   ", "a\x00b", "tab\x07bell", "x" * 501, "\u202eevil"]


@pytest.fixture
async def study(make_client: Any, new_user: Any) -> Any:
    """A signed-in browser-like client (cookie), alice's API headers, and her deck."""
    client = await make_client(llm_provider="offline")
    alice = await new_user("alice")
    bob = await new_user("bob")
    headers = {"Authorization": alice["Authorization"]}
    job = await make_deck(client, headers, PHOTOSYNTHESIS)
    await sign_in(client, alice["token"])
    deck = await (await client.get(f"/api/decks/{job['result']['deckId']}")).json()
    return client, deck, bob


async def page(client: Any, path: str, status: int = 200) -> str:
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == status, await resp.text()
    return await resp.text()  # type: ignore[no-any-return]


async def api_deck(client: Any, deck_id: str) -> dict[str, Any]:
    return await (await client.get(f"/api/decks/{deck_id}")).json()  # type: ignore[no-any-return]


async def review_logs(db: asyncpg.Pool, deck_id: str) -> int:
    return int(await db.fetchval(
        "SELECT count(*) FROM review_logs r JOIN flashcards f ON f.id = r.flashcard_id "
        "WHERE f.deck_id = $1", uuid.UUID(deck_id)))


# ---------------------------------------------------------------- the deck page


async def test_the_deck_page_shows_every_card_with_its_source_status_and_the_study_actions(
    study: Any,
) -> None:
    client, deck, _ = study
    html = await page(client, f"/decks/{deck['id']}")
    assert f"{deck['cardCount']} cards" in html
    assert f"Review {deck['dueCount']} due cards" in html
    for card in deck["cards"]:
        assert f'id="card-{card["id"]}"' in html
    assert html.count('data-role="source"') == sum(1 for c in deck["cards"] if c["source"])
    assert "From your material" in html
    assert f'/api/decks/{deck["id"]}/export?format=apkg' in html
    assert f'/api/decks/{deck["id"]}/export?format=csv' in html
    assert "Make answer choices for a quiz" in html  # no card has choices yet
    dashboard = await page(client, "/")
    assert f'href="/decks/{deck["id"]}"' in dashboard
    assert f"{deck['dueCount']} due" in dashboard


async def test_a_deck_whose_job_was_pruned_still_opens_and_is_listed(
    study: Any, db: asyncpg.Pool
) -> None:
    client, deck, _ = study
    await db.execute("DELETE FROM background_jobs WHERE id = $1", uuid.UUID(deck["jobId"]))
    html = await page(client, f"/decks/{deck['id']}")
    assert deck["title"] in html and "Generation cost" not in html
    assert f'href="/decks/{deck["id"]}"' in await page(client, "/")
    review = await page(client, f"/decks/{deck['id']}/review")
    assert deck["cards"][0]["question"] in review


@pytest.mark.parametrize("path", ["/decks/{other}", "/decks/not-a-uuid", "/decks/{other}/review",
                                  "/decks/{other}/quiz", "/decks/{bobs}", "/decks/{bobs}/review",
                                  "/decks/{bobs}/quiz"])
async def test_missing_malformed_and_other_users_decks_are_404_pages(
    study: Any, make_client: Any, path: str
) -> None:
    client, _, bob = study
    bob_headers = {"Authorization": bob["Authorization"]}
    bobs = (await make_deck(client, bob_headers, PHOTOSYNTHESIS))["result"]["deckId"]
    html = await page(client, path.format(other=uuid.uuid4(), bobs=bobs), status=404)
    assert "There is no such deck, or it is not yours." in html


async def test_signed_out_deck_pages_send_the_person_to_sign_in_and_back(
    make_client: Any,
) -> None:
    client = await make_client(workers=0)
    deck_id = uuid.uuid4()
    resp = await client.get(f"/decks/{deck_id}/review", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/login?next=/decks/{deck_id}/review"


# ---------------------------------------------------------------- rename, edit, delete


async def test_rename_saves_a_valid_title_and_shows_a_bad_one_again_with_422(
    study: Any,
) -> None:
    client, deck, _ = study
    ok = await client.post(f"/decks/{deck['id']}/rename", data={"title": "Plants  & light"},
                           allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == f"/decks/{deck['id']}"
    assert (await api_deck(client, deck["id"]))["title"] == "Plants & light"  # spaces folded
    for bad in ["", "   ", "a\x00b", "x" * 201, "\x1b[31mred"]:
        resp = await client.post(f"/decks/{deck['id']}/rename", data={"title": bad})
        assert resp.status == 422, bad
        html = await resp.text()
        assert "The deck title is not valid." in html
        assert "Value error" not in html and "<code>" not in html
        assert (await api_deck(client, deck["id"]))["title"] == "Plants & light"
    missing = await client.post(f"/decks/{deck['id']}/rename", data={})
    assert missing.status == 422


async def test_editing_a_card_is_validated_like_generated_text(study: Any) -> None:
    client, deck, _ = study
    card = deck["cards"][0]
    ok = await client.post(f"/flashcards/{card['id']}/edit",
                           data={"question": "What is light?", "answer": "Energy."},
                           allow_redirects=False)
    assert ok.status == 303
    assert ok.headers["Location"] == f"/decks/{deck['id']}#card-{card['id']}"
    edited = (await api_deck(client, deck["id"]))["cards"][0]
    assert (edited["question"], edited["answer"]) == ("What is light?", "Energy.")
    for bad in BAD_TEXTS:
        resp = await client.post(f"/flashcards/{card['id']}/edit",
                                 data={"question": "Still fine?", "answer": bad})
        assert resp.status == 422, repr(bad)
        html = await resp.text()
        assert "The card edit is not valid." in html and "Answer: " in html
        assert re.search(r"<details class=\"card-edit\" open>", html)  # the form is open again
        unchanged = (await api_deck(client, deck["id"]))["cards"][0]
        assert (unchanged["question"], unchanged["answer"]) == ("What is light?", "Energy.")


async def test_another_users_card_and_deck_cannot_be_changed_from_the_pages(
    study: Any,
) -> None:
    client, deck, bob = study
    bob_headers = {"Authorization": bob["Authorization"]}
    bobs = (await make_deck(client, bob_headers))["result"]["deckId"]
    # alice's cookie, bob's ids: 404 and nothing changes
    bob_card = (await (await client.get(f"/api/decks/{bobs}",
                                        headers=bob_headers)).json())["cards"][0]
    for path, data in [
        (f"/flashcards/{bob_card['id']}/edit", {"question": "Mine?", "answer": "Yes"}),
        (f"/flashcards/{bob_card['id']}/delete", {}),
        (f"/decks/{bob_card['deckId']}/rename", {"title": "Mine"}),
        (f"/decks/{bob_card['deckId']}/delete", {}),
        ("/flashcards/not-a-uuid/edit", {"question": "q?", "answer": "a"}),
    ]:
        resp = await client.post(path, data=data, allow_redirects=False)
        assert resp.status == 404, path
    after = await (await client.get(f"/api/decks/{bob_card['deckId']}",
                                    headers=bob_headers)).json()
    assert after["title"] == "Photosynthesis" and after["cards"][0] == bob_card
    assert deck["id"]  # alice's own deck is untouched by all of this


async def test_deleting_a_card_and_then_the_deck_takes_their_reviews_along(
    study: Any, db: asyncpg.Pool
) -> None:
    client, deck, _ = study
    first, second = deck["cards"][0], deck["cards"][1]
    await client.post(f"/api/flashcards/{second['id']}/reviews", json={"rating": "good"})
    resp = await client.post(f"/flashcards/{first['id']}/delete", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/decks/{deck['id']}"
    assert (await api_deck(client, deck["id"]))["cardCount"] == deck["cardCount"] - 1
    resp = await client.post(f"/decks/{deck['id']}/delete", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 0
    assert await db.fetchval("SELECT count(*) FROM review_logs") == 0
    await page(client, f"/decks/{deck['id']}", status=404)


# ---------------------------------------------------------------- review


def rating_form(html: str) -> dict[str, str]:
    """The hidden fields of the page's first rating form."""
    fields = dict(re.findall(r'<input type="hidden" name="(cardId|reps)" value="([^"]+)">', html))
    assert set(fields) == {"cardId", "reps"}, html
    return fields


async def test_a_review_session_rates_due_cards_one_at_a_time_until_none_is_due(
    study: Any, db: asyncpg.Pool
) -> None:
    client, deck, _ = study
    path = f"/decks/{deck['id']}/review"
    html = await page(client, path)
    assert f"{deck['dueCount']} cards due" in html
    for label in ("Again", "Hard", "Good", "Easy"):
        assert f"> {label} <span class=\"rating-interval\">" in html
    assert '<span class="rating-interval">1 min</span>' in html  # FSRS: Again on a new card
    rated = 0
    while "Nothing more is due" not in html:
        form = rating_form(html)
        resp = await client.post(path, data={**form, "rating": "good"}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == path
        rated += 1
        assert rated <= deck["cardCount"]
        html = await page(client, path)
    assert rated == deck["cardCount"]
    assert "The next card is due in 10 minutes." in html  # Good on a new card: 10 min
    assert await review_logs(db, deck["id"]) == rated
    assert "Nothing due" in await page(client, "/")


async def test_a_rating_posted_twice_or_from_a_stale_tab_rates_the_card_once(
    study: Any, db: asyncpg.Pool
) -> None:
    client, deck, _ = study
    path = f"/decks/{deck['id']}/review"
    form = rating_form(await page(client, path))
    for _ in range(3):
        resp = await client.post(path, data={**form, "rating": "again"}, allow_redirects=False)
        assert resp.status == 303
    in_place = await client.post(f"/fragments{path}", data={**form, "rating": "easy"})
    assert in_place.status == 200
    assert await review_logs(db, deck["id"]) == 1
    card = await (await client.get(f"/api/flashcards/{form['cardId']}")).json()
    assert card["review"]["reps"] == 1 and card["review"]["state"] == "learning"


@pytest.mark.parametrize("change", [
    {"rating": "perfect"}, {"rating": ""}, {"rating": "good\x00"}, {"reps": "one"},
    {"reps": "9" * 400}, {"cardId": "not-a-uuid"}, {"cardId": str(uuid.UUID(int=0))},
])
async def test_a_bad_rating_form_is_a_clear_4xx_and_rates_nothing(
    study: Any, db: asyncpg.Pool, change: dict[str, str]
) -> None:
    client, deck, _ = study
    path = f"/decks/{deck['id']}/review"
    form = {**rating_form(await page(client, path)), "rating": "good", **change}
    plain = await client.post(path, data=form, allow_redirects=False)
    in_place = await client.post(f"/fragments{path}", data=form)
    assert plain.status in (404, 422) and in_place.status == plain.status
    assert "Traceback" not in await plain.text() + await in_place.text()
    assert await review_logs(db, deck["id"]) == 0


async def test_a_card_of_another_deck_cannot_be_rated_through_this_decks_session(
    study: Any, db: asyncpg.Pool
) -> None:
    client, deck, _ = study
    headers = dict(client.session.headers)
    other = await make_deck(client, headers, "# Rocks\n\nBasalt is a volcanic rock.\n",
                            title="Rocks")
    other_deck = await api_deck(client, other["result"]["deckId"])
    form = {"cardId": other_deck["cards"][0]["id"], "reps": "0", "rating": "good"}
    resp = await client.post(f"/decks/{deck['id']}/review", data=form, allow_redirects=False)
    assert resp.status == 404
    assert await db.fetchval("SELECT count(*) FROM review_logs") == 0


async def test_the_in_place_rating_answers_with_the_next_card_fragment(study: Any) -> None:
    client, deck, _ = study
    path = f"/fragments/decks/{deck['id']}/review"
    first = await page(client, path)
    assert first.startswith('<section class="review" id="review"')
    form = rating_form(first)
    resp = await client.post(path, data={**form, "rating": "easy"})
    nxt = await resp.text()
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert nxt.startswith('<section class="review" id="review"')
    assert rating_form(nxt)["cardId"] != form["cardId"]
    gone = await client.get(f"/fragments/decks/{uuid.uuid4()}/review")
    assert gone.status == 404 and "There is no such deck" in await gone.text()


# ---------------------------------------------------------------- quiz


async def test_the_quiz_asks_every_card_with_answer_choices_and_offers_to_make_them(
    study: Any,
) -> None:
    client, deck, _ = study
    before = await page(client, f"/decks/{deck['id']}/quiz")
    assert "No card of this deck has answer choices yet" in before
    assert f'name="deckId" value="{deck["id"]}"' in before
    job = await (await client.post("/api/jobs", json={
        "type": "distractor_generation", "payload": {"deckId": deck["id"]}})).json()
    from tests.integration.test_generation import settle

    done = await settle(client, dict(client.session.headers), job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    job_page = await page(client, f"/jobs/{job['id']}")
    assert f'href="/decks/{deck["id"]}/quiz"' in job_page
    quiz = await page(client, f"/decks/{deck['id']}/quiz")
    with_choices = [c for c in (await api_deck(client, deck["id"]))["cards"] if c["distractors"]]
    assert quiz.count('data-role="quiz-question"') == len(with_choices) > 0
    assert quiz.count('data-correct="true"') == len(with_choices)
    assert "You got {right} of {total} right." in quiz


# ---------------------------------------------------------------- settings


async def test_desired_retention_is_set_in_percent_from_the_dashboard(study: Any) -> None:
    client, _, _ = study
    assert 'name="desiredRetention"' in await page(client, "/")
    assert 'value="90"' in await page(client, "/")
    ok = await client.post("/settings", data={"desiredRetention": "85"}, allow_redirects=False)
    assert ok.status == 303
    assert (await (await client.get("/api/settings")).json()) == {"desiredRetention": 0.85}
    for bad in ["69", "98", "", "abc", "9" * 100, "8\x005", "85.5", "-90", "\u0661\u0660"]:
        resp = await client.post("/settings", data={"desiredRetention": bad})
        assert resp.status == 422, repr(bad)
        assert "Desired retention must be a whole number from 70 to 97" in await resp.text()
    assert (await (await client.get("/api/settings")).json()) == {"desiredRetention": 0.85}
