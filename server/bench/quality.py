"""``cardforge bench --quality``: how good the offline cards are on texts never tuned on.

The held-out set (``tests/quality/heldout/``: texts of different styles, each with its
hand-written key facts in ``key_facts.toml``) runs through the real flashcard handler and
the real distractor path, and each deck is scored:

* key-fact recall: the share of key facts some card's answer names (a term of the fact,
  as a whole word, plural allowed);
* flaw rate: the share of cards any named check of ``handlers.providers.card_lint`` flags
  (the generator's own gate drops such cards, so this measures what the gate misses);
* distractors of the same kind: the share of answer choices of the answer's kind (a date
  for a date, a person for a person, a number for a number, a term for a term);
* gated: candidate cards the generator's own lint gate dropped (counted, never shown).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from handlers.context import JobContext, NoLookups
from handlers.flashcards import generate_flashcards
from handlers.models import CHUNK_CHARS, CardDraft, FlashcardPayload
from handlers.providers.card_lint import Check, LintSource, answer_kind, lint_deck
from handlers.providers.extract import normalize
from handlers.providers.offline import OfflineGenerator, extract_deck

HELD_OUT = Path(__file__).resolve().parents[2] / "tests" / "quality" / "heldout"
DEFAULT_MAX_CARDS = 20  # what a job gets when it does not say (handlers.flashcards)
CHOICES = 3


@dataclass(frozen=True)
class KeyFact:
    fact: str
    terms: tuple[str, ...]

    def asked_by(self, answers: list[str]) -> bool:
        return any(_names(answer, term) for answer in answers for term in self.terms)


@dataclass
class TextScore:
    name: str
    style: str
    cards: list[CardDraft]
    facts: list[KeyFact]
    recalled: list[KeyFact]
    flags: list[list[Check]]
    choices: int = 0
    same_kind: int = 0
    gated: int = 0  # candidate cards the generator's own lint gate dropped
    by_check: Counter[Check] = field(default_factory=Counter)

    @property
    def flawed(self) -> int:
        return sum(1 for f in self.flags if f)


def _names(answer: str, term: str) -> bool:
    """Does the answer name the term: a whole-word match, a plural or possessive allowed."""
    pattern = rf"(?<!\w){re.escape(normalize(term))}(?:s|es|'s)?(?!\w)"
    return re.search(pattern, normalize(answer)) is not None


def load_set(directory: Path) -> list[tuple[str, str, str, list[KeyFact]]]:
    """(name, style, text, key facts) for every text of the set, in the file's order."""
    spec = tomllib.loads((directory / "key_facts.toml").read_text(encoding="utf-8"))
    texts = []
    for name, entry in spec.items():
        facts = [KeyFact(f["fact"], tuple(f["terms"])) for f in entry["facts"]]
        text = (directory / entry["file"]).read_text(encoding="utf-8")
        texts.append((name, entry["style"], text, facts))
    return texts


async def score_text(
    name: str, style: str, text: str, facts: list[KeyFact], *, max_cards: int
) -> TextScore:
    generator = OfflineGenerator()
    ctx = JobContext(generator=generator, lookups=NoLookups(), progress=_no_progress)
    deck = await generate_flashcards(FlashcardPayload(content=text, max_cards=max_cards), ctx)
    cards = deck.cards
    source = LintSource.of(text)
    flags = lint_deck([(c.question, c.answer) for c in cards], source)
    answers = [c.answer for c in cards]
    score = TextScore(name, style, cards, facts, [f for f in facts if f.asked_by(answers)], flags)
    for card_flags in flags:
        score.by_check.update(card_flags)
    if len(text) <= CHUNK_CHARS:  # one generator call: its gate's count is the deck's
        score.gated = sum(extract_deck(text, max_cards).dropped.values())
    for card in cards:
        choices = await generator.distractors(
            question=card.question,
            answer=card.answer,
            count=CHOICES,
            material=text,
            other_answers=[a for a in answers if a != card.answer],
            usage=ctx.usage,
        )
        kind = answer_kind(card.answer, question=card.question, source=source)
        score.choices += len(choices)
        score.same_kind += sum(answer_kind(c, source=source) is kind for c in choices)
    return score


async def _no_progress(_update: dict[str, object]) -> None:
    return None


async def run_quality(
    directory: Path, *, max_cards: int, only: set[str] | None = None
) -> list[TextScore]:
    return [
        await score_text(name, style, text, facts, max_cards=max_cards)
        for name, style, text, facts in load_set(directory)
        if only is None or name in only
    ]


def totals(scores: list[TextScore]) -> dict[str, float]:
    """Overall shares (0..1): recall, flaw rate, same-kind choices; and near-duplicates."""
    facts = sum(len(s.facts) for s in scores)
    cards = sum(len(s.cards) for s in scores)
    choices = sum(s.choices for s in scores)
    return {
        "recall": sum(len(s.recalled) for s in scores) / max(facts, 1),
        "flaw_rate": sum(s.flawed for s in scores) / max(cards, 1),
        "same_kind": sum(s.same_kind for s in scores) / max(choices, 1),
        "near_duplicates": sum(s.by_check[Check.NEAR_DUPLICATE] for s in scores),
    }


def report(scores: list[TextScore]) -> str:
    """The table the closing notes quote: per text, then overall, then flags by check."""

    def pct(part: int, whole: int) -> str:
        return f"{part:>3}/{whole:<3} {100 * part / whole:5.1f}%" if whole else "    -         "

    lines = [
        f"{'text':<24} {'cards':>5}  {'key-fact recall':<16} {'flaw rate':<16} "
        f"{'same-kind choices':<16} {'gated':>5}"
    ]
    for s in scores:
        lines.append(
            f"{s.name:<24} {len(s.cards):>5}  {pct(len(s.recalled), len(s.facts)):<16} "
            f"{pct(s.flawed, len(s.cards)):<16} {pct(s.same_kind, s.choices):<16} {s.gated:>5}"
        )
    facts = sum(len(s.facts) for s in scores)
    recalled = sum(len(s.recalled) for s in scores)
    cards = sum(len(s.cards) for s in scores)
    flawed = sum(s.flawed for s in scores)
    choices = sum(s.choices for s in scores)
    same = sum(s.same_kind for s in scores)
    gated = sum(s.gated for s in scores)
    lines.append(
        f"{'overall':<24} {cards:>5}  {pct(recalled, facts):<16} {pct(flawed, cards):<16} "
        f"{pct(same, choices):<16} {gated:>5}"
    )
    by_check: Counter[Check] = Counter()
    for s in scores:
        by_check.update(s.by_check)
    flagged = ", ".join(f"{check.value} {n}" for check, n in by_check.most_common()) or "none"
    lines.append(f"flags by check: {flagged}")
    return "\n".join(lines)


async def quality_benchmark(directory: str | None, *, max_cards: int, show_cards: bool) -> int:
    path = Path(directory) if directory else HELD_OUT
    scores = await run_quality(path, max_cards=max_cards)
    print(f"cardforge bench --quality: {len(scores)} held-out texts in {path}, "
          f"{max_cards} cards each at most")
    print(report(scores))
    if show_cards:
        for s in scores:
            print(f"\n== {s.name}")
            for card, flags in zip(s.cards, s.flags, strict=True):
                mark = f"  [{', '.join(f.value for f in flags)}]" if flags else ""
                print(f"Q: {card.question}\nA: {card.answer}{mark}")
            missed = [f.fact for f in s.facts if f not in s.recalled]
            print("missed: " + ("; ".join(missed) or "none"))
    return 0
