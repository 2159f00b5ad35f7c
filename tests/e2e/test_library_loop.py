"""The learner's whole loop in Chromium, with the offline generator: paste notes, get a
deck, rename it, edit a card, review every due card from the keyboard until none is due,
quiz the whole deck, and export it for Anki and as CSV."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import tempfile
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, StartServer
from tests.e2e.test_study_flow import LIVE_TIMEOUT_MS, MATERIAL, Screenshot, generate_flashcards

EDITED_ANSWER = "the organelle where photosynthesis happens"
MAX_REVIEWS = 200  # a bound, so a page that never says "done" fails instead of hanging


def deck_id_of(page: Page) -> str:
    match = re.search(r"/decks/([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def review_until_none_due(page: Page) -> list[str]:
    """Space, then a digit, card after card, until the page says nothing more is due.
    The first three cards get Again, Hard and Easy (keys 1, 2, 4), the rest Good (3)."""
    keys: list[str] = []
    review = page.locator("#review")
    for _ in range(MAX_REVIEWS):
        done = review.locator('[data-role="review-done"]')
        card = review.locator("[data-card-id]")
        expect(done.or_(card)).to_be_visible()
        if done.is_visible():
            return keys
        card_id = card.get_attribute("data-card-id")
        reps = review.locator('input[name="reps"]').first.get_attribute("value")
        answer = review.locator('[data-role="answer"]')
        expect(answer).to_be_hidden()
        page.keyboard.press("Space")
        expect(answer).to_be_visible()
        if not keys:
            page.wait_for_timeout(300)
            page.screenshot(path=str(_screens(page) / "review-session.png"), full_page=True)
        key = {0: "1", 1: "2", 2: "4"}.get(len(keys), "3")
        page.keyboard.press(key)
        keys.append(key)
        # the next card (or "done") is swapped in: a new card, or the same card rated since
        expect(review.locator(
            f'[data-card-id]:not([data-card-id="{card_id}"]), [data-role="review-done"], '
            f'form:has(input[name="reps"]:not([value="{reps}"]))'
        ).first).to_be_attached()
    raise AssertionError("the review session never ran out of due cards")


def _screens(page: Page) -> Path:
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def download(page: Page, link_name: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    path = info.value.path()
    return Path(path).read_bytes()


def apkg_notes(package: bytes) -> list[tuple[str, str]]:
    """(guid, fields) of every note, read as Anki reads a package: a zip holding an SQLite
    collection."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        name = next(n for n in archive.namelist() if n.startswith("collection.anki2"))
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "collection.anki2"
            db_path.write_bytes(archive.read(name))
            with sqlite3.connect(db_path) as db:
                return sorted(db.execute("SELECT guid, flds FROM notes").fetchall())


def test_the_whole_loop_paste_deck_rename_edit_review_quiz_export(
    page: Page, start_server: StartServer, screenshot: Screenshot,
) -> None:
    server: LiveServer = start_server()  # the offline provider: no API key
    server.sign_in(page)

    # paste notes, get a deck
    generate_flashcards(page, server, MATERIAL)
    page.get_by_role("link", name="Open the deck").click(timeout=LIVE_TIMEOUT_MS)
    deck_id = deck_id_of(page)
    expect(page.locator("h1")).to_have_text("Photosynthesis")
    deck = server.api("GET", f"/api/decks/{deck_id}")
    card_count = deck["cardCount"]
    assert card_count >= 4
    expect(page.locator(".deck-card")).to_have_count(card_count)
    expect(page.locator('[data-role="source"]').first).to_be_visible()  # cards cite their notes

    # rename it
    page.get_by_text("Rename", exact=True).click()
    page.get_by_label("Deck title").fill("Plant energy")
    page.get_by_role("button", name="Save title").click()
    expect(page.locator("h1")).to_have_text("Plant energy")

    # edit a card: a blank answer is refused beside the form, then a real one is saved
    first = page.locator(".deck-card").first
    card_id = first.get_attribute("data-card-id")
    first.locator("summary", has_text="Edit").click()
    first.get_by_label("Answer").fill("   ")
    first.get_by_role("button", name="Save card").click()
    refused = page.locator(f"#card-{card_id} .form-error")
    expect(refused).to_contain_text("Answer: must not be blank")
    page.locator(f"#card-{card_id}").get_by_label("Answer").fill(EDITED_ANSWER)
    page.locator(f"#card-{card_id}").get_by_role("button", name="Save card").click()
    expect(page.locator(f'#card-{card_id} [data-role="answer"]')).to_have_text(EDITED_ANSWER)
    screenshot("deck-page")

    # the dashboard links to the deck and says how many are due
    page.get_by_role("link", name="Dashboard").click()
    tile = page.locator(f'a.deck[href="/decks/{deck_id}"]')
    expect(tile).to_contain_text("Plant energy")
    expect(tile.locator('[data-role="deck-due"]')).to_have_text(f"{card_count} due")
    tile.click()

    # review with the keyboard until none is due
    page.get_by_role("link", name=re.compile(r"Review \d+ due card")).click()
    page.evaluate("window.__sameDocument = true")
    keys = review_until_none_due(page)
    assert page.evaluate("window.__sameDocument === true"), "rating reloaded the page"
    assert len(keys) >= card_count
    expect(page.locator('[data-role="review-done"]')).to_contain_text("The next card is due in")
    screenshot("review-done")
    cards = server.api("GET", f"/api/decks/{deck_id}")["cards"]
    assert all(card["review"]["state"] != "new" for card in cards)
    assert sum(card["review"]["reps"] for card in cards) == len(keys)  # each press rated once
    assert server.api("GET", f"/api/reviews/due?deckId={deck_id}")["dueCount"] <= 1

    # answer choices for the whole deck in one job, then the quiz, one question at a time
    page.get_by_role("link", name="Back to the deck").click()
    page.get_by_role("button", name="Make answer choices for a quiz").click()
    page.get_by_role("link", name="Quiz the whole deck").click(timeout=LIVE_TIMEOUT_MS)
    questions = page.locator('[data-role="quiz-question"]')
    total = questions.count()
    assert total == card_count
    right = 0
    for index in range(total):
        question = questions.nth(index)
        expect(question).to_be_visible()
        expect(questions.locator("visible=true")).to_have_count(1)
        pick_right = index % 2 == 0
        choice = question.locator(f'.choice[data-correct="{str(pick_right).lower()}"]').first
        choice.click()
        right += pick_right
        expect(question.locator('[data-role="feedback"]')).to_have_text(
            "Correct!" if pick_right else re.compile("^Incorrect"))
        if index == 1:
            screenshot("quiz")
        question.locator('[data-action="next-question"]').click()
    expect(page.locator('[data-role="score-text"]')).to_have_text(
        f"You got {right} of {total} right.")
    screenshot("quiz-score")

    # export: an Anki package with one note per card and stable GUIDs, and a CSV
    page.get_by_role("link", name="Back to the deck").click()
    first_export = apkg_notes(download(page, "Anki package (.apkg)"))
    second_export = apkg_notes(download(page, "Anki package (.apkg)"))
    assert len(first_export) == card_count
    assert [guid for guid, _ in first_export] == [guid for guid, _ in second_export]
    assert any(EDITED_ANSWER in fields for _, fields in first_export)
    rows = list(csv.reader(io.StringIO(download(page, "CSV").decode("utf-8-sig"))))
    assert rows[0] == ["question", "answer", "source"]
    assert len(rows) == card_count + 1
    assert any(row[1] == EDITED_ANSWER for row in rows[1:])
