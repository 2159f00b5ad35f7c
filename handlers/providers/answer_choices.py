"""Wrong answers for a multiple-choice card, drawn from the material and the user's deck.

A good distractor is *related* (a term, name or definition from the same material) and
*looks like* the answer (similar length, same capitalisation, same leading article, a
year for a year), so the choice tests knowledge rather than the shape of the text.
Ranking is a pure function of the inputs: ties break alphabetically.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from handlers.providers.extract import Document, normalize, words_of
from handlers.providers.facts import fact_from_sentence, glossary_fact, question_subject
from handlers.providers.keyterms import KeyTerms
from handlers.text import is_plural
from handlers.text import is_year as looks_like_year

# A number standing as its own word ("46", "46 chromosomes", "$3.50"), not inside one ("IPv4").
_NUMERIC = re.compile(
    r"^(?P<pre>(?:\D{0,30}[\s$£€])?)(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
    r"(?P<post>(?:[\s%°]\D{0,30})?)$"
)
# Repeats are bounded: "1,000,000,...,000x" retried from every comma was quadratic.
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w.,])\d{1,3}(?:,\d{3}){1,6}(?![\w,])|(?<![\w.])\d{1,30}(?:\.\d{1,30})?(?![\w])"
)
_NAME_PART = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
# At most four parts: "+" made a run of capitalised words quadratic (every word restarted it).
_NAME_SEQUENCE = re.compile(
    rf"(?<=[a-z0-9,;] ){_NAME_PART}(?: (?:de |von |van )?{_NAME_PART}){{1,3}}(?![\w-])"
)
_YEAR_OFFSETS = (1, -2, 3, -4, 6, -7, 10, -12)
_MAX_KEY_TERMS = 80
_MATERIAL_BONUS = 0.6
_OTHER_ANSWER_BONUS = 0.3
_PERSON_BONUS = 2.0


@dataclass(frozen=True)
class _Candidate:
    text: str
    bonus: float


def choose_distractors(
    *, question: str, answer: str, count: int, material: str | None, other_answers: list[str]
) -> list[str]:
    """Up to ``count`` distinct wrong answers, best first."""
    if count <= 0:
        return []
    numeric = _NUMERIC.match(answer.strip())
    if numeric:
        candidates = list(_numeric_candidates(numeric, material))
        return _pick(candidates, answer=answer, question=question, count=count, rank=False)
    doc = Document.parse(material) if material else None
    pool = list(_material_candidates(doc)) if doc else []
    pool.extend(_Candidate(a, _OTHER_ANSWER_BONUS) for a in other_answers)
    if doc and question.startswith("Who ") and _is_person_name(answer, doc):
        # A person for a person: names in the material beat look-alike terms.
        pool = [
            _Candidate(c.text, c.bonus + _PERSON_BONUS) if _is_person_name(c.text, doc) else c
            for c in pool
        ]
    return _pick(pool, answer=answer, question=question, count=count, rank=True)


def _is_person_name(text: str, doc: Document) -> bool:
    words = [w.lower() for w in words_of(text) if w.lower() not in {"and", "de", "von", "van"}]
    return bool(words) and all(w in doc.vocabulary.names for w in words)


def _pick(
    pool: list[_Candidate], *, answer: str, question: str, count: int, rank: bool
) -> list[str]:
    answer_key = normalize(answer)
    question_key = normalize(question)
    target = _Shape.of(answer)
    best: dict[str, tuple[float, str]] = {}
    for position, candidate in enumerate(pool):
        text = " ".join(candidate.text.split()).strip(" .,;:")
        key = normalize(text)
        if not _acceptable(key, answer_key, question_key):
            continue
        score = candidate.bonus - target.distance(_Shape.of(text)) if rank else -position
        if key not in best or score > best[key][0]:
            best[key] = (score, text)
    ordered = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
    chosen: list[str] = []
    stems: set[str] = set()
    for key, (_, text) in ordered:
        stem = key.removesuffix("s")
        # "Berners-Lee" beside "Tim Berners-Lee" would be one choice shown twice.
        if stem in stems or any(stem in other or other in stem for other in stems):
            continue
        stems.add(stem)
        chosen.append(text)
        if len(chosen) == count:
            break
    return chosen


def _acceptable(key: str, answer_key: str, question_key: str) -> bool:
    """Never the answer, never a piece of it (or it of them), never given away by the question."""
    if not key or len(key) > 300 or key in answer_key or answer_key in key:
        return False
    return key not in question_key and key.removesuffix("s") != answer_key.removesuffix("s")


def _material_candidates(doc: Document) -> Iterator[_Candidate]:
    """Answers and subjects of the material's own facts, then its key terms and names."""
    for sentence in doc.sentences:
        fact = fact_from_sentence(sentence.text, doc.vocabulary)
        if fact is not None:
            yield _Candidate(fact.answer, _MATERIAL_BONUS)
            yield _Candidate(question_subject(fact.subject, doc.vocabulary), _MATERIAL_BONUS)
    for block in doc.blocks:
        fact = glossary_fact(block, doc.vocabulary)
        if fact is not None:
            yield _Candidate(fact.answer, _MATERIAL_BONUS)
            yield _Candidate(question_subject(fact.subject, doc.vocabulary), _MATERIAL_BONUS)
        # A table's cells: another row's value in the same column is the likeliest wrong one.
        for _header, value in block.cells:
            yield _Candidate(value, _MATERIAL_BONUS)
    terms = KeyTerms([s.text for s in doc.sentences], [h.text for h in doc.headings])
    top = [t for t in terms.ranked if t.nounish][:_MAX_KEY_TERMS]
    for i, term in enumerate(top):
        # Central terms make more tempting wrong answers than peripheral ones.
        yield _Candidate(term.surface, _MATERIAL_BONUS * (1 - 0.5 * i / len(top)))
    for sentence in doc.sentences:
        for name in _NAME_SEQUENCE.findall(sentence.text):
            yield _Candidate(name, _MATERIAL_BONUS)


# ---------------------------------------------------------------- numbers


def _numeric_candidates(match: re.Match[str], material: str | None) -> Iterator[_Candidate]:
    """Numbers of the same kind: the material's own first (nearest first), then neighbours."""
    pre, raw, post = match.group("pre"), match.group("num"), match.group("post")
    value = float(raw.replace(",", ""))
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    is_year = not pre.strip() and not post.strip() and looks_like_year(raw)

    def render(number: float) -> str:
        text = f"{number:,.{decimals}f}" if "," in raw else f"{number:.{decimals}f}"
        return f"{pre}{text}{post}"

    found = list(_same_kind_numbers(material, is_year=is_year, decimals=decimals))
    found.sort(key=lambda n: (abs(n - value), n))
    for number in found:
        if number != value:
            yield _Candidate(render(number), 0.0)
    for number in _neighbours(value, is_year=is_year, decimals=decimals):
        yield _Candidate(render(number), 0.0)


def _same_kind_numbers(material: str | None, *, is_year: bool, decimals: int) -> Iterable[float]:
    for raw in _NUMBER_IN_TEXT.findall(material or ""):
        same_decimals = (len(raw.split(".")[1]) if "." in raw else 0) == decimals
        if looks_like_year(raw) == is_year and same_decimals:
            yield float(raw.replace(",", ""))


def _neighbours(value: float, *, is_year: bool, decimals: int) -> Iterator[float]:
    if is_year:
        # The sign pattern varies with the year so the answer is not always the middle value.
        sign = 1 if int(value) % 2 else -1
        yield from (value + sign * offset for offset in _YEAR_OFFSETS)
        return
    if decimals:
        step = 10.0**-decimals
        yield from (value * 2, value / 2, value + step * 10, value - step * 10, value * 1.5)
        return
    for number in (value + 2, value - 2, value * 2, value // 2, value + 1, value - 1, value + 10):
        if number > 0 or value <= 0:
            yield number


# ---------------------------------------------------------------- form similarity


@dataclass(frozen=True)
class _Shape:
    words: int
    chars: int
    case: str
    article: str
    plural: bool

    @classmethod
    def of(cls, text: str) -> _Shape:
        words = text.split() or [""]
        first = words[0].lower()
        article = {"a": "a", "an": "a", "the": "the"}.get(first, "")
        return cls(
            len(words),
            max(len(text), 1),
            _case_style(words),
            article,
            words[-1].islower() and is_plural(words[-1]),
        )

    def distance(self, other: _Shape) -> float:
        """0 for the same form; each mismatch adds its weight."""
        d = 3.0 * abs(self.words - other.words) / max(self.words, other.words)
        d += 1.5 * abs(math.log(self.chars / other.chars))
        d += 0.0 if self.case == other.case else 2.0
        d += 0.0 if self.article == other.article else 1.0
        return d + (0.0 if self.plural == other.plural else 0.5)


def _case_style(words: list[str]) -> str:
    letters = "".join(words)
    if letters.isupper():
        return "upper"
    significant = [w for w in words if len(w) > 3] or words
    if len(words) > 1 and all(w[:1].isupper() for w in significant):
        return "title"  # names: "Isaac Newton", "National Assembly"
    return "lower" if words[0][:1].islower() else "capitalised"
