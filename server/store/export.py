"""A deck leaves cardforge as CSV or as an Anki package (.apkg, built with genanki).

CSV: RFC 4180 (CRLF rows, fields quoted when needed, quotes doubled), header
``question,answer,source``. A cell a spreadsheet would run as a formula (one starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return: the OWASP list) is prefixed with
``'``, which spreadsheets show as text: card text comes from an LLM reading pasted
material, so "=HYPERLINK(...)" in it is an injection, not a fact. Plain numbers ("-5",
"+3.2") are left as they are. Anki users get the .apkg, which is not affected.

Anki: one note per card. Q/A cards use a basic model (Question, Answer, Source);
fill-in-the-blank cards use Anki's cloze model (the blank becomes ``{{c1::answer}}``,
the source goes in Back Extra). Note GUIDs are ``genanki.guid_for(card id)`` and the model
and deck ids are fixed or derived from the deck's id, so importing a deck again updates
the notes instead of duplicating them. Every note is tagged with the deck's title.
"""

from __future__ import annotations

import csv
import html
import io
import re
import tempfile
from pathlib import Path

import genanki

from server.store.models import DeckWithCards, Flashcard

CSV_HEADER = ("question", "answer", "source")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*%?")
_BLANK = re.compile(r"_{3,}")
_CLOZE_PREFIX = re.compile(r"^Fill in the blank:\s*", re.IGNORECASE)
_TAG_CHARS = re.compile(r"[^\w-]+")

# Fixed ids: the same model in every export, so Anki recognises it on re-import.
BASIC_MODEL = genanki.Model(
    1_607_392_319,
    "cardforge Q/A",
    fields=[{"name": "Question"}, {"name": "Answer"}, {"name": "Source"}],
    templates=[{
        "name": "Card 1",
        "qfmt": "{{Question}}",
        "afmt": '{{FrontSide}}<hr id="answer">{{Answer}}'
                '{{#Source}}<div class="source">{{Source}}</div>{{/Source}}',
    }],
    css=".card { font-family: sans-serif; font-size: 20px; text-align: center; }\n"
        ".source { margin-top: 1em; font-size: 14px; color: #666; font-style: italic; }",
)
CLOZE_MODEL = genanki.CLOZE_MODEL


def safe_cell(text: str | None) -> str:
    if not text:
        return ""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def deck_csv(deck: DeckWithCards) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_HEADER)
    for card in deck.cards:
        writer.writerow([safe_cell(card.question), safe_cell(card.answer), safe_cell(card.source)])
    return out.getvalue()


def deck_tag(title: str) -> str:
    return "cardforge::" + (_TAG_CHARS.sub("_", title).strip("_") or "deck")


def anki_deck_id(deck: DeckWithCards) -> int:
    return deck.id.int % (1 << 62) + 1


def cloze_text(card: Flashcard) -> str | None:
    """The cloze form of a fill-in-the-blank card, or None for a Q/A card."""
    if not _BLANK.search(card.question) or "}}" in card.answer or "::" in card.answer:
        return None
    text = html.escape(_CLOZE_PREFIX.sub("", card.question))
    return _BLANK.sub(lambda _m: "{{c1::" + html.escape(card.answer) + "}}", text, count=1)


def note_for(card: Flashcard, tag: str) -> genanki.Note:
    source = html.escape(card.source or "")
    cloze = cloze_text(card)
    if cloze is not None:
        fields = [cloze, source]
        model = CLOZE_MODEL
    else:
        fields = [html.escape(card.question), html.escape(card.answer), source]
        model = BASIC_MODEL
    return genanki.Note(model=model, fields=fields, tags=[tag], guid=genanki.guid_for(str(card.id)))


def deck_apkg(deck: DeckWithCards) -> bytes:
    """The .apkg bytes. Builds an SQLite file and a zip: call it off the event loop."""
    anki = genanki.Deck(anki_deck_id(deck), deck.title)
    tag = deck_tag(deck.title)
    for card in deck.cards:
        anki.add_note(note_for(card, tag))
    with tempfile.TemporaryDirectory(prefix="cardforge-apkg-") as folder:
        path = Path(folder) / "deck.apkg"
        genanki.Package(anki).write_to_file(str(path), timestamp=deck.updated_at.timestamp())
        return path.read_bytes()


def export_filename(deck: DeckWithCards, extension: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", deck.title).strip("-")[:80] or "deck"
    return f"{stem}.{extension}"
