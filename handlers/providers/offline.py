"""The offline provider: a deterministic, local, extractive study generator.

Used when no ``ANTHROPIC_API_KEY`` is set. Every card quotes the material: definitions,
names and dates become questions; other sentences become a cloze on their key term
(TF-IDF over the material's sentences). Same input, same output, no network.

Usage: the offline provider spends no tokens, so it adds nothing to ``usage`` (0 in,
0 out); counting words as "tokens" would mix two units in one column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.errors import PermanentError
from handlers.models import CardDraft, NodeDraft
from handlers.providers.answer_choices import choose_distractors
from handlers.providers.cpu import CpuRunner, InlineRunner
from handlers.providers.extract import Document, Sentence, normalize, word_set, words_of
from handlers.providers.facts import FactKind, fact_from_sentence, glossary_fact, is_vague_subject
from handlers.providers.keyterms import KeyTerms
from handlers.providers.outline import tree_from_outline

if TYPE_CHECKING:
    from handlers.context import Usage

BLANK = "____"
CLOZE_PREFIX = "Fill in the blank: "
MAX_QUESTION_CHARS = 500
_FACT_WORDS = (4, 50)
_CLOZE_WORDS = (8, 45)
_YEAR = re.compile(r"(?<![\w-])(1\d{3}|20\d{2})(?![\w-])")
# A sentence opening like this leans on the one before it: as a cloze it is ambiguous.
_CONTEXT_OPENERS = word_set(
    "it its this these that those they their he she his her such here there"
)
_KIND_ORDER = {FactKind.DEFINITION: 0, FactKind.NAMING: 0, FactKind.PERSON: 1, FactKind.DATE: 2}


@dataclass(frozen=True)
class _Card:
    question: str
    answer: str
    position: int
    score: float


class OfflineGenerator:
    """:class:`~handlers.generator.StudyGenerator` that needs no network and no key."""

    provider = "offline"
    model = "cardforge-extractive-1"
    # Same input, same output: a retry cannot do better, so failures are permanent.
    deterministic = True

    def __init__(self, cpu: CpuRunner | None = None) -> None:
        # The server passes its process pool; without one the work runs in the caller.
        self._cpu: CpuRunner = cpu if cpu is not None else InlineRunner()

    async def flashcards(self, material: str, *, max_cards: int, usage: Usage) -> list[CardDraft]:
        return await self._cpu.run(extract_cards, material, max_cards)

    async def distractors(
        self,
        *,
        question: str,
        answer: str,
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[str]:
        return await self._cpu.run(
            _distractors, question, answer, count, material, list(other_answers)
        )

    async def skill_tree(
        self,
        *,
        goal: str,
        description: str | None,
        material: str | None,
        max_depth: int,
        usage: Usage,
    ) -> list[NodeDraft]:
        if material is None or not material.strip():
            raise PermanentError(
                "A skill tree needs study material when no ANTHROPIC_API_KEY is set: "
                "paste some notes, or configure an API key."
            )
        return await self._cpu.run(_skill_tree, goal, description, material, max_depth)

    async def aclose(self) -> None:
        return None


# The functions a CpuRunner runs: module-level, positional arguments, picklable results.


def _distractors(
    question: str, answer: str, count: int, material: str | None, other_answers: list[str]
) -> list[str]:
    return choose_distractors(
        question=question,
        answer=answer,
        count=count,
        material=material,
        other_answers=other_answers,
    )


def _skill_tree(
    goal: str, description: str | None, material: str, max_depth: int
) -> list[NodeDraft]:
    nodes = tree_from_outline(
        Document.parse(material), goal=goal, description=description, max_depth=max_depth
    )
    if len(nodes) < 2 and max_depth > 1:
        raise PermanentError(
            "No outline or topics could be found in this material: add headings or a few "
            "paragraphs of notes, or configure an ANTHROPIC_API_KEY."
        )
    return nodes


def extract_cards(material: str, max_cards: int) -> list[CardDraft]:
    """Definition-style cards first, then key-term clozes; each group in reading order."""
    if max_cards <= 0:
        return []
    doc = Document.parse(material)
    terms = KeyTerms([s.text for s in doc.sentences], [h.text for h in doc.headings])
    selection = _Selection(normalize(material))
    facts = sorted(_fact_cards(doc, terms), key=lambda c: (-c.score, c.position))
    chosen = selection.take(facts, max_cards)
    clozes = sorted(_cloze_cards(doc, terms, selection), key=lambda c: (-c.score, c.position))
    chosen += selection.take(clozes, max_cards - len(chosen))
    return [CardDraft(question=c.question, answer=c.answer) for c in chosen]


class _Selection:
    """What has been used: sentences (one card each), answers and questions (no repeats)."""

    def __init__(self, normalized_source: str) -> None:
        self.source = normalized_source
        self.sentences: set[int] = set()
        self.answers: set[str] = set()
        self.questions: set[str] = set()

    def fresh(self, question: str, answer: str, position: int) -> bool:
        answer_key, question_key = normalize(answer), _question_key(question)
        return (
            position not in self.sentences
            and answer_key not in self.answers
            and question_key not in self.questions
            and answer_key in self.source  # grounded: the answer is quoted from the material
            and answer_key not in normalize(question)
            and len(question) <= MAX_QUESTION_CHARS
        )

    def take(self, cards: list[_Card], limit: int) -> list[_Card]:
        """The best ``limit`` fresh cards, returned in reading order."""
        taken: list[_Card] = []
        for card in cards:
            if len(taken) >= limit:
                break
            if not self.fresh(card.question, card.answer, card.position):
                continue
            self.sentences.add(card.position)
            self.answers.add(normalize(card.answer))
            self.questions.add(_question_key(card.question))
            taken.append(card)
        return sorted(taken, key=lambda c: c.position)


def _fact_cards(doc: Document, terms: KeyTerms) -> list[_Card]:
    cards: list[_Card] = []
    for sentence in doc.sentences:
        if not _FACT_WORDS[0] <= sentence.words <= _FACT_WORDS[1]:
            continue
        fact = fact_from_sentence(sentence.text, doc.vocabulary)
        if fact is None:
            continue
        score = _relevance(sentence.text, terms) - _KIND_ORDER[fact.kind]
        cards.append(_Card(fact.question, fact.answer, sentence.position, score))
    # Glossary lines ("**Osmosis**: ...") are one-sentence blocks; they sort by their block.
    first_position = {s.block: s.position for s in reversed(doc.sentences)}
    for block in doc.blocks:
        glossary = glossary_fact(block, doc.vocabulary)
        if glossary is not None and block.index in first_position:
            score = _relevance(block.text, terms)
            cards.append(
                _Card(glossary.question, glossary.answer, first_position[block.index], score)
            )
    return cards


def _cloze_cards(doc: Document, terms: KeyTerms, selection: _Selection) -> list[_Card]:
    cards: list[_Card] = []
    for sentence in doc.sentences:
        if sentence.position in selection.sentences or not _cloze_worthy(sentence):
            continue
        card = _cloze(sentence, terms, selection)
        if card is not None:
            cards.append(card)
    return cards


def _cloze_worthy(sentence: Sentence) -> bool:
    low, high = _CLOZE_WORDS
    words = words_of(sentence.text)
    return (
        low <= sentence.words <= high
        and not sentence.text.endswith(("?", ":"))
        and sentence.text[-1:] in ".!\"')\u201d\u2019"
        and bool(words)
        and words[0].lower() not in _CONTEXT_OPENERS
        and not is_vague_subject(sentence.text)
    )


def _cloze(sentence: Sentence, terms: KeyTerms, selection: _Selection) -> _Card | None:
    """Blank out the sentence's best unused key term (or its one year) exactly once."""
    text = sentence.text
    relevance = _relevance(text, terms)
    years = _YEAR.findall(text)
    if len(years) == 1:
        card = _blanked(text, _YEAR.search(text), sentence.position, relevance)
        if card is not None and selection.fresh(card.question, card.answer, card.position):
            return card
    for term in terms.in_text(text):
        if not term.nounish:
            continue
        pattern = r"(?<![\w-])" + r"\s+".join(map(re.escape, term.key.split())) + r"(?![\w-])"
        matches = list(re.finditer(pattern, text, flags=re.IGNORECASE))
        if len(matches) != 1:
            continue
        card = _blanked(text, matches[0], sentence.position, term.score)
        if card is not None and selection.fresh(card.question, card.answer, card.position):
            return card
    return None


def _blanked(text: str, match: re.Match[str] | None, position: int, score: float) -> _Card | None:
    if match is None:
        return None
    rest = text[: match.start()] + BLANK + text[match.end() :]
    if len(rest.split()) < 6:
        return None
    return _Card(CLOZE_PREFIX + rest, match.group(), position, score)


def _relevance(text: str, terms: KeyTerms) -> float:
    """How central a sentence is: the score of its best key term."""
    found = terms.in_text(text)
    return found[0].score if found else 0.0


def _question_key(question: str) -> str:
    return " ".join(re.findall(r"\w+", question.casefold()))
