"""The offline provider: a deterministic, local, extractive study generator.

Used when no ``ANTHROPIC_API_KEY`` is set. Every card quotes the material: definitions,
names and dates become questions; other sentences become a cloze on their key term
(TF-IDF over the material's sentences). Same input, same output, no network.

Usage: the offline provider spends no tokens, so it adds nothing to ``usage`` (0 in,
0 out); counting words as "tokens" would mix two units in one column.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from handlers.errors import PermanentError
from handlers.models import CardDraft, NodeDraft
from handlers.pricing import FREE
from handlers.providers.answer_choices import choose_distractors
from handlers.providers.card_lint import (
    BLANK,
    CLOZE_PREFIX,
    Check,
    LintSource,
    is_near_duplicate,
    is_noun_modifier,
    lint_card,
)
from handlers.providers.cpu import CpuRunner, InlineRunner
from handlers.providers.extract import (
    CONNECTIVES,
    STOPWORDS,
    Block,
    BlockKind,
    Document,
    Sentence,
    normalize,
    word_set,
    words_of,
)
from handlers.providers.facts import (
    Fact,
    FactKind,
    fact_from_sentence,
    glossary_fact,
    is_vague_subject,
    table_facts,
)
from handlers.providers.general_outline import general_outline
from handlers.providers.keyterms import KeyTerms
from handlers.providers.outline import ROOT_KEY, outline_tree, tree_from_outline
from handlers.text import is_year, question_key

if TYPE_CHECKING:
    from handlers.context import Usage

__all__ = ["BLANK", "CLOZE_PREFIX", "OfflineDeck", "OfflineGenerator", "extract_cards"]

MAX_QUESTION_CHARS = 500
MAX_SOURCE_CHARS = 1_000
_FACT_WORDS = (4, 50)
_CLOZE_WORDS = (8, 45)
_CLAUSE_WORDS = 7
# A sentence opening like this leans on the one before it: as a cloze it is ambiguous.
_CONTEXT_OPENERS = word_set(
    "it its this these that those they their he she his her such here there yes no"
)
_KIND_ORDER = {FactKind.DEFINITION: 0, FactKind.NAMING: 0, FactKind.PERSON: 1, FactKind.DATE: 2}


class OfflineGenerator:
    """:class:`~handlers.generator.StudyGenerator` that needs no network and no key."""

    provider = "offline"
    model = "cardforge-extractive-1"
    # Same input, same output: a retry cannot do better, so failures are permanent.
    deterministic = True
    price = FREE  # runs locally: its jobs cost nothing, and say so

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

    async def deck_distractors(
        self,
        *,
        cards: list[tuple[str, str]],
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[list[str]]:
        return await self._cpu.run(
            _deck_distractors, list(cards), count, material, list(other_answers)
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
            # nothing to read: a general path for any goal, labelled as such on the root
            return general_outline(goal, max_depth=max_depth)
        return await self._cpu.run(_skill_tree, goal, description, material, max_depth)

    async def cards_for_tree(
        self, *, goal: str, description: str | None, material: str, max_depth: int,
        max_cards: int,
    ) -> dict[str, list[CardDraft]]:
        """Cards of the material keyed by the node of the same tree that teaches their
        section (see :func:`handlers.skill_trees.generate_skill_tree`)."""
        return await self._cpu.run(
            _tree_cards, goal, description, material, max_depth, max_cards
        )

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


def _deck_distractors(
    cards: list[tuple[str, str]], count: int, material: str | None, other_answers: list[str]
) -> list[list[str]]:
    """Each card's choices from the deck's material and the deck's other answers."""
    return [
        choose_distractors(
            question=question, answer=answer, count=count, material=material,
            other_answers=[a for a in other_answers if a != answer],
        )
        for question, answer in cards
    ]


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


def _tree_cards(
    goal: str, description: str | None, material: str, max_depth: int, max_cards: int
) -> dict[str, list[CardDraft]]:
    doc = Document.parse(material)
    _, sections = outline_tree(doc, goal=goal, description=description, max_depth=max_depth)
    node_of = {block: key for key, blocks in sections.items() for block in blocks}
    deck = extract_deck(material, max_cards)
    linked: dict[str, list[CardDraft]] = {}
    for card, block in zip(deck.cards, deck.blocks, strict=True):
        linked.setdefault(node_of.get(block, ROOT_KEY), []).append(card)
    return linked


def extract_cards(material: str, max_cards: int) -> list[CardDraft]:
    """Question cards first, then clozes; each group in reading order."""
    return extract_deck(material, max_cards).cards


@dataclass
class OfflineDeck:
    cards: list[CardDraft]
    dropped: Counter[Check] = field(default_factory=Counter)  # flags on refused candidates
    blocks: list[int] = field(default_factory=list)  # each card's block of the material
    candidates: int = 0  # candidate cards the linter saw
    refused: int = 0  # of which it flagged (a card may fail several checks)


def extract_deck(material: str, max_cards: int, *, gate: bool = True) -> OfflineDeck:
    """The cards, and what the final gate (the card linter) dropped on the way.

    Every candidate card is linted; a flagged one is dropped and counted, never shown.
    Selection covers the material: each pick comes from the section (heading, or paragraph
    when there are none) with the fewest cards so far, the best candidate there first.
    ``gate=False`` counts the same flags but keeps the flagged cards: the deck the rules
    alone would make, which ``cardforge bench --quality`` lints to show what the gate hides.
    """
    deck = OfflineDeck([])
    if max_cards <= 0:
        return deck
    doc = Document.parse(material)
    terms = KeyTerms([s.text for s in doc.sentences], [h.text for h in doc.headings])
    lint = LintSource.of(material, doc)
    section = _sections(doc)
    selection = _Selection(normalize(material))
    facts = _gated(_fact_cards(doc, terms, section), lint, deck, gate=gate)
    chosen = selection.take(facts, max_cards)
    clozes = _gated(_cloze_cards(doc, terms, section, selection), lint, deck, gate=gate)
    chosen += selection.take(clozes, max_cards - len(chosen))
    if len(chosen) < max_cards:
        asked = {c.position for c in chosen if not c.question.startswith(CLOZE_PREFIX)}
        reversed_ = _gated(
            [c for c in _reversed_definitions(doc, terms, section)
             if c.position - _UNITS_PER_SENTENCE + 1 in asked],
            lint, deck, gate=gate,
        )
        chosen += selection.take(reversed_, max_cards - len(chosen))
    # Question cards first, then clozes, each group in reading order.
    chosen.sort(key=lambda c: (c.question.startswith(CLOZE_PREFIX), c.order))
    deck.cards = [
        CardDraft(question=c.question, answer=c.answer, source=c.source[:MAX_SOURCE_CHARS])
        for c in chosen
    ]
    deck.blocks = [c.block for c in chosen]
    return deck


@dataclass(frozen=True)
class _Card:
    question: str
    answer: str
    position: int  # the sentence (or clause: see _unit) it came from: one card per unit
    score: float
    section: int
    source: str  # the sentence(s) quoted
    block: int  # the block of the material it came from: cards are shown in reading order

    @property
    def order(self) -> tuple[int, int]:
        return self.block, self.position


def _gated(cards: list[_Card], lint: LintSource, deck: OfflineDeck, *, gate: bool) -> list[_Card]:
    kept: list[_Card] = []
    for card in cards:
        flags = lint_card(card.question, card.answer, lint)
        deck.candidates += 1
        if flags:
            deck.dropped.update(flags)
            deck.refused += 1
        if not flags or not gate:
            kept.append(card)
    return kept


def _sections(doc: Document) -> dict[int, int]:
    """Block index -> section: a heading opens one; with no headings, each block is one."""
    section: dict[int, int] = {}
    current = 0
    headed = bool(doc.headings)
    for block in doc.blocks:
        if block.kind is BlockKind.HEADING or not headed:
            current += 1
        section[block.index] = current
    return section


class _Selection:
    """What has been used: sentences (one card each), answers and questions (no repeats)."""

    def __init__(self, normalized_source: str) -> None:
        self.source = normalized_source
        self.sentences: set[int] = set()
        self.answers: set[str] = set()
        self.keys: list[tuple[str, str]] = []
        self.per_section: Counter[int] = Counter()

    def fresh(self, card: _Card) -> bool:
        answer_key = normalize(card.answer)
        key = (question_key(card.question), answer_key)
        return (
            card.position not in self.sentences
            and answer_key not in self.answers
            and answer_key in self.source  # grounded: the answer is quoted from the material
            and len(card.question) <= MAX_QUESTION_CHARS
            and not any(is_near_duplicate(key, other) for other in self.keys)
        )

    def take(self, cards: list[_Card], limit: int) -> list[_Card]:
        """``limit`` fresh cards, least-covered section first; returned in reading order."""
        pending = sorted(cards, key=lambda c: (-c.score, c.order))
        taken: list[_Card] = []
        while pending and len(taken) < limit:
            best = min(range(len(pending)), key=lambda i: self.per_section[pending[i].section])
            card = pending.pop(best)
            if not self.fresh(card):
                continue
            self.sentences.add(card.position)
            self.answers.add(normalize(card.answer))
            self.keys.append((question_key(card.question), normalize(card.answer)))
            self.per_section[card.section] += 1
            taken.append(card)
        return sorted(taken, key=lambda c: c.order)


def _fact_cards(doc: Document, terms: KeyTerms, section: dict[int, int]) -> list[_Card]:
    cards: list[_Card] = []
    for sentence in doc.sentences:
        if not _FACT_WORDS[0] <= sentence.words <= _FACT_WORDS[1]:
            continue
        fact = fact_from_sentence(sentence.text, doc.vocabulary) or _first_clause_fact(
            sentence.text, doc
        )
        if fact is None:
            continue
        score = _relevance(sentence.text, terms) - _KIND_ORDER[fact.kind]
        cards.append(
            _Card(fact.question, fact.answer, _unit(sentence.position), score,
                  section[sentence.block], sentence.text, sentence.block)
        )
    cards.extend(_faq_cards(doc, terms, section))
    # Glossary lines ("**Osmosis**: ...") are one-sentence blocks; they sort by their block.
    first_position = {s.block: s.position for s in reversed(doc.sentences)}
    for block in doc.blocks:
        glossary = glossary_fact(block, doc.vocabulary)
        if glossary is not None and block.index in first_position:
            score = _relevance(block.text, terms)
            cards.append(
                _Card(glossary.question, glossary.answer, _unit(first_position[block.index]), score,
                      section[block.index], block.text, block.index)
            )
    cards.extend(_table_cards(doc, terms, section))
    return cards


# A table's later columns are usually details of its first ones: a small step per column
# keeps the selection from taking a whole row before other rows and sections.
_TABLE_COLUMN_STEP = 0.3


def _table_cards(doc: Document, terms: KeyTerms, section: dict[int, int]) -> list[_Card]:
    """The cards of each table's rows: its label asked from a value, and its values.

    A table row has no sentence, so its cards get units past the sentences' own: one
    card per cell, never sharing a unit with a sentence.
    """
    cards: list[_Card] = []
    first_unit = _unit(len(doc.sentences))
    for rows in _tables(doc):
        for block, facts in zip(rows, table_facts(rows, doc.vocabulary), strict=True):
            relevance = _relevance(block.text, terms)
            for rank, (cell, fact) in enumerate(facts):
                score = relevance - _TABLE_COLUMN_STEP * rank
                # The row as written: a quote must be found in the material, and a table
                # aligned with padding ("| Saturn  |  146 |") is not its cells rejoined.
                cards.append(
                    _Card(fact.question, fact.answer, first_unit + cell, score,
                          section[block.index], block.raw, block.index)
                )
            first_unit += len(block.cells)
    return cards


def _tables(doc: Document) -> list[list[Block]]:
    """Runs of table rows under one header: each run is one table."""
    tables: list[list[Block]] = []
    for block in doc.blocks:
        if block.kind is not BlockKind.TABLE_ROW:
            continue
        previous = tables[-1][-1] if tables else None
        same = previous is not None and previous.index == block.index - 1 and (
            [h for h, _ in previous.cells] == [h for h, _ in block.cells]
        )
        if same:
            tables[-1].append(block)
        else:
            tables.append([block])
    return tables


def _reversed_definitions(
    doc: Document, terms: KeyTerms, section: dict[int, int]
) -> list[_Card]:
    """ "____ is the rise of cold water from the deep ocean" -> "Upwelling": the definitions
    asked the other way, term from meaning (a "basic and reversed" note). Taken only when
    the deck still has room after every other card, and only beside the question its
    sentence gave (never beside a cloze of it: two blanks of one sentence show each other's
    answer), each with its own unit."""
    cards: list[_Card] = []
    for sentence in doc.sentences:
        if not _FACT_WORDS[0] <= sentence.words <= _FACT_WORDS[1]:
            continue
        fact = fact_from_sentence(sentence.text, doc.vocabulary)
        if fact is None or fact.kind is not FactKind.DEFINITION or not fact.question.startswith(
            "What "
        ):
            continue  # "How many hearts ...?" asks a count, not what a term means
        words = fact.subject.split()
        if words and words[0].lower() in {"the", "a", "an"}:
            words = words[1:]
        if not 1 <= len(words) <= 4:
            continue
        subject = " ".join(words)
        at = _whole_word_at(sentence.text, subject, 0)
        if at is None or at > len(fact.subject) - len(subject) + 12:
            continue  # the subject must open the sentence (after its article, an intro)
        card = _blanked(sentence.text, at, at + len(subject),
                        _unit(sentence.position, _UNITS_PER_SENTENCE - 1),
                        _relevance(sentence.text, terms), section[sentence.block],
                        sentence.block)
        if card is not None:
            cards.append(card)
    first_position = {s.block: s.position for s in reversed(doc.sentences)}
    for block in doc.blocks:
        glossary = glossary_fact(block, doc.vocabulary)
        if glossary is None or block.index not in first_position:
            continue
        # "Genotype: the set of alleles ..." -> "What is the term for the set of alleles ...?";
        # a definition written as a clause ("chewing breaks food up") does not read so.
        if glossary.answer.split()[0].lower() not in {"a", "an", "the", "one"}:
            continue
        question = f"What is the term for {glossary.answer}?"
        cards.append(
            _Card(question, glossary.subject, _unit(first_position[block.index],
                  _UNITS_PER_SENTENCE - 1), _relevance(block.text, terms),
                  section[block.index], block.text, block.index)
        )
    return cards


_QUESTION_WORDS = word_set("what who which when where why how do does did is are can")
_MAX_FAQ_ANSWER_WORDS = 25


def _faq_cards(doc: Document, terms: KeyTerms, section: dict[int, int]) -> list[_Card]:
    """ "How does a solar cell make electricity? Light knocks electrons loose ...": a
    question the material asks and answers itself, asked as written."""
    cards: list[_Card] = []
    sentences = doc.sentences
    for i, question in enumerate(sentences[:-1]):
        words = question.text.split()
        if not question.text.endswith("?") or not 3 <= len(words) <= 20:
            continue
        answer = _faq_answer(question, sentences[i + 1 : i + 3])
        if words[0].lower() not in _QUESTION_WORDS or answer is None:
            continue
        reply = answer.text.rstrip(".!").strip()
        if not 2 <= len(reply.split()) <= _MAX_FAQ_ANSWER_WORDS:
            continue
        cards.append(
            _Card(question.text, reply, _unit(question.position),
                  _relevance(answer.text, terms) + 1.0, section[answer.block],
                  f"{question.text} {answer.text}", answer.block)
        )
    return cards


def _faq_answer(question: Sentence, following: list[Sentence]) -> Sentence | None:
    """The sentence that answers: the first after the question, unless a later one of
    its paragraph names what the question asks about and the first does not ("What is an
    inverter for? Panels produce direct current. An inverter changes it ...")."""
    asked = {w.lower() for w in words_of(question.text)} - STOPWORDS - _QUESTION_WORDS
    candidates = [
        s for s in following
        if not s.text.endswith("?") and s.block == following[0].block
    ]
    if not candidates:
        return None
    for sentence in candidates:
        if asked & {w.lower() for w in words_of(sentence.text)}:
            return sentence
    return candidates[0]


def _first_clause_fact(text: str, doc: Document) -> Fact | None:
    """ "Loudness is measured in decibels (dB); a sound of 120 dB ...": the first of two
    clauses read on its own, its answer still a span of the sentence."""
    first, semicolon, _ = text.partition("; ")
    if not semicolon or len(first.split()) < _FACT_WORDS[0]:
        return None
    return fact_from_sentence(first, doc.vocabulary)


def _cloze_cards(
    doc: Document, terms: KeyTerms, section: dict[int, int], selection: _Selection
) -> list[_Card]:
    """Per sentence, its best blank; a sentence that leans on the one before it ("This rest
    is called ...", "He was ...") is quoted together with that sentence."""
    cards: list[_Card] = []
    previous: Sentence | None = None
    top = terms.ranked[0].score if terms.ranked else 1.0
    for whole in doc.sentences:
        context = previous if previous is not None and previous.block == whole.block else None
        previous = whole
        if _unit(whole.position) in selection.sentences:
            continue
        sentence = _without_connective(whole)
        listed = doc.blocks[sentence.block].kind is BlockKind.LIST_ITEM
        text = _self_contained(sentence, context, listed=listed)
        if text is None:
            continue
        clauses = _clauses(sentence) if text == sentence.text else [sentence]
        for k, clause in enumerate(clauses):
            cards.extend(
                _cloze_options(clause, text if len(clauses) == 1 else clause.text, terms, doc,
                               top, section[sentence.block], _unit(sentence.position, k))
            )
    return cards


_UNITS_PER_SENTENCE = 4
# "..., and the Chinese artisan Bi Sheng made ...": a second main clause, a second fact.
_CLAUSE_BREAK = re.compile(r"; |, and (?=(?:the|a|an|[A-Z][a-z]+) )")


def _unit(position: int, clause: int = 0) -> int:
    """A card's source unit: a sentence, or one main clause of a long one, in reading order."""
    return position * _UNITS_PER_SENTENCE + clause


def _clauses(sentence: Sentence) -> list[Sentence]:
    """The main clauses of a sentence when each can stand alone as a cloze, else itself.

    A clause becomes a card of its own, so a sentence with two facts can give two cards
    that do not show each other's answer.
    """
    parts = _CLAUSE_BREAK.split(sentence.text, maxsplit=_UNITS_PER_SENTENCE - 1)
    if len(parts) < 2 or any(len(p.split()) < _CLAUSE_WORDS for p in parts):
        return [sentence]
    clauses = []
    for k, part in enumerate(parts):
        text = part.strip()
        # Quoted as written (a capital added at most), so the card still quotes the text.
        text = text[:1].upper() + text[1:]
        clauses.append(Sentence(text=text, block=sentence.block, position=sentence.position))
        if k and not _cloze_worthy(clauses[-1], standalone=True):
            return [sentence]
    return clauses


# "However, a parcel of deep water takes ...": the statement stands without its link to the
# sentence before, and is still quoted word for word.
_DROPPABLE_OPENERS = word_set(
    "however moreover furthermore nevertheless nonetheless therefore thus consequently "
    "indeed instead similarly likewise additionally also"
)


def _without_connective(sentence: Sentence) -> Sentence:
    first, comma, rest = sentence.text.partition(", ")
    if not comma or first.lower() not in _DROPPABLE_OPENERS or len(rest.split()) < 4:
        return sentence
    if rest.split()[0].lower() in _CONTEXT_OPENERS:
        return sentence  # "However, it ...": still leans on the sentence before
    return Sentence(text=rest[:1].upper() + rest[1:], block=sentence.block,
                    position=sentence.position)


def _self_contained(
    sentence: Sentence, context: Sentence | None, *, listed: bool = False
) -> str | None:
    """The sentence as a cloze can quote it, or None if it cannot stand as a card."""
    if not _cloze_worthy(sentence, listed=listed):
        return None
    words = words_of(sentence.text)
    if words[0].lower() not in _CONTEXT_OPENERS and not is_vague_subject(sentence.text):
        return sentence.text
    if context is None or not _cloze_worthy(context, standalone=True):
        return None
    combined = f"{context.text} {sentence.text}"
    return combined if len(combined.split()) <= _CLOZE_WORDS[1] + 15 else None


def _cloze_worthy(sentence: Sentence, *, standalone: bool = False, listed: bool = False) -> bool:
    """Long enough to say something and complete: ended by a full stop, or a list item
    (notes often leave the stop off: "- The stomach makes hydrochloric acid")."""
    low, high = _CLOZE_WORDS
    words = words_of(sentence.text)
    ended = sentence.text[-1:] in ".!\"')\u201d\u2019" or (
        listed and sentence.text[-1:].isalnum()
    )
    ok = (
        low <= sentence.words <= high
        and not sentence.text.endswith(("?", ":"))
        and ended
        and bool(words)
    )
    if ok and standalone:
        return words[0].lower() not in _CONTEXT_OPENERS and not is_vague_subject(sentence.text)
    return ok


# What a blank should hide, best first: the word a sentence names ("called propolis"), a
# name, a number with its unit, a year, then the sentence's key terms (TF-IDF), each
# widened to its whole compound ("waggle dance", not "dance").
_NAMED = re.compile(
    r"\b(?:called|known as|termed|named)\s+(?:the |a |an )?"
    r"(?P<t>[^\s,;.()]+(?: [^\s,;.()]+){0,3}?)"
    r"(?=[,;.()]|\s(?P<stop>and|or|which|that|in|from|by|for|because)\b|$)"
)
# "the hand mould, a device that ...": the phrase an appositive defines.
_APPOSED = re.compile(
    r"(?:\bthe |\ba |\ban |^)(?P<t>[a-z][\w-]{2,30}(?: [a-z][\w-]{2,30}){0,2}), (?:a|an) [a-z]"
)
# "Saliva contains amylase, an enzyme that ...": one word glossed by the phrase after it.
_APPOSED_OBJECT = re.compile(r"(?<=[a-z] )(?P<t>[a-z][\w-]{2,30}), (?:a|an) [a-z]")
_NOT_NAMES = word_set("BC AD BCE CE")
_NAME_SPAN = re.compile(
    r"(?<![\w'\u2019-])[A-Z][\w'\u2019-]{0,30}"
    r"(?: (?:(?:de|da|van|von|der|of|the) )?[A-Z][\w'\u2019-]{0,30}){0,3}"
)
_NUMBER_SPAN = re.compile(
    r"(?<![\w.,])(?:AD )?\d{1,3}(?:,\d{3}){0,4}(?:\.\d{1,6})?(?:\d{1,3})?"
    r"(?: ?(?:%|\u00b0C|\u00b0F|BC|BCE|AD|CE)(?![\w]))?(?!\w|,\d|\.\d)"
)
_WEIGHT = {
    "marked": 5.5,  # set in bold or as code by the author: the term the line is about
    "named": 5.0,
    "apposed": 4.5,
    "names": 3.5,
    "measure": 3.0,
    "subject": 3.0,
    "year": 2.5,
    "name": 2.0,
    "number": 1.5,
}


def _cloze_options(
    sentence: Sentence,
    text: str,
    terms: KeyTerms,
    doc: Document,
    top: float,
    section: int,
    unit: int,
) -> list[_Card]:
    """Every candidate blank of this sentence as a card (the gate and selection choose)."""
    offset = len(text) - len(sentence.text)  # the blank goes in the sentence, not its context
    relevance = _relevance(sentence.text, terms) / top
    spans: list[tuple[float, int, int]] = []
    for marked in doc.blocks[sentence.block].marked:
        at = _whole_word_at(text, marked, offset)
        if at is not None:
            spans.append((_WEIGHT["marked"], at, at + len(marked)))
    subject = _subject_span(text, offset)
    if subject is not None:
        spans.append((_WEIGHT["subject"], *subject))
    for m in _NAMED.finditer(text, offset):
        start, end = m.start("t"), m.end("t")
        if m.group("stop") and " " in m.group("t") and text.count(m.group("t")) < 2:
            end = start + len(m.group("t").split()[0])  # "called phagocytes [engulf] and"
        spans.append((_WEIGHT["named"], start, end))
    for apposed in (_APPOSED, _APPOSED_OBJECT):
        for m in apposed.finditer(text, offset):
            spans.append((_WEIGHT["apposed"], m.start("t"), m.end("t")))
    for m in _NAME_SPAN.finditer(text, offset):
        span = _name_span(m, doc, at_start=m.start() == offset)
        if span is not None:
            span = _with_head_noun(text, *span)
            spans.append((_WEIGHT["names" if " " in text[span[0]:span[1]] else "name"], *span))
    for m in _NUMBER_SPAN.finditer(text, offset):
        raw = m.group()
        kind = "year" if is_year(raw) or raw.endswith(("BC", "AD", "CE")) else (
            "measure" if not raw[-1].isdigit() else "number"
        )
        spans.append((_WEIGHT[kind], m.start(), m.end()))
    for term in terms.in_text(sentence.text):
        if not term.nounish:
            continue
        pattern = r"(?<![\w-])" + r"\s+".join(map(re.escape, term.key.split())) + r"(?![\w-])"
        found = list(re.finditer(pattern, text[offset:], flags=re.IGNORECASE))
        if len(found) != 1:
            continue
        start, end = _widen_to_compound(text, offset + found[0].start(), offset + found[0].end())
        spans.append((1.0 + term.words + term.score / top, start, end))
    cards: list[_Card] = []
    seen: set[tuple[int, int]] = set()
    for weight, start, end in sorted(spans, key=lambda s: (-s[0], s[1])):
        if (start, end) in seen or text.count(text[start:end]) != 1:
            continue
        seen.add((start, end))
        card = _blanked(text, start, end, unit, relevance + weight, section, sentence.block)
        if card is not None:
            cards.append(card)
    return cards


_SUBJECT_VERBS = word_set(
    "is are was were has have had can could may might will would should must does did"
)


def _subject_span(text: str, offset: int) -> tuple[int, int] | None:
    """ "A [fast-forward merge] simply moves ...": the noun phrase a sentence opens with,
    between its article and its verb, is what the sentence is about."""
    words = text[offset:].split(" ", 6)
    if len(words) < 4 or words[0] not in {"A", "An", "The"}:
        return None
    phrase: list[str] = []
    for word in words[1:5]:
        lower = word.lower()
        verb = lower in _SUBJECT_VERBS or (
            bool(phrase) and lower.endswith("s") and not lower.endswith(("ss", "us", "is"))
            and not phrase[-1].endswith("s")
        )
        if verb or (phrase and lower.endswith("ly")):
            break
        if not word.replace("-", "").isalpha() or lower in STOPWORDS or len(phrase) == 3:
            return None
        phrase.append(word)
    else:
        return None
    if not phrase:
        return None
    start = offset + len(words[0]) + 1
    return start, start + len(" ".join(phrase))


_HEAD_NOUN = re.compile(
    r" ([a-z]{3,20})(?=[,.;:]| (?:is|are|was|were|has|had|can|[a-z]{2,20}s) |$)"
)


def _with_head_noun(text: str, start: int, end: int) -> tuple[int, int]:
    """ "the [Doppler] effect," -> "the [Doppler effect],": a name that modifies the noun
    after it ("the Coriolis effect deflects") is one term with it."""
    if not text[:start].endswith(("the ", "The ")):
        return start, end
    head = _HEAD_NOUN.match(text, end)
    if head is None or head.group(1) in STOPWORDS or head.group(1).endswith("ly"):
        return start, end
    return start, head.end(1)


def _whole_word_at(text: str, phrase: str, offset: int) -> int | None:
    """Where ``phrase`` stands once in ``text`` (from ``offset``) as whole words, or None."""
    if len(phrase.split()) > 4 or not phrase.strip():
        return None
    at = text.find(phrase, offset)
    if at == -1 or text.find(phrase, at + 1) != -1:
        return None
    end = at + len(phrase)
    joined = text[at - 1 : at] if at else "", text[end : end + 1]
    return None if any(c and (c.isalnum() or c in "-_") for c in joined) else at


def _name_span(match: re.Match[str], doc: Document, *, at_start: bool) -> tuple[int, int] | None:
    """A run of capitalised words as a blank, without the small words around it ("During
    the Conflict" -> "Conflict") and never a capital that only marks the sentence start."""
    words = match.group().split()
    start = match.start()
    while words and (
        words[0].lower() in STOPWORDS or words[0] in _NOT_NAMES or words[0].lower() in CONNECTIVES
        or (at_start and words[0].lower() in doc.vocabulary.lowercase)
    ):
        start += len(words[0]) + 1
        words = words[1:]
        at_start = False
    while words and (words[-1].lower() in STOPWORDS or words[-1] in _NOT_NAMES):
        words = words[:-1]
    if not words or (at_start and len(words) == 1):
        return None
    if all(w.lower() in doc.vocabulary.lowercase for w in words):
        return None
    return start, start + len(" ".join(words))


def _widen_to_compound(text: str, start: int, end: int) -> tuple[int, int]:
    """ "honey [bee]" -> "[honey bee]": a noun that modifies the blank belongs in it."""
    while True:
        before = text[:start].rstrip(" ")
        if len(before) == start or not before:
            break
        word = before.rsplit(" ", 1)[-1]
        if not is_noun_modifier(word) or len(text[start - len(word) - 1 : end].split()) > 4:
            break
        start = len(before) - len(word)
    return start, end


def _blanked(
    text: str, start: int, end: int, unit: int, score: float, section: int, block: int
) -> _Card | None:
    rest = text[:start] + BLANK + text[end:]
    if len(rest.split()) < 6:
        return None
    return _Card(CLOZE_PREFIX + rest, text[start:end], unit, score, section, text, block)


def _relevance(text: str, terms: KeyTerms) -> float:
    """How central a sentence is: the score of its best key term."""
    found = terms.in_text(text)
    return found[0].score if found else 0.0
