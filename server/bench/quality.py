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
* the gate: candidate cards the generator's lint gate dropped, per check, out of all it
  saw (the pre-gate flaw rate), and the flaw rate of the deck the rules would make with
  the gate off. The shown flaw rate is measured by the linter that gates, so it is near 0
  by construction; these two say what the gate catches.
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
    candidates: int = 0  # candidate cards the gate saw
    by_check: Counter[Check] = field(default_factory=Counter)
    gate_by_check: Counter[Check] = field(default_factory=Counter)  # flags on dropped ones
    ungated_cards: int = 0  # the deck with the gate off: its size and its flagged cards
    ungated_flawed: int = 0

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
        gated = extract_deck(text, max_cards)
        score.gated, score.candidates = gated.refused, gated.candidates
        score.gate_by_check = gated.dropped
        ungated = extract_deck(text, max_cards, gate=False).cards
        ungated_flags = lint_deck([(c.question, c.answer) for c in ungated], source)
        score.ungated_cards = len(ungated)
        score.ungated_flawed = sum(1 for f in ungated_flags if f)
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
        "pre_gate_flaw_rate": sum(s.gated for s in scores)
        / max(sum(s.candidates for s in scores), 1),
        "ungated_flaw_rate": sum(s.ungated_flawed for s in scores)
        / max(sum(s.ungated_cards for s in scores), 1),
    }


def report(scores: list[TextScore]) -> str:
    """The table the closing notes quote: per text, then overall, then flags by check."""

    def pct(part: int, whole: int) -> str:
        return f"{part:>3}/{whole:<3} {100 * part / whole:5.1f}%" if whole else "    -         "

    lines = [
        f"{'text':<24} {'cards':>5}  {'key-fact recall':<16} {'flaw rate':<16} "
        f"{'same-kind choices':<17} {'gate dropped':<16} {'ungated flaws':<16}"
    ]
    for s in scores:
        lines.append(
            f"{s.name:<24} {len(s.cards):>5}  {pct(len(s.recalled), len(s.facts)):<16} "
            f"{pct(s.flawed, len(s.cards)):<16} {pct(s.same_kind, s.choices):<17} "
            f"{pct(s.gated, s.candidates):<16} {pct(s.ungated_flawed, s.ungated_cards):<16}"
        )
    facts = sum(len(s.facts) for s in scores)
    recalled = sum(len(s.recalled) for s in scores)
    cards = sum(len(s.cards) for s in scores)
    flawed = sum(s.flawed for s in scores)
    choices = sum(s.choices for s in scores)
    same = sum(s.same_kind for s in scores)
    gated = sum(s.gated for s in scores)
    candidates = sum(s.candidates for s in scores)
    ungated_flawed = sum(s.ungated_flawed for s in scores)
    ungated_cards = sum(s.ungated_cards for s in scores)
    lines.append(
        f"{'overall':<24} {cards:>5}  {pct(recalled, facts):<16} {pct(flawed, cards):<16} "
        f"{pct(same, choices):<17} {pct(gated, candidates):<16} "
        f"{pct(ungated_flawed, ungated_cards):<16}"
    )
    by_check: Counter[Check] = Counter()
    gate_by_check: Counter[Check] = Counter()
    for s in scores:
        by_check.update(s.by_check)
        gate_by_check.update(s.gate_by_check)
    lines.append(f"flags by check (shown cards): {_by_check(by_check)}")
    lines.append(
        f"gate dropped {gated} of {candidates} candidate cards; their flags by check: "
        f"{_by_check(gate_by_check)}"
    )
    return "\n".join(lines)


def _by_check(counts: Counter[Check]) -> str:
    return ", ".join(f"{check.value} {n}" for check, n in counts.most_common()) or "none"


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
