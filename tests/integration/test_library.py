"""The study library over real HTTP and PostgreSQL: decks made by flashcard jobs, renaming,
deleting, editing cards, FSRS review, settings, export and answer choices per deck."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import uuid
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.test_generation import PHOTOSYNTHESIS, create, settle

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus"
TECTONICS = (CORPUS / "plate_tectonics.md").read_text()


@pytest.fixture
async def library(make_client: Any, new_user: Any) -> Any:
    client = await make_client(llm_provider="offline")
    alice = {"Authorization": (await new_user("alice"))["Authorization"]}
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    return client, alice, bob


async def make_deck(client: Any, headers: dict[str, str], content: str = PHOTOSYNTHESIS,
                    **extra: Any) -> dict[str, Any]:
    job = await create(client, headers, "flashcard_generation",
                       {"content": content, "maxCards": 6, **extra})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    return done


async def get_json(client: Any, path: str, headers: dict[str, str], status: int = 200) -> Any:
    resp = await client.get(path, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


# ---------------------------------------------------------------- decks


async def test_a_completed_flashcard_job_leaves_a_deck_titled_from_its_first_heading(
    library: Any,
) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice)
    result = job["result"]
    assert set(result) >= {"deckId", "flashcardIds", "count", "skippedDuplicates"}
    assert result["skippedDuplicates"] == 0
    deck = await get_json(client, f"/api/decks/{result['deckId']}", alice)
    assert deck["title"] == "Photosynthesis"
    assert deck["jobId"] == job["id"]
    assert deck["cardCount"] == result["count"] == len(deck["cards"])
    assert deck["dueCount"] == deck["cardCount"]  # new cards are due at once
    assert [c["id"] for c in deck["cards"]] == result["flashcardIds"]  # deck order
    card = deck["cards"][0]
    assert card["deckId"] == deck["id"] and card["distractors"] == []
    assert card["review"]["state"] == "new" and card["review"]["reps"] == 0
    assert "source" in card  # the offline provider's quotes are its own (null until it has them)
    listed = await get_json(client, "/api/decks", alice)
    assert [d["id"] for d in listed["decks"]] == [deck["id"]] and listed["next"] is None


async def test_payload_title_names_the_deck_and_deck_id_appends_to_it(library: Any) -> None:
    client, alice, _ = library
    first = await make_deck(client, alice, title="Biology, week 1")
    deck_id = first["result"]["deckId"]
    second = await make_deck(client, alice, TECTONICS, deckId=deck_id)
    assert second["result"]["deckId"] == deck_id
    deck = await get_json(client, f"/api/decks/{deck_id}", alice)
    assert deck["title"] == "Biology, week 1"
    ids = [c["id"] for c in deck["cards"]]
    assert ids == first["result"]["flashcardIds"] + second["result"]["flashcardIds"]
    assert len((await get_json(client, "/api/decks", alice))["decks"]) == 1


async def test_the_same_notes_again_are_skipped_as_duplicates_across_the_library(
    library: Any,
) -> None:
    client, alice, _ = library
    first = await make_deck(client, alice)
    again = await make_deck(client, alice, deckId=first["result"]["deckId"])
    assert again["result"]["count"] == 0
    assert again["result"]["skippedDuplicates"] == first["result"]["count"]
    job = await create(client, alice, "flashcard_generation",
                       {"content": PHOTOSYNTHESIS, "maxCards": 6})
    refused = await settle(client, alice, job["id"], "completed", "failed")
    assert refused["status"] == "failed"
    assert "already in your library" in refused["error"]


async def test_a_deck_id_that_is_not_the_users_is_refused_with_422(library: Any) -> None:
    client, alice, bob = library
    deck_id = (await make_deck(client, alice))["result"]["deckId"]
    for payload in ({"content": "x", "deckId": deck_id},
                    {"content": "x", "deckId": str(uuid.uuid4())}):
        resp = await client.post("/api/jobs", headers=bob,
                                 json={"type": "flashcard_generation", "payload": payload})
        assert resp.status == 422
        assert (await resp.json())["details"][0]["field"] == "payload.deckId"


async def test_decks_paginate_newest_first_with_a_cursor(library: Any, db: asyncpg.Pool) -> None:
    client, alice, _ = library
    user_id = await db.fetchval("SELECT id FROM users WHERE name = 'alice'")
    await db.execute(
        """INSERT INTO decks (user_id, title, created_at)
           SELECT $1, 'Deck ' || g, now() - make_interval(mins => g)
           FROM generate_series(1, 5) g""",
        user_id,
    )
    page = await get_json(client, "/api/decks?limit=2", alice)
    assert [d["title"] for d in page["decks"]] == ["Deck 1", "Deck 2"]
    rest = await get_json(client, f"/api/decks?limit=2&before={page['next']}", alice)
    assert [d["title"] for d in rest["decks"]] == ["Deck 3", "Deck 4"]
    last = await get_json(client, f"/api/decks?limit=2&before={rest['next']}", alice)
    assert [d["title"] for d in last["decks"]] == ["Deck 5"] and last["next"] is None
    for bad in ("limit=0", "limit=101", "limit=x", "before=%00", "other=1"):
        resp = await client.get(f"/api/decks?{bad}", headers=alice)
        assert resp.status == 422, bad


async def test_rename_and_delete_a_deck_and_another_users_deck_is_404(
    library: Any, db: asyncpg.Pool,
) -> None:
    client, alice, bob = library
    job = await make_deck(client, alice)
    deck_id = job["result"]["deckId"]
    renamed = await client.patch(f"/api/decks/{deck_id}", json={"title": "  Leaves \n and light "},
                                 headers=alice)
    assert renamed.status == 200
    body = await renamed.json()
    assert body["title"] == "Leaves and light" and "cards" not in body
    for method, path in (("GET", f"/api/decks/{deck_id}"), ("PATCH", f"/api/decks/{deck_id}"),
                         ("DELETE", f"/api/decks/{deck_id}"),
                         ("GET", f"/api/decks/{deck_id}/export?format=csv"),
                         ("GET", f"/api/reviews/due?deckId={deck_id}"),
                         ("GET", "/api/decks/not-a-uuid"), ("GET", f"/api/decks/{uuid.uuid4()}")):
        resp = await client.request(method, path, headers=bob, json={"title": "Mine"})
        assert resp.status == 404, (method, path)
        assert (await resp.json())["code"] == "NOT_FOUND"
    await db.execute("INSERT INTO distractors (id, flashcard_id, job_id, text, position) "
                     "VALUES ($1, $2, $3, 'Wrong', 0)", uuid.uuid4(),
                     uuid.UUID(job["result"]["flashcardIds"][0]), uuid.uuid4())
    card = job["result"]["flashcardIds"][0]
    assert (await client.post(f"/api/flashcards/{card}/reviews", json={"rating": "good"},
                              headers=alice)).status == 201
    assert (await client.delete(f"/api/decks/{deck_id}", headers=alice)).status == 204
    assert (await client.get(f"/api/decks/{deck_id}", headers=alice)).status == 404
    for table in ("flashcards", "distractors", "review_logs", "decks"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"), ({"title": "   "}, "title"), ({"title": "a\x00b"}, "title"),
        ({"title": "bell\x07"}, "title"), ({"title": "x" * 201}, "title"),
        ({"title": "x" * 1_000_000}, "title"), ({"title": 5}, "title"), ({}, "title"),
        ({"title": "ok", "extra": 1}, "extra"), ({"title": "rtl\u202eoverride"}, "title"),
    ],
)
async def test_a_bad_deck_title_is_422_and_changes_nothing(
    library: Any, body: dict[str, Any], field: str,
) -> None:
    client, alice, _ = library
    deck_id = (await make_deck(client, alice))["result"]["deckId"]
    resp = await client.patch(f"/api/decks/{deck_id}", json=body, headers=alice)
    assert resp.status in (413, 422), await resp.text()
    if resp.status == 422:
        assert (await resp.json())["details"][0]["field"] == field
    assert (await get_json(client, f"/api/decks/{deck_id}", alice))["title"] == "Photosynthesis"


async def test_a_deck_whose_job_was_pruned_still_opens(library: Any, db: asyncpg.Pool) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice)
    await db.execute("DELETE FROM background_jobs")
    deck = await get_json(client, f"/api/decks/{job['result']['deckId']}", alice)
    assert deck["jobId"] == job["id"] and len(deck["cards"]) == job["result"]["count"]


# ---------------------------------------------------------------- editing cards


async def test_edit_a_card_then_delete_it(library: Any, db: asyncpg.Pool) -> None:
    client, alice, bob = library
    job = await make_deck(client, alice)
    card_id = job["result"]["flashcardIds"][0]
    edited = await client.patch(f"/api/flashcards/{card_id}", headers=alice,
                                json={"answer": "  Light, water and CO2 "})
    assert edited.status == 200
    card = await edited.json()
    assert card["answer"] == "Light, water and CO2" and card["question"]
    assert (await client.patch(f"/api/flashcards/{card_id}", headers=bob,
                               json={"answer": "x"})).status == 404
    assert (await client.delete(f"/api/flashcards/{card_id}", headers=bob)).status == 404
    assert (await client.delete(f"/api/flashcards/{card_id}", headers=alice)).status == 204
    assert (await client.get(f"/api/flashcards/{card_id}", headers=alice)).status == 404
    assert (await client.delete(f"/api/flashcards/{card_id}", headers=alice)).status == 404
    deck = await get_json(client, f"/api/decks/{job['result']['deckId']}", alice)
    assert deck["cardCount"] == job["result"]["count"] - 1


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""}, {"answer": "   "}, {"question": "nul\x00inside"},
        {"answer": "esc\x1b[31m"}, {"question": "q" * 501}, {"answer": "a" * 3_000_000},
        {"question": None, "answer": 3}, {"answer": ["list"]}, {"answer": "ok", "jobId": "x"},
        {"question": "\ud800 lone surrogate"},
    ],
)
async def test_a_bad_card_edit_is_refused_and_changes_nothing(
    library: Any, body: dict[str, Any],
) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice)
    card_id = job["result"]["flashcardIds"][0]
    before = await get_json(client, f"/api/flashcards/{card_id}", alice)
    resp = await client.patch(f"/api/flashcards/{card_id}",
                              headers={**alice, "Content-Type": "application/json"},
                              data=io.BytesIO(json.dumps(body).encode()))
    assert resp.status in (400, 413, 422), await resp.text()
    assert (await resp.json())["code"] in ("VALIDATION_ERROR", "PAYLOAD_TOO_LARGE",
                                           "INVALID_JSON")
    assert await get_json(client, f"/api/flashcards/{card_id}", alice) == before


# ---------------------------------------------------------------- review


async def test_review_semantics_again_good_easy_and_the_log(library: Any, db: asyncpg.Pool) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice)
    deck_id = job["result"]["deckId"]
    first, second, third = job["result"]["flashcardIds"][:3]
    due = await get_json(client, f"/api/reviews/due?deckId={deck_id}&limit=2", alice)
    assert due["dueCount"] == job["result"]["count"] and len(due["cards"]) == 2

    async def rate(card: str, rating: str) -> dict[str, Any]:
        resp = await client.post(f"/api/flashcards/{card}/reviews", json={"rating": rating},
                                 headers=alice)
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    again = await rate(first, "again")
    assert again["review"]["rating"] == "again" and again["review"]["scheduledDays"] < 1
    assert again["card"]["review"]["state"] == "learning" and again["card"]["review"]["reps"] == 1
    good, easy = await rate(second, "good"), await rate(third, "easy")
    assert easy["review"]["scheduledDays"] >= good["review"]["scheduledDays"] > 0
    due_ids = {c["id"] for c in (await get_json(client, "/api/reviews/due?limit=100", alice))
               ["cards"]}
    assert second not in due_ids and third not in due_ids
    rows = await db.fetch("SELECT rating, state_before FROM review_logs ORDER BY reviewed_at")
    assert [(r["rating"], r["state_before"]) for r in rows] == [
        ("again", "new"), ("good", "new"), ("easy", "new")]


@pytest.mark.parametrize("body", [{"rating": "perfect"}, {"rating": 3}, {}, {"rating": "Good"},
                                  {"rating": "good", "at": "now"}])
async def test_a_bad_rating_is_422(library: Any, body: dict[str, Any], db: asyncpg.Pool) -> None:
    client, alice, _ = library
    card = (await make_deck(client, alice))["result"]["flashcardIds"][0]
    resp = await client.post(f"/api/flashcards/{card}/reviews", json=body, headers=alice)
    assert resp.status == 422
    assert await db.fetchval("SELECT count(*) FROM review_logs") == 0


async def test_reviewing_another_users_card_is_404_and_due_query_is_checked(
    library: Any,
) -> None:
    client, alice, bob = library
    card = (await make_deck(client, alice))["result"]["flashcardIds"][0]
    resp = await client.post(f"/api/flashcards/{card}/reviews", json={"rating": "good"},
                             headers=bob)
    assert resp.status == 404
    assert (await get_json(client, "/api/reviews/due", bob))["dueCount"] == 0
    for bad in ("limit=0", "limit=101", "deckId=nope", "limit=1e9"):
        assert (await client.get(f"/api/reviews/due?{bad}", headers=alice)).status == 422, bad


async def test_two_reviews_of_one_card_at_once_are_both_applied(
    library: Any, db: asyncpg.Pool,
) -> None:
    """Without the row lock both would schedule from the same state: one review lost."""
    client, alice, _ = library
    card = (await make_deck(client, alice))["result"]["flashcardIds"][0]
    responses = await asyncio.gather(*(
        client.post(f"/api/flashcards/{card}/reviews", json={"rating": "good"}, headers=alice)
        for _ in range(8)
    ))
    assert [r.status for r in responses] == [201] * 8
    assert await db.fetchval("SELECT reps FROM flashcards WHERE id = $1", uuid.UUID(card)) == 8
    assert await db.fetchval("SELECT count(*) FROM review_logs") == 8


async def test_desired_retention_defaults_to_0_9_and_is_bounded(library: Any) -> None:
    client, alice, bob = library
    assert await get_json(client, "/api/settings", alice) == {"desiredRetention": 0.9}
    saved = await client.put("/api/settings", json={"desiredRetention": 0.8}, headers=alice)
    assert saved.status == 200 and await saved.json() == {"desiredRetention": 0.8}
    assert await get_json(client, "/api/settings", alice) == {"desiredRetention": 0.8}
    assert await get_json(client, "/api/settings", bob) == {"desiredRetention": 0.9}
    for body in ({"desiredRetention": 0.69}, {"desiredRetention": 0.971},
                 {"desiredRetention": "0.9"}, {"desiredRetention": True}, {},
                 {"desiredRetention": None}, {"desiredRetention": 0.9, "x": 1}):
        resp = await client.put("/api/settings", json=body, headers=alice)
        assert resp.status == 422, body
    resp = await client.put("/api/settings", data="NaN",
                            headers={**alice, "Content-Type": "application/json"})
    assert resp.status in (400, 422)
    assert await get_json(client, "/api/settings", alice) == {"desiredRetention": 0.8}


# ---------------------------------------------------------------- export


async def test_csv_export_parses_with_header_and_guards_formulas(
    library: Any, db: asyncpg.Pool,
) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice)
    card = job["result"]["flashcardIds"][0]
    await client.patch(f"/api/flashcards/{card}", json={"answer": '=HYPERLINK("x", "a, b")'},
                       headers=alice)
    resp = await client.get(f"/api/decks/{job['result']['deckId']}/export?format=csv",
                            headers=alice)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    text = await resp.text()
    assert text.startswith("question,answer,source\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == job["result"]["count"] + 1
    assert rows[1][1] == '\'=HYPERLINK("x", "a, b")'
    bad = await client.get(f"/api/decks/{job['result']['deckId']}/export?format=pdf",
                           headers=alice)
    assert bad.status == 422


async def test_apkg_export_opens_as_anki_would_with_stable_guids(
    library: Any, tmp_path: Path,
) -> None:
    client, alice, _ = library
    job = await make_deck(client, alice, maxCards=20)  # enough to reach the cloze cards
    path = f"/api/decks/{job['result']['deckId']}/export?format=apkg"

    async def export(n: int) -> list[tuple[Any, ...]]:
        resp = await client.get(path, headers=alice)
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
        assert "collection.anki2" in archive.namelist()
        target = tmp_path / f"collection{n}.anki2"
        target.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(target)
        try:
            models = json.loads(conn.execute("SELECT models FROM col").fetchone()[0])
            notes = conn.execute("SELECT guid, mid, flds, tags FROM notes ORDER BY guid").fetchall()
            cards = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
        finally:
            conn.close()
        assert cards >= len(notes)
        names = {m["name"] for m in models.values()}
        assert "cardforge Q/A" in names
        return [(*note, tuple(sorted(names))) for note in notes]

    first, second = await export(1), await export(2)
    assert first == second
    assert len(first) == job["result"]["count"]
    assert all("cardforge::Photosynthesis" in note[3] for note in first)
    fields = [note[2].split("\x1f") for note in first]
    assert any("{{c1::" in f[0] for f in fields), "fill-in-the-blank cards use the cloze model"
    assert all(len(f) in (2, 3) for f in fields), "Q, A, Source or Text, Back Extra (source)"


# ---------------------------------------------------------------- answer choices per deck


async def test_one_job_gives_every_card_of_a_deck_its_choices_shown_on_reload(
    library: Any,
) -> None:
    client, alice, bob = library
    deck_id = (await make_deck(client, alice, maxCards=8))["result"]["deckId"]
    job = await create(client, alice, "distractor_generation", {"deckId": deck_id, "count": 2})
    done = await settle(client, alice, job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    deck = await get_json(client, f"/api/decks/{deck_id}", alice)
    assert done["result"]["deckId"] == deck_id
    with_choices = [c for c in deck["cards"] if c["distractors"]]
    assert done["result"]["cardCount"] == len(with_choices) > 0
    assert done["result"]["distractorCount"] == sum(len(c["distractors"]) for c in with_choices)
    for card in with_choices:
        texts = [d["text"].casefold() for d in card["distractors"]]
        assert card["answer"].casefold() not in texts and len(set(texts)) == len(texts)
    for payload in ({"deckId": deck_id, "flashcardId": deck["cards"][0]["id"]}, {"count": 2}):
        resp = await client.post("/api/jobs", headers=alice,
                                 json={"type": "distractor_generation", "payload": payload})
        assert resp.status == 422
    resp = await client.post("/api/jobs", headers=bob,
                             json={"type": "distractor_generation", "payload": {"deckId": deck_id}})
    assert resp.status == 422


async def test_offline_choices_for_a_deck_never_come_from_another_decks_topic(
    library: Any,
) -> None:
    client, alice, _ = library
    await make_deck(client, alice, TECTONICS, maxCards=10)
    bio = await make_deck(client, alice, maxCards=8)
    tectonic_answers = {c["answer"].casefold() for d in (await get_json(
        client, "/api/decks", alice))["decks"] if d["id"] != bio["result"]["deckId"]
        for c in (await get_json(client, f"/api/decks/{d['id']}", alice))["cards"]}
    job = await create(client, alice, "distractor_generation",
                       {"deckId": bio["result"]["deckId"], "count": 3})
    assert (await settle(client, alice, job["id"], "completed", "failed"))["status"] == "completed"
    deck = await get_json(client, f"/api/decks/{bio['result']['deckId']}", alice)
    offered = {d["text"].casefold() for c in deck["cards"] for d in c["distractors"]}
    assert offered and not offered & tectonic_answers
