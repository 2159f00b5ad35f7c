"""Question/answer facts read off single sentences: definitions, names, discoverers, dates.

Each pattern is anchored on the sentence's own wording, so the answer is a span of the
sentence (the caller still checks it against the source). Precision beats recall here:
a sentence that fits no pattern cleanly is left to the cloze cards rather than turned
into a question that reads badly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from handlers.providers.card_lint import describes_a_person
from handlers.providers.extract import (
    GLOSSARY_LINE,
    Block,
    BlockKind,
    Vocabulary,
    clean_inline,
    glossary_term_ok,
    split_sentences,
    word_set,
    words_of,
)
from handlers.text import YEAR as _YEAR
from handlers.text import is_plural


class FactKind(StrEnum):
    DEFINITION = "definition"
    NAMING = "naming"
    PERSON = "person"
    DATE = "date"


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str
    subject: str  # what the card is about: a related term for other cards' distractors
    kind: FactKind


# A subject that starts like this depends on the previous sentence or is a clause.
_SUBJECT_BLOCK = word_set(
    """
    it this that these those they them he she we you i there here which who what when where
    why how each such another other both all some many most its their his her our if
    although because since while as after before during however thus then also so but and
    or unlike like only one once whether
    """
)

# Words that, opening the predicate of "X are ...", describe X instead of defining it.
_PREDICATE_BLOCK = word_set(
    """
    not very more less most much still now then only also often usually typically generally
    mainly mostly largely always never found able responsible present located important
    essential thought believed made composed known called used similar different same
    small large larger smaller common rare likely unlikely able needed required divided
    """
)

_DISCOVERY_VERBS = {
    "discovered": "discover",
    "invented": "invent",
    "developed": "develop",
    "proposed": "propose",
    "formulated": "formulate",
    "founded": "found",
    "introduced": "introduce",
    "coined": "coin",
    "described": "describe",
    "published": "publish",
    "written": "write",
    "wrote": "write",
    "designed": "design",
    "identified": "identify",
    "established": "establish",
    "devised": "devise",
    "isolated": "isolate",
    "built": "build",
    "created": "create",
}
_PAST_TENSE = {"written": "wrote"}
_DISCOVERY = "|".join(_DISCOVERY_VERBS)
_NAME = r"[A-Z][\w'\u2019.-]*(?: (?:(?:de|da|van|von|der|du|le|la) )?[A-Z][\w'\u2019.-]*){0,4}"
_NAMES = rf"{_NAME}(?:,? and {_NAME})?"
_YEAR_START = re.compile(rf"^(?:the )?(?:{_YEAR}|\d{{1,4}} BC)")

_NAMING = re.compile(
    r"^(?P<x>.+?) (?P<be>is|are|was|were) "
    r"(?P<also>(?:also|once|often|sometimes|commonly|usually|formerly|originally|first) )?"
    r"(?P<verb>called|known as|termed|named) (?P<y>.+)$"
)
_DEFINED = re.compile(r"^(?P<x>.+?) (?P<be>is|are) defined as (?P<y>.+)$")
_REFERS = re.compile(r"^(?P<x>.+?) (?P<verb>refers|refer) to (?P<y>.+)$")
_MEANS = re.compile(r"^(?P<x>.+?) (?P<verb>means|mean|meant) (?P<y>.+)$")
# "The city of Lubeck, founded in 1143, became the leading city": a change of role.
_BECAME = re.compile(
    r"^(?P<x>[^,;:]{1,80}?)(?:, [^;]{3,160}?,)? (?P<verb>became|becomes) (?P<y>[^;]+)$"
)
# "the only metal", "the largest kontor", "the first emperor": a description of one thing,
# so the card asks for the thing.
_UNIQUE = re.compile(
    r"^the (?:[a-z]+est|first|second|third|last|only|main|leading|chief|principal|primary"
    r"|most [a-z]+|best|worst|sole) "
)
_CONSISTS = re.compile(r"^(?P<x>.+?) (?P<verb>consists|consist) of (?P<y>.+)$")
_MADE_OF = re.compile(r"^(?P<x>.+?) (?P<be>is|are) (?P<verb>made up|composed) of (?P<y>.+)$")
_BY_WHOM = re.compile(
    rf"^(?P<x>.+?) (?P<be>was|were) (?:first )?(?P<verb>{_DISCOVERY}) by (?P<who>{_NAMES})\b"
)
_WHO_DID = re.compile(rf"^(?P<who>{_NAMES}) (?:first )?(?P<verb>{_DISCOVERY}) (?P<rest>[^,;:]+)$")
# "... invented the telephone in 1876": the object ends where its time phrase starts. Cut
# by a search, not a lazy group followed by an optional tail (quadratic in the sentence).
_TIME_PHRASE = re.compile(r" (?:in|around|during) ")
_WHEN_DONE = re.compile(
    rf"^(?P<x>.+?) (?P<be>was|were) (?:first )?(?P<verb>[a-z]+(?:ed|en|wn|ught|lt|nt))"
    rf"(?: by [^,;]+?)?(?: in| on)(?: [A-Z][a-z]+)?(?: \d{{1,2}},?)?(?: [A-Z][a-z]+)?"
    rf" (?P<year>{_YEAR})\b"
)
# "The letters were cast from an alloy ...": what a thing was made from, measured in, ...
_PASSIVE = re.compile(
    r"^(?P<x>[^,;:]+?) (?P<be>is|are|was|were) (?:(?:first|usually|often|mainly|also) )?"
    r"(?P<verb>[a-z]+(?:ed|en|wn)|cast|made|built|held|found|kept|sold|brought|taught|set)"
    r" (?P<prep>from|of|in|into|with|for|as|on|by) (?P<y>[^;]+)$"
)
_PASSIVE_BLOCK = word_set("known called named termed defined composed born based located used")
# ", a goldsmith from Mainz," between a name and its verb hides the verb from the readers.
_INNER_APPOSITIVE = re.compile(r"^(?P<who>[A-Z][^,]{1,60}), (?:an?|the) [^,]{3,80}, (?P<rest>.+)$")
_IS_A = re.compile(r"^(?P<x>.+?) (?P<be>is|are|was|were) (?P<y>.+)$")
_APPOSITIVE = re.compile(rf"(?:^|(?<=[\s(]))(?P<x>{_NAME}), (?P<y>an? [^,;()]{{3,80}}?),")
_REFLEXIVE = re.compile(r" (?:himself|herself|itself|themselves)\b")
# "The pattern was explained in 1963" needs the previous sentence to make sense.
_VAGUE_SUBJECT = re.compile(
    r"^(?:the|this|that|these|those) (?:pattern|theory|idea|process|event|result|method|change"
    r"|approach|system|model|work|book|discovery|step|stage|effect|law|rule|field|concept"
    r"|term|subject|area|phenomenon|mechanism)s?$",
    re.IGNORECASE,
)
_INTRO_PHRASE = re.compile(r"^(?:In|Within|For|At) [^,\d]{1,40}, ")
_GLOSSARY = GLOSSARY_LINE
# In a list the entry may be lower case ("- genotype: the set of ..."); a bounded term and
# one separator keep the match linear.
_LIST_GLOSSARY = re.compile(
    r"^\*\*(?P<term>[^*]{1,60})\*\*\s*(?::|\s[\u2014\u2013-]|[\u2014\u2013])\s*(?P<def>\S.*)$"
    r"|^(?P<plain>[A-Za-z][\w()'\u2019 -]{0,40}?)(?::|\s[\u2014\u2013-])\s+(?P<pdef>\S.*)$"
)
_ANSWER_CUTS = re.compile(
    r"; | \u2014 | \u2013 | -- |, which |, while |, whereas |, but |, although |, so that "
    r"|, for example"
    r"|, e\.g\.| \(e\.g\.| \(for example|,? such as |, \w+ly "
    r"|, and (?:it|they|this|these|that|he|she|its|their|the|a|an) "
    r"| and (?:\w+ly|is|are|was|were|has|have|had|can|could|may|might|will|would|then|also) "
    r"| and (?=[a-z]+s (?:within|to|in|at|by|with|the|a|an)\b)"
    # "amperes, named after Ampere": a comma and a participle start a reduced clause.
    r"|, (?=[a-z]+(?:ed|en|wn) )"
    r"|, (?=[a-z]{2,20}ing (?:to|in|on|at|from|with|into|the|a|an)\b)"
    # ", the Second Estate was the nobility": a comma opening a new clause.
    r"|, (?=(?:the |a |an )?[\w-]+(?: [\w-]+){0,3} (?:is|are|was|were) )"
)
_MAX_ANSWER_WORDS = 22
_ADJECTIVE_PARTICIPLE = re.compile(
    r"[a-z]{2,30}(?:ed|en|wn) (?!(?:after|by|in|into|from|for|with|to|at|on|as|of|the|a|an)\b)"
    r"[a-z]"
)
# Longer sentences are never read for facts: a fact card quotes at most ~50 words, and the
# bound keeps every pattern below cheap however a hostile sentence is built.
MAX_FACT_SENTENCE_CHARS = 500


def fact_from_sentence(sentence: str, vocab: Vocabulary) -> Fact | None:
    """The one best question this sentence answers, or None."""
    if len(sentence) > MAX_FACT_SENTENCE_CHARS:
        return None
    text = sentence.strip().rstrip(".!")
    if text.endswith("?") or len(text.split()) < 4:
        return None
    core = _INTRO_PHRASE.sub("", text)
    for reader in _READERS:
        fact = reader(core, vocab)
        if fact is not None:
            return fact
    return _appositive(text, vocab)


def glossary_fact(block: Block, vocab: Vocabulary) -> Fact | None:
    """``**Term**: definition`` or ``Term: definition`` lines, common in notes; in a list
    ("- genotype: the set of alleles") the entry may be written in lower case."""
    glossary = _LIST_GLOSSARY if block.kind is BlockKind.LIST_ITEM else _GLOSSARY
    match = glossary.match(block.raw.strip())
    if match is None or not glossary_term_ok(match):
        return None
    term = clean_inline(match.group("term") or match.group("plain") or "")
    definition_sentences = split_sentences(clean_inline(match.group("def") or match.group("pdef")))
    if not term or len(term.split()) > 5 or not definition_sentences:
        return None
    if any(ch.isdigit() for ch in term):
        return None  # "Lecture 4: The Water Cycle" is a title, not an entry
    answer = trim_answer(definition_sentences[0])
    if answer is None or len(answer.split()) < 2:
        return None
    if all(w[:1].isupper() for w in answer.split() if len(w) > 3):
        return None  # "Volcanoes: Frequently Asked Questions": a subtitle
    subject = question_subject(term, vocab)
    # A glossary capitalises its entries: "Inflation" is a common noun unless the text
    # shows it as a name elsewhere ("Pangaea").
    if " " not in subject and subject[1:].islower() and subject.lower() not in vocab.names:
        subject = subject.lower()
    article = answer.split()[0].lower()
    if article in {"a", "an", "the"}:
        verb = "are" if is_plural_term(term) and article == "the" else "is"
        if article != "the" and subject.islower():
            # "Gene: a stretch of DNA ..." defines a countable noun: "What is a gene?"
            subject = f"{'an' if subject[0] in 'aeiou' else 'a'} {subject}"
        question = f"What {verb} {subject}?"
    else:
        question = f"What is meant by {subject}?"
    return Fact(question, answer, term, FactKind.DEFINITION)


# A table row's facts, one per column after its label. Headers that say how to ask:
# "Definition" defines the label; "Discovered by" names a person; a plural header over a
# number counts ("Moons": "How many moons does Saturn have?").
_DEFINING_COLUMNS = word_set("definition meaning description explanation")
_BY_COLUMN = re.compile(r"^(?:first )?(?P<verb>[a-z]{2,30}(?:ed|en|wn|nt|lt|ght)) by$")
_COUNT_VALUE = re.compile(
    r"^(?:about |around |over |nearly )?(?P<num>\d[\d,.]{0,20})(?: (?P<unit>.+))?$"
)
_EMPTY_CELLS = frozenset({"", "-", "\u2013", "\u2014", "n/a", "na", "?", "none", "unknown"})
_PREPOSITIONS = word_set("at from in of on to per for with by")
_MAX_LABEL_WORDS = 6


def table_facts(rows: Sequence[Block], vocab: Vocabulary) -> list[list[tuple[int, Fact]]]:
    """The facts of each row of one table as (cell, fact), in column order.

    A cell is asked both ways when its value names the row alone: under "| Planet | Moons
    |", the row "| Saturn | 146 |" asks "Which planet has 146 moons?" (the label, first)
    and "How many moons does Saturn have?". The two share a cell: each gives the other
    away, so a deck takes one.
    """
    values = Counter(
        (header, value.casefold()) for row in rows for header, value in row.cells[1:]
    )
    return [_row_facts(row, vocab, values) for row in rows]


def _row_facts(
    block: Block, vocab: Vocabulary, values: Counter[tuple[str, str]]
) -> list[tuple[int, Fact]]:
    if block.kind is not BlockKind.TABLE_ROW or len(block.cells) < 2:
        return []
    (label_header, label), *columns = block.cells
    words = label.split()
    if not words or len(words) > _MAX_LABEL_WORDS:
        return []
    if label[0].isdigit():
        # "| 1 | alkali metals |" under "| Group | Name |": the row is "group 1".
        if not label_header or len(label_header.split()) > 3:
            return []
        subject = f"{_column_name(label_header)} {label}"
    else:
        subject = question_subject(label, vocab)
    facts: list[tuple[int, Fact]] = []
    for cell, (header, value) in enumerate(columns):
        if values[(header, value.casefold())] == 1 and not label[0].isdigit():
            reverse = _label_fact(label_header, label, header, value)
            if reverse is not None:
                facts.append((cell, reverse))
        fact = _cell_fact(subject, label, header, value)
        if fact is not None:
            facts.append((cell, fact))
    return facts


# A row's kind, from its label's column: "Planet" -> "Which planet ...?"; a column that
# only says "the name" gives no kind to ask with.
_GENERIC_LABEL_COLUMNS = word_set("name names term terms item items word words key")
_CODE_VALUE = re.compile(r"^[A-Z][A-Za-z0-9-]{0,11}$")


def _label_fact(label_header: str, label: str, header: str, value: str) -> Fact | None:
    """ "Which planet has 146 moons?" -> "Saturn": the label asked from a value that only
    its row has. Only numbers and short codes identify a row well ("Hg", "146"), and
    only a plain noun column reads well after "has"."""
    kind = _column_name(label_header)
    column, unit = _column_unit(_column_name(header))
    value = f"{value} {unit}" if unit and _COUNT_VALUE.match(value) else value
    if (
        not kind or len(kind.split()) > 2 or kind.lower() in _GENERIC_LABEL_COLUMNS
        or not column or len(column.split()) > 3 or _PREPOSITIONS & set(column.split())
    ):
        return None
    kind = kind.lower() if kind[1:].islower() else kind
    count = _COUNT_VALUE.match(value)
    if count and is_plural(column.split()[-1]):
        unit = (count["unit"] or "").lower()
        noun = column.removesuffix("s") if value == "1" else column  # "1 moon", "2 moons"
        has = value if unit and unit.split()[-1] in column.split() else f"{value} {noun}"
        question = f"Which {kind} has {has}?"
    elif count:
        question = f"Which {kind} has a {column} of {value}?"
    elif _CODE_VALUE.match(value):
        question = f"Which {kind} has the {column} {value}?"
    else:
        return None
    return Fact(question, label, value, FactKind.NAMING)


def _cell_fact(subject: str, label: str, header: str, value: str) -> Fact | None:
    column, unit = _column_unit(_column_name(header))
    if value.lower() in _EMPTY_CELLS or not column or len(column.split()) > 6:
        return None
    fact = _cell_question(subject, label, column, value)
    if fact is None or not unit:
        return fact
    # "Distance from the Sun (AU)": the unit says how to answer, after the question.
    return Fact(f"{fact.question[:-1]}, in {unit}?", fact.answer, fact.subject, fact.kind)


def _cell_question(subject: str, label: str, column: str, value: str) -> Fact | None:
    answer = trim_answer(value)
    if answer is None:
        return None
    plural = is_plural(column.split()[-1])
    if column in _DEFINING_COLUMNS:
        verb = "are" if is_plural_term(label) else "is"
        return Fact(f"What {verb} {subject}?", answer, label, FactKind.DEFINITION)
    if by := _BY_COLUMN.match(column):
        return Fact(f"Who {by['verb']} {subject}?", answer, label, FactKind.PERSON)
    count = _COUNT_VALUE.match(answer)
    if plural and count:
        unit = set((count["unit"] or "").lower().split())
        if unit <= {w.removesuffix("s") for w in column.split()} | set(column.split()):
            answer = count["num"].rstrip(".,")  # "146 moons" under "Moons": the number
        does = "do" if is_plural_term(label) else "does"
        return Fact(f"How many {column} {does} {subject} have?", answer, label, FactKind.DEFINITION)
    verb = "are" if plural else "is"
    if " " not in subject and not subject.endswith("s") and _PREPOSITIONS & set(column.split()):
        # "distance from the Sun": "What is Saturn's distance from the Sun?" reads better
        # than "What is the distance from the Sun of Saturn?".
        return Fact(f"What {verb} {subject}'s {column}?", answer, label, FactKind.DEFINITION)
    return Fact(f"What {verb} the {column} of {subject}?", answer, label, FactKind.DEFINITION)


_HEADER_UNIT = re.compile(r"^(?P<name>[^()]{1,60}) \((?P<unit>[^()]{1,12})\)$")


def _column_unit(column: str) -> tuple[str, str]:
    """ "length (km)" -> ("length", "km"): a header's unit belongs with its values."""
    m = _HEADER_UNIT.match(column)
    return (m["name"], m["unit"]) if m else (column, "")


def _column_name(header: str) -> str:
    """A column header as it reads mid-question: "Atomic number" -> "atomic number"; an
    acronym or a name keeps its capitals ("DNA", "Sun")."""
    words = header.strip(" :").split()
    if not words:
        return ""
    first = words[0]
    if not (first.isupper() and len(first) > 1):
        words[0] = first[:1].lower() + first[1:]
    return " ".join(words)


# ---------------------------------------------------------------- readers, best first


def _naming(text: str, vocab: Vocabulary) -> Fact | None:
    m = _NAMING.match(text)
    if not m or not _subject_ok(m["x"], max_words=16):
        return None
    answer = trim_answer(m["y"])
    if answer is None or len(answer.split()) > 8:
        return None
    also = m["also"] or ""
    question = f"What {m['be']} {question_subject(m['x'], vocab)} {also}{m['verb']}?"
    return Fact(question, answer, answer, FactKind.NAMING)


def _defined(text: str, vocab: Vocabulary) -> Fact | None:
    m = _DEFINED.match(text)
    if not m or not _subject_ok(m["x"], max_words=8):
        return None
    return _fact(f"How {m['be']} {question_subject(m['x'], vocab)} defined?", m["y"], m["x"])


def _refers(text: str, vocab: Vocabulary) -> Fact | None:
    m = _REFERS.match(text)
    if not m or not _subject_ok(m["x"], max_words=8):
        return None
    aux = "does" if m["verb"] == "refers" else "do"
    return _fact(f"What {aux} {question_subject(m['x'], vocab)} refer to?", m["y"], m["x"])


def _means(text: str, vocab: Vocabulary) -> Fact | None:
    m = _MEANS.match(text)
    if not m or not _subject_ok(m["x"], max_words=8):
        return None
    aux = {"means": "does", "mean": "do", "meant": "did"}[m["verb"]]
    return _fact(f"What {aux} {question_subject(m['x'], vocab)} mean?", m["y"], m["x"])


def _became(text: str, vocab: Vocabulary) -> Fact | None:
    m = _BECAME.match(text)
    if not m or not _subject_ok(m["x"], max_words=8):
        return None
    answer = trim_answer(m["y"])
    if answer is None or len(answer.split()) > 12:
        return None
    if _UNIQUE.match(answer) and _names_something(m["x"], vocab):
        return _asked_for_subject(m["x"], m["verb"], answer)
    aux = "did" if m["verb"] == "became" else "does"
    question = f"What {aux} {question_subject(m['x'], vocab)} become?"
    return Fact(question, answer, m["x"], FactKind.DEFINITION)


def _asked_for_subject(subject: str, verb: str, description: str) -> Fact:
    """ "Mercury is the only metal that ..." -> "What is the only metal that ...?" -> Mercury:
    a description of one thing asks for the thing, the name being what a reader learns."""
    asker = "Who" if describes_a_person(description) else "What"
    return Fact(f"{asker} {verb} {description}?", subject.strip(), description, FactKind.NAMING)


def _names_something(subject: str, vocab: Vocabulary) -> bool:
    """Does the subject hold a name ("The city of Lubeck", "Mercury"), not only a common
    noun capitalised at the sentence start ("The league")?"""
    words = subject.split()
    if any(w[:1].isupper() for w in words[1:]):
        return True
    first = words[0] if words else ""
    return len(words) == 1 and first[:1].isupper() and first.lower() not in vocab.lowercase


def _consists(text: str, vocab: Vocabulary) -> Fact | None:
    if m := _CONSISTS.match(text):
        aux = "does" if m["verb"] == "consists" else "do"
        question = f"What {aux} {question_subject(m['x'], vocab)} consist of?"
    elif m := _MADE_OF.match(text):
        question = f"What {m['be']} {question_subject(m['x'], vocab)} {m['verb']} of?"
    else:
        return None
    if not _subject_ok(m["x"], max_words=8):
        return None
    return _fact(question, m["y"], m["x"])


def _by_whom(text: str, vocab: Vocabulary) -> Fact | None:
    m = _BY_WHOM.match(text)
    if not m or not _subject_ok(m["x"], max_words=12) or not _is_name(m["who"], vocab):
        return None
    past = _PAST_TENSE.get(m["verb"], m["verb"])
    question = f"Who {past} {question_subject(m['x'], vocab)}?"
    return Fact(question, m["who"], m["x"], FactKind.PERSON)


def _who_did(text: str, vocab: Vocabulary) -> Fact | None:
    m = _WHO_DID.match(text)
    if not m or not _is_name(m["who"], vocab):
        return None
    obj = _TIME_PHRASE.split(m["rest"], maxsplit=1)[0]
    if not 1 <= len(obj.split()) <= 12:
        return None
    question = f"Who {m['verb']} {question_subject(obj, vocab)}?"
    return Fact(question, m["who"], obj, FactKind.PERSON)


def _when_done(text: str, vocab: Vocabulary) -> Fact | None:
    m = _WHEN_DONE.match(text)
    if not m or not _subject_ok(m["x"], max_words=12):
        return None
    question = f"In what year {m['be']} {question_subject(m['x'], vocab)} {m['verb']}?"
    return Fact(question, m["year"], m["x"], FactKind.DATE)


def _passive(text: str, vocab: Vocabulary) -> Fact | None:
    m = _PASSIVE.match(text)
    if not m or m["verb"] in _PASSIVE_BLOCK or not _subject_ok(m["x"], max_words=6):
        return None
    if re.search(r" (?:and|or|but)(?: |$)", m["x"]):
        return None  # "A dictionary maps keys to values and is written with": two clauses
    if m["prep"] == "in" and _YEAR_START.match(m["y"]):
        return None  # "was built in 1889" is a date: _when_done asks it
    answer = trim_answer(m["y"])
    if answer is None or len(answer.split()) > 12:
        return None
    asker = "What"
    if m["prep"] == "by" and answer[:1].isupper() and _is_name(answer, vocab):
        asker = "Who"  # "The law was written by Solon": an agent with a name is a person
    question = f"{asker} {m['be']} {question_subject(m['x'], vocab)} {m['verb']} {m['prep']}?"
    return Fact(question, answer, m["x"], FactKind.DEFINITION)


# "An octopus has three hearts": a count, asked as one.
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    "|hundreds|thousands|millions|dozens"
)
_COUNT = (
    r"(?:(?:about|around|over|nearly|roughly|some|more than|at least) )?"
    rf"(?:\d[\d,.]{{0,15}}|{_NUMBER_WORDS})"
)
_HAS_COUNT = re.compile(
    rf"^(?P<x>[^,;:]{{1,60}}?) (?P<verb>has|have|had) (?P<n>{_COUNT})"
    r" (?P<what>[a-z][a-z -]{1,40}?)(?=$|,| in | on | at | that | which | of )"
)
_THERE_ARE = re.compile(
    rf"^There (?P<be>are|were|is|was) (?P<n>{_COUNT}) (?P<what>[a-z][a-z -]{{1,40}}?)"
    r"(?=$|,| in | on | at | that | which | and )"
)


# "The liver makes bile", "Saliva contains amylase": what a thing makes, holds or does,
# for the verbs science notes state facts with.
_ACTION_BASES = word_set(
    """
    contain produce make release secrete store absorb carry convert control digest detect
    measure protect transport form generate emit attract
    """
)
_ACTIONS = {base: base for base in _ACTION_BASES} | {
    (base[:-1] + "ies" if base.endswith("y") else base + "s"): base for base in _ACTION_BASES
}
_ACTION_VERBS = "|".join(sorted(_ACTIONS, key=len, reverse=True))
_DOES = re.compile(rf"^(?P<x>[^,;:]{{1,60}}?) (?P<verb>{_ACTION_VERBS}) (?P<y>[^;]{{3,300}})$")
# "absorbs water and forms faeces": a second verb is a second fact.
_SECOND_ACTION = re.compile(rf" and (?:{_ACTION_VERBS}) ")


def _does(text: str, vocab: Vocabulary) -> Fact | None:
    """ "The liver makes bile, which ..." -> "What does the liver make?" -> "bile"."""
    m = _DOES.match(text)
    if not m or not _subject_ok(m["x"], max_words=5):
        return None
    third_person = m["verb"] != _ACTIONS[m["verb"]]
    if third_person == is_plural_term(m["x"]):
        return None  # "The cells that contain ...": the verb does not agree with x
    answer = trim_answer(_SECOND_ACTION.split(m["y"], maxsplit=1)[0])
    if answer is None or len(answer.split()) > 10:
        return None
    aux = "does" if third_person else "do"
    question = f"What {aux} {question_subject(m['x'], vocab)} {_ACTIONS[m['verb']]}?"
    return Fact(question, answer, m["x"], FactKind.DEFINITION)


def _counted(text: str, vocab: Vocabulary) -> Fact | None:
    """ "An octopus has three hearts" -> "How many hearts does an octopus have?" -> "three";
    "There are about 300 species of octopus" -> "How many species of octopus are there?"."""
    if m := _THERE_ARE.match(text):
        be = "is" if m["be"] == "is" else "are" if m["be"] == "are" else "were"
        question = f"How many {m['what'].strip()} {be} there?"
        return Fact(question, m["n"], m["what"], FactKind.DEFINITION)
    m = _HAS_COUNT.match(text)
    if not m or not _subject_ok(m["x"], max_words=6):
        return None
    aux = {"has": "does", "have": "do", "had": "did"}[m["verb"]]
    question = f"How many {m['what'].strip()} {aux} {question_subject(m['x'], vocab)} have?"
    return Fact(question, m["n"], m["x"], FactKind.DEFINITION)


def _without_apposition(text: str, vocab: Vocabulary) -> Fact | None:
    """ "Johannes Gutenberg, a goldsmith from Mainz, developed ..." read without the middle."""
    m = _INNER_APPOSITIVE.match(text)
    if not m:
        return None
    core = f"{m['who']} {m['rest']}"
    return _who_did(core, vocab) or _when_done(core, vocab)


def _is_a(text: str, vocab: Vocabulary) -> Fact | None:
    m = _IS_A.match(text)
    if not m or not _subject_ok(m["x"], max_words=6) or not _defines(m["be"], m["y"]):
        return None
    answer = trim_answer(m["y"])
    if answer is None or (len(answer.split()) == 1 and answer.islower()):
        return None  # "Shield volcanoes are broad": a description, not what they are
    if _UNIQUE.match(answer) and len(answer.split()) <= 12 and _names_something(m["x"], vocab):
        return _asked_for_subject(m["x"], m["be"], answer)
    asker = "Who" if describes_a_person(answer) else "What"
    question = f"{asker} {m['be']} {question_subject(m['x'], vocab)}?"
    return Fact(question, answer, m["x"], FactKind.DEFINITION)


def _appositive(text: str, vocab: Vocabulary) -> Fact | None:
    m = _APPOSITIVE.search(text)
    if not m or not _subject_ok(m["x"], max_words=5):
        return None
    answer = trim_answer(m["y"])
    if answer is None or len(answer.split()) > 10:
        return None
    if describes_a_person(answer):
        question = f"Who was {m['x']}?"
    else:
        verb = "are" if is_plural_term(m["x"]) else "is"
        question = f"What {verb} {question_subject(m['x'], vocab)}?"
    return Fact(question, answer, m["x"], FactKind.DEFINITION)


_READERS = (
    _naming,
    _defined,
    _refers,
    _means,
    _consists,
    _by_whom,
    _who_did,
    _without_apposition,
    _when_done,
    _became,
    _counted,
    _passive,
    _is_a,
    _does,
)


# ---------------------------------------------------------------- shared pieces


def _fact(question: str, predicate: str, subject: str) -> Fact | None:
    answer = trim_answer(predicate)
    if answer is None:
        return None
    return Fact(question, answer, subject, FactKind.DEFINITION)


def trim_answer(predicate: str) -> str | None:
    """One fact, briefly: cut at the first clause break, bound the length."""
    # The first clause break; a participle before a noun is an adjective, not a reduced
    # clause: "a continuous, directed movement" is one phrase, "hertz, named after" two.
    answer = predicate
    for cut in _ANSWER_CUTS.finditer(predicate):
        after = _ADJECTIVE_PARTICIPLE.match(predicate, cut.end())
        if cut.group() == ", " and after is not None:
            continue
        answer = predicate[: cut.start()]
        break
    answer = answer.strip().rstrip(".,;:!?").strip()
    if len(answer.split()) > _MAX_ANSWER_WORDS - 2 and ", " in answer:
        head = answer.split(", ", 1)[0]
        if len(head.split()) >= 3:
            answer = head
    if answer.count("(") != answer.count(")"):
        answer = answer.rsplit("(", 1)[0].rstrip(" ,")
    words = answer.split()
    if not words or len(words) > _MAX_ANSWER_WORDS:
        return None
    return answer


def question_subject(subject: str, vocab: Vocabulary) -> str:
    """Undo a sentence-start capital: "the cell", "diffusion"; names stay ("Pangaea")."""
    subject = _REFLEXIVE.sub("", subject.strip().rstrip(","))
    first, _, rest = subject.partition(" ")
    common = first.lower() in vocab.lowercase or rest[:1].islower()  # "Kinetic energy"
    if first in {"The", "A", "An"} or (first[:1].isupper() and not first.isupper() and common):
        first = first[:1].lower() + first[1:]
    return f"{first} {rest}".strip()


def is_vague_subject(text: str) -> bool:
    """ "The pattern ...", "This theory ...": meaningless without the sentence before."""
    return bool(_VAGUE_SUBJECT.match(" ".join(text.split()[:2])))


def _subject_ok(subject: str, *, max_words: int) -> bool:
    words = subject.split()
    if not words or len(words) > max_words or any(ch in subject for ch in ',;:"\u201c\u201d'):
        return False
    if words[0].lower() in _SUBJECT_BLOCK or words[0][0].isdigit():
        return False
    if _VAGUE_SUBJECT.match(subject):
        return False
    return any(w.lower() not in _SUBJECT_BLOCK and len(w) > 2 for w in words)


def _defines(be: str, predicate: str) -> bool:
    """Does ``X <be> <predicate>`` state what X is, rather than how X is?"""
    words = predicate.split()
    if len(words) < 1:
        return False
    first = words[0].lower()
    if first in {"a", "an", "the"}:
        return len(words) >= 2 and words[1].lower() not in {"same", "result", "reason"}
    if first == "one" and len(words) > 2 and words[1] == "of":
        return True
    if first[0].isdigit():
        return len(words) <= 4
    if be in {"are", "were"} and len(words) >= 2:
        return (
            first not in _PREDICATE_BLOCK
            and not first.endswith(("ed", "ly", "er"))
            # "Surface currents are driven by the wind": a passive, not what they are.
            and not (first.endswith(("en", "wn")) and not first.endswith(("men", "gen", "ren")))
            and words[1].lower() not in {"than", "to", "by"}
        )
    return False


def _is_name(candidate: str, vocab: Vocabulary) -> bool:
    words = words_of(candidate)
    if not words or words[0] in {"The", "A", "An", "In", "This", "These", "It"}:
        return False
    if len(words) == 1:
        return words[0].lower() in vocab.names
    return True


def is_plural_term(term: str) -> bool:
    return is_plural(term.split()[-1])
