"""Named checks for a drafted card: what makes a flashcard not worth studying.

Used twice: the offline generator drops every card a check flags (its final gate), and
``cardforge bench --quality`` reports the share of flagged cards per check. The checks
are heuristics on the card's wording and its source, written so that a flag names the
failure a reader would see ("What is compositor?", "his ideas ____ across Germany").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from handlers.providers.extract import (
    CONNECTIVES,
    GENERIC_NOUNS,
    STOPWORDS,
    Document,
    Vocabulary,
    normalize,
    word_set,
    words_of,
)
from handlers.text import YEAR, question_key

BLANK = "____"
CLOZE_PREFIX = "Fill in the blank: "


class Check(StrEnum):
    NOT_A_QUESTION = "not_a_question"
    ANSWER_NOT_IN_SOURCE = "answer_not_in_source"
    WEAK_BLANK = "blank_on_weak_word"
    PERSON_AS_WHAT = "person_asked_with_what"
    SEVERAL_FACTS = "more_than_one_fact"
    GIVES_ANSWER_AWAY = "gives_answer_away"
    NEAR_DUPLICATE = "near_duplicate"
    NEEDS_CONTEXT = "needs_context"
    CONNECTIVE_BLANK = "blank_on_connective"
    GENERIC_BLANK = "blank_on_generic_noun"


_QUESTION_OPENERS = word_set(
    "what who whom whose which when where why how in on at by to from for name is are was "
    "were does do did can"
)
_PRONOUNS = word_set("he she him his her hers they them their theirs it its this these those")
_CONTEXT_OPENERS = _PRONOUNS | word_set(
    "however also therefore thus instead then such another both later afterwards meanwhile"
)
# Verbs common in study texts; a blank on one tests grammar, not knowledge.
_COMMON_VERBS = word_set(
    """
    is are was were be been being has have had do does did can could may might will would
    shall should must make makes made take takes took taken give gives gave given get gets
    got grow grows grew grown spread spreads become becomes became come comes came go goes
    went gone keep keeps kept let lets put puts set sets show shows showed shown find finds
    found lead leads led leave leaves left bring brings brought begin begins began begun
    hold holds held rise rises rose risen fall falls fell fallen run runs ran move moves
    help helps need needs use uses carry carries cause causes form forms turn turns allow
    allows produce produces contain contains include includes depend depends lie lies lay
    tell tells told see sees saw seen say says said know knows knew known think thinks
    thought mean means meant build builds built stay stays sit sits sat feed feeds fed
    live lives lived die dies died eat eats ate eaten work works worked
    """
)
_ADJECTIVE_ENDINGS = ("ous", "ful", "ive", "ible", "less", "ish")
_ADJECTIVES = word_set(
    """
    big small large little great high low long short new old young good bad early late
    main major minor important common rare different similar same other first last next
    rich poor cheap cheaper expensive fast slow quick easy hard strong weak hot cold warm
    cool thick thin wide narrow deep shallow heavy light simple complex single whole full
    empty free open closed key basic general special certain various several many few
    most more less much lower higher larger smaller better worse best worst
    tall wet dry soft loud bright dark fine near far busy happy heavy easy
    """
)
_VAGUE_NOUNS = word_set(
    "part parts kind kinds type types way ways thing things lot lots area areas form forms "
    "number numbers amount amounts place places time times case cases point points"
)
_PERSON_NOUNS = word_set(
    """
    person man woman king queen emperor empress monarch ruler leader general politician
    statesman lawyer scientist physicist chemist biologist mathematician philosopher
    astronomer inventor engineer writer author poet painter sculptor architect artist
    artisan goldsmith printer explorer physician doctor teacher professor monk priest
    bishop pope merchant soldier admiral consul senator dictator composer musician
    economist historian theologian reformer founder president minister
    """
)
_TIME_WORDS = word_set("today tomorrow yesterday next last week weeks month year time now")

_NAME_LINKS = word_set("of the de da van von der du le la and")
_BE = word_set("is are was were")


@dataclass(frozen=True)
class LintSource:
    """What the checks need from the material, prepared once per deck."""

    normalized: str
    vocabulary: Vocabulary
    words: str  # the material as lower-case words joined by single spaces
    headings: str = " "  # the headings' words, the same way

    @classmethod
    def of(cls, material: str, doc: Document | None = None) -> LintSource:
        doc = doc if doc is not None else Document.parse(material)
        words = " ".join(w.lower() for w in words_of(" ".join(s.text for s in doc.sentences)))
        headings = " ".join(w.lower() for h in doc.headings for w in words_of(h.text))
        # Cards quote what a reader sees (inline markup removed) or the text as written.
        seen = " ".join(b.text for b in doc.blocks)
        return cls(
            f"{normalize(material)}\n{normalize(seen)}", doc.vocabulary, f" {words} ",
            f" {headings} ",
        )


def lint_card(question: str, answer: str, source: LintSource) -> list[Check]:
    """The checks this one card fails (near-duplicates need the deck: see ``lint_deck``)."""
    flags: list[Check] = []
    cloze = question.startswith(CLOZE_PREFIX)
    text = question.removeprefix(CLOZE_PREFIX) if cloze else question
    if not (_well_formed_cloze(text) if cloze else _well_formed_question(text, source)):
        flags.append(Check.NOT_A_QUESTION)
    if not _grounded(text, answer, source, cloze=cloze):
        flags.append(Check.ANSWER_NOT_IN_SOURCE)
    if cloze and _weak_blank(text, answer, source):
        flags.append(Check.WEAK_BLANK)
    if cloze and _connective_blank(text, answer):
        flags.append(Check.CONNECTIVE_BLANK)
    # A question's whole answer is its blank: "What were books copied by?" -> "hand".
    if _generic_blank(text if cloze else BLANK, answer, source):
        flags.append(Check.GENERIC_BLANK)
    if not cloze and _person_asked_with_what(text, answer, source):
        flags.append(Check.PERSON_AS_WHAT)
    if _several_facts(answer):
        flags.append(Check.SEVERAL_FACTS)
    if _gives_away(text, answer, cloze=cloze):
        flags.append(Check.GIVES_ANSWER_AWAY)
    if _needs_context(text, source):
        flags.append(Check.NEEDS_CONTEXT)
    return flags


def lint_deck(cards: Sequence[tuple[str, str]], source: LintSource) -> list[list[Check]]:
    """Checks per card, in order; a card close to an earlier one is its near-duplicate."""
    flags = [lint_card(q, a, source) for q, a in cards]
    keys: list[tuple[str, str]] = []
    for i, (question, answer) in enumerate(cards):
        key = (question_key(question), normalize(answer))
        if any(is_near_duplicate(key, earlier) for earlier in keys):
            flags[i].append(Check.NEAR_DUPLICATE)
        keys.append(key)
    return flags


def is_near_duplicate(card: tuple[str, str], other: tuple[str, str]) -> bool:
    """Same question in other words, or the same answer to nearly the same question.

    Two questions about different things are not one question however alike they read:
    "the symbol of hydrogen" / "the symbol of oxygen" (a table's column asked of two rows)
    differ in their subject and in their answers. Clozes stay strict: two blanks in one
    sentence show each other's answer.
    """
    (question, answer), (other_question, other_answer) = card, other
    if question.startswith(_CLOZE_KEY) and other_question.startswith(_CLOZE_KEY):
        # Two blanks in one sentence: filled in, they are the same text.
        blank = question_key(BLANK)
        if question.replace(blank, answer) == other_question.replace(blank, other_answer):
            return True
    if fuzz.token_sort_ratio(question, other_question) >= 90:
        cloze = question.startswith(_CLOZE_KEY) or other_question.startswith(_CLOZE_KEY)
        return cloze or not _other_subjects(card, other)
    return answer == other_answer and fuzz.partial_ratio(question, other_question) >= 80


_CLOZE_KEY = question_key(CLOZE_PREFIX)


def _other_subjects(card: tuple[str, str], other: tuple[str, str]) -> bool:
    """Each question has a content word the other lacks, and the answers differ."""
    if fuzz.ratio(card[1], other[1]) >= 80:
        return False
    mine, theirs = (
        {w.removesuffix("s") for w in key.split() if w not in STOPWORDS}
        for key, _ in (card, other)
    )
    return bool(mine - theirs) and bool(theirs - mine)


class AnswerKind(StrEnum):
    DATE = "date"
    NUMBER = "number"
    PERSON = "person"
    NAME = "name"
    TERM = "term"  # a word or a short noun phrase
    DESCRIPTION = "description"  # a phrase that defines or explains


_DATE = re.compile(
    rf"^(?:(?:c\.|ca\.|around|about|in)\s)?(?:AD\s?\d{{1,4}}|\d{{1,4}}\s?(?:BC|BCE|AD|CE)|{YEAR}"
    r"|\d{1,2}(?:st|nd|rd|th)? [A-Z][a-z]+ \d{3,4}|[A-Z][a-z]+ \d{1,2},? \d{3,4}"
    r"|the (?:\w+ )?(?:century|decade)|\d{4}s)$"
)
_NUMBER = re.compile(r"^(?:about |around |over |under |nearly |more than )?[$\u00a3\u20ac]?\d")
_NUMBER_WORDS = word_set(
    "zero one two three four five six seven eight nine ten eleven twelve twenty hundred "
    "thousand million billion half"
)


def answer_kind(answer: str, *, question: str = "", source: LintSource | None = None) -> AnswerKind:
    """What sort of thing an answer (or a choice) is: a wrong choice should be the same sort."""
    text = " ".join(answer.split()).strip(" .,;:")
    if _DATE.match(text):
        return AnswerKind.DATE
    words = text.split()
    if _NUMBER.match(text) or (words and words[0].lower() in _NUMBER_WORDS and len(words) <= 3):
        return AnswerKind.NUMBER
    significant = [w for w in words if w.lower() not in _NAME_LINKS]
    if significant and all(w[:1].isupper() for w in significant) and len(words) <= 6:
        if question.startswith("Who ") or _reads_as_person(significant, source):
            return AnswerKind.PERSON
        return AnswerKind.NAME
    return AnswerKind.DESCRIPTION if len(words) >= 4 else AnswerKind.TERM


def _reads_as_person(words: list[str], source: LintSource | None) -> bool:
    """A name of two or more parts with no "of"/"the" ("Karl von Frisch"), or a single name
    the text makes the subject of a past-tense verb ("Raphael painted")."""
    if source is None:
        return len(words) >= 2
    if len(words) >= 2:
        return all(w.lower() not in source.vocabulary.lowercase for w in words)
    key = f" {words[0].lower()} "
    at = source.words.find(key)
    while at != -1:
        following = source.words[at + len(key) :].split(" ", 1)[0]
        if following.endswith("ed") or following in {"wrote", "made", "built", "led", "won"}:
            return True
        at = source.words.find(key, at + 1)
    return False


# ---------------------------------------------------------------- single checks


def _well_formed_cloze(text: str) -> bool:
    """One blank in a statement long enough to say something (a clause may end unstopped)."""
    if text.count(BLANK) != 1 or "_____" in text or len(text.split()) < 6:
        return False
    return not text.rstrip().endswith(("?", ":"))


def _well_formed_question(text: str, source: LintSource) -> bool:
    words = text.split()
    if not text.endswith("?") or len(words) < 3:
        return False
    if words[0].lower().strip(",") not in _QUESTION_OPENERS:
        return False
    for word in words[1:]:
        bare = word.strip("?,.;:()\"'")
        # "What were About 180 copies?": a capitalised small word mid-question is a
        # sentence read wrongly ("The" may open a title: "The Last Supper").
        if bare[:1].isupper() and bare.lower() in STOPWORDS and bare not in {"The", "A", "An"}:
            return False
    subject = _be_subject(words)
    if subject and subject[0][:1].isdigit():
        return False  # "What were 180 copies?"
    bare_subject = [w.lower() for w in subject if w.lower() not in {"meant", "by"}]
    if bare_subject and all(w in STOPWORDS or w in _TIME_WORDS for w in bare_subject):
        return False  # "What is meant by Today?" read off "Today: ..."
    # "What is compositor?": a countable noun that the text only uses with an article.
    if len(subject) == 1 and subject[0].islower() and words[0].lower() == "what":
        noun = subject[0].lower()
        if f" a {noun} " in source.words or f" an {noun} " in source.words:
            return f" {noun} " in _bare_uses(source.words, noun)
    return True


def _bare_uses(words: str, noun: str) -> str:
    """``words`` with every "a/an/the/this ... noun" use removed: what is left is bare use."""
    for determiner in ("a", "an", "the", "this", "that", "each", "every", "one"):
        words = words.replace(f" {determiner} {noun} ", " ")
    return words


def _be_subject(words: list[str]) -> list[str]:
    """The subject of "What is X?", "Who was X?"; empty for other shapes."""
    if len(words) >= 3 and words[1].lower() in _BE:
        return [w.strip("?") for w in words[2:] if w.strip("?")]
    return []


def _grounded(text: str, answer: str, source: LintSource, *, cloze: bool) -> bool:
    needle = normalize(answer)
    if not needle or needle not in source.normalized:
        return False
    return not cloze or normalize(text.replace(BLANK, answer)) in source.normalized


def _weak_blank(text: str, answer: str, source: LintSource) -> bool:
    words = answer.split()
    lower = answer.lower().strip(".,;:")
    if not words:
        return True
    # "During the Conflict", "Because Chinese": a blank that starts or ends on a small word.
    if len(words) > 1 and (words[0].lower() in STOPWORDS or words[-1].lower() in STOPWORDS):
        return True
    if len(words) > 1 and _ends_in_verb(words[-1].lower(), text):
        return True
    if len(words) > 1 and (_is_superlative(words[0].lower()) or words[0].lower() in _BEST):
        return True  # "The ____ cells reach 40 percent" -> "best laboratory"
    if len(words) == 1:
        if lower in STOPWORDS or lower in _PRONOUNS or lower in _VAGUE_NOUNS or lower in _ADVERBS:
            return True
        before = text.partition(BLANK)[0].split()
        after_article = bool(before) and before[-1].lower() in _DETERMINERS
        # "the ____ shows": after an article the word is a noun ("run", "key"), not a verb.
        if not after_article and (lower in _COMMON_VERBS or lower in _ADJECTIVES):
            return True
        if len(lower) > 5 and lower.endswith(_ADJECTIVE_ENDINGS) and not answer[:1].isupper():
            return True
        if _is_superlative(lower) or lower in _NUMBER_PARTS:
            return True  # "The ____ were the Steelyard ..." -> "largest"; "two ____" -> thirds
        if _looks_like_verb(lower, text) and not answer[:1].isupper():
            return True
    return _splits_a_term(text, lower, source)


_DETERMINERS = word_set("the a an its their his her this these those each every")
# "the branch moves ____ to the new commit" -> "forward": a direction, not a fact.
_ADVERBS = word_set(
    "forward forwards backward backwards back away up down out off around together apart "
    "ahead aside along onward upward upwards downward downwards inward outward"
)


_BEST = word_set("best worst least")
_NUMBER_PARTS = word_set(
    "half halves third thirds quarter quarters fifth fifths tenth tenths dozen dozens "
    "hundreds thousands millions billions"
)


def _is_superlative(word: str) -> bool:
    """ "largest", "biggest", "happiest": the -est form of a common adjective."""
    if not word.endswith("est") or len(word) < 5:
        return False
    stem = word[:-3]
    forms = {stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else stem}
    if stem.endswith("i"):
        forms.add(stem[:-1] + "y")
    return bool(forms & _ADJECTIVES)


def _ends_in_verb(last: str, text: str) -> bool:
    """ "The ____ the body" -> "immune system defends": the blank swallowed the verb."""
    after = text.partition(BLANK)[2].split()
    next_word = after[0].lower().strip(".,;") if after else ""
    if last in _COMMON_VERBS:
        return True
    return next_word in _DETERMINERS and last.endswith("s") and not last.endswith("ss")


def _looks_like_verb(word: str, text: str) -> bool:
    """A past tense or participle right after its subject ("his ideas ____ across")."""
    after = text.partition(BLANK)[2]
    next_word = after.split()[0].lower().strip(".,;") if after.split() else ""
    if word.endswith("ed") and not word.endswith("eed"):
        return True
    return word.endswith("ing") and next_word in {"the", "a", "an", "of", "to", "in"}


def _connective_blank(text: str, answer: str) -> bool:
    """ "____, chemists now know ..." -> "Instead": a sentence adverb or connective, or an
    "-ly" adverb opening the sentence before its comma ("____, the press spread")."""
    words = answer.split()
    if len(words) != 1:
        return False
    lower = words[0].lower().strip(".,;:")
    if lower in CONNECTIVES:
        return True
    opens = text.lstrip().startswith(BLANK + ",")
    return opens and lower.endswith("ly") and len(lower) > 4


def _generic_blank(text: str, answer: str, source: LintSource) -> bool:
    """ "copied by ____" -> "hand": an everyday noun the material does not make a term of
    its own (it would repeat it, bold it, name it in a heading or say "called hand"). At
    a sentence start its capital is only position ("____ have 46 chromosomes": Humans)."""
    words = answer.split()
    opens = text.lstrip().startswith(BLANK)
    if len(words) != 1 or not (words[0].islower() or (opens and words[0][1:].islower())):
        return False
    lower = words[0].strip(".,;:").lower()
    if lower not in GENERIC_NOUNS:
        return False
    stem = lower.removesuffix("es") if lower.endswith("ses") else lower.removesuffix("s")
    uses = sum(_head_uses(source.words, form) for form in {stem, stem + "s", lower})
    if uses >= 2 or f" {stem} " in source.headings or f" {lower} " in source.headings:
        return False
    marked = (f"**{lower}**", f"*{lower}*", f"called {lower}", f"known as {lower}")
    return not any(mark in source.normalized for mark in marked)


def _head_uses(words: str, noun: str) -> int:
    """Uses of ``noun`` as a noun of its own: "by hand, usually" is one, "the hand mould"
    is a use of another term."""
    key = f" {noun} "
    uses = 0
    at = words.find(key)
    while at != -1:
        start = at + len(key)
        end = words.find(" ", start)
        following = words[start : end if end != -1 else len(words)]
        uses += not following or following in STOPWORDS
        at = words.find(key, at + 1)
    return uses


def _splits_a_term(text: str, answer: str, source: LintSource) -> bool:
    """ "The printing ____ lowered costs" -> "press": half of a term the text repeats, or
    the head of a compound whose modifier is left showing ("the waggle ____")."""
    before, _, after = text.partition(BLANK)
    # Only a word right before the blank modifies it ("circuit, ____" does not).
    left = words_of(before)[-1:] if before.endswith(" ") and before[-2:-1].isalnum() else []
    right = words_of(after)[:1] if after.startswith(" ") else []
    # A name after a noun is an apposition ("the biologist Karl von Frisch"), not a head.
    if left and is_noun_modifier(left[0]) and len(answer.split()) == 1 and answer.islower():
        return True
    for pair in ([*left, answer] if left else [], [answer, *right] if right else []):
        if len(pair) != 2:
            continue
        a, b = (w.lower() for w in pair)
        if a in STOPWORDS or b in STOPWORDS:
            continue
        if source.words.count(f" {a} {b} ") >= 2:
            return True
    return False


_ADJECTIVE_LIKE = ("al", "ic", "ous", "ive", "ful", "less", "ish", "ern", "ed", "ing", "an", "ese",
                   "ary", "ar", "ent", "ant", "est", "er", "ly")


def is_noun_modifier(word: str) -> bool:
    """A noun standing before another as a modifier: "honey" (bee), "screw" (press), "Dutch"
    (oven); not an article, number, adjective or participle ("identical", "printed")."""
    lower = word.lower()
    if lower in STOPWORDS or lower in _ADJECTIVES or lower in _COMMON_VERBS or not word.isalpha():
        return False
    if word[:1].isupper():
        return True  # "Dutch oven", "Calvin cycle": a name modifying a noun
    return len(lower) > 2 and not lower.endswith(_ADJECTIVE_LIKE)


def _person_asked_with_what(text: str, answer: str, source: LintSource) -> bool:
    words = text.split()
    if words[0].lower() != "what" or not _be_subject(words):
        return False
    subject = [w.strip("?,") for w in _be_subject(words)]
    significant = [w for w in subject if w.lower() not in _NAME_LINKS]
    if not significant or not all(w[:1].isupper() for w in significant):
        return False
    if any(w.lower() in source.vocabulary.lowercase for w in significant):
        return False  # a common word capitalised at a sentence start, not a name
    return describes_a_person(answer)


def describes_a_person(answer: str) -> bool:
    """ "a goldsmith from Mainz", "the Austrian biologist": the head noun names a person.

    The head is the last word before a preposition, comma or the end ("a general rise"
    is a rise: "general" is not its head).
    """
    words = [w.lower().strip(",;.") for w in answer.split()[:6]]
    for i, word in enumerate(words):
        if word in _PERSON_NOUNS:
            following = words[i + 1] if i + 1 < len(words) else ""
            if not following or following in STOPWORDS or answer.split()[i].endswith(","):
                return True
    return False


def _several_facts(answer: str) -> bool:
    words = answer.split()
    if ";" in answer or len(words) > 25:
        return True
    if answer.count(",") >= 2:
        return True  # a list of three or more
    return " and " in answer and len(words) > 14


def _gives_away(text: str, answer: str, *, cloze: bool) -> bool:
    needle = normalize(answer)
    haystack = normalize(text.replace(BLANK, " ") if cloze else text)
    # At a word's start: "Napoleon" is given away by "the Napoleonic Code"; a short answer
    # only as a whole word ("C" is not given away by "carbon").
    tail = "" if len(needle) > 2 else r"(?!\w)"
    if needle and re.search(rf"(?<!\w){re.escape(needle)}{tail}", haystack):
        return True
    content = [w for w in words_of(answer) if w.lower() not in STOPWORDS]
    asked = {w.lower().removesuffix("s") for w in words_of(haystack)}
    if not content or len(content) > 3:
        return False
    # "Who developed the Gutenberg press?" gives away "Johannes Gutenberg": a name's last part.
    if content[-1][:1].isupper() and content[-1].lower().removesuffix("s") in asked:
        return True
    return all(w.lower().removesuffix("s") in asked for w in content)


def _needs_context(text: str, source: LintSource) -> bool:
    """A card that leans on the sentence before it: "He was assassinated in ____"."""
    # The blank may hide the antecedent itself ("The ____ ... and she"): count it as one.
    tokens = words_of(text.replace(BLANK, "Someone"))
    words = [w.lower() for w in tokens]
    if not words:
        return True
    if words[0] in _CONTEXT_OPENERS or words[:2] in (["the", "latter"], ["the", "former"]):
        return True
    # "The third pumps it ...", "The largest were ...": an ordinal or superlative standing
    # for a noun of the sentence before.
    if len(words) > 2 and words[0] == "the" and (
        words[1] in _STAND_INS or _is_superlative(words[1])
    ):
        verb = words[2] in _BE or (
            words[2].endswith("s") and len(words) > 3
            and (words[3] in _PRONOUNS or words[3] in _DETERMINERS)
        )
        if verb:
            return True
    for i, word in enumerate(words):
        # "sound above this range": a demonstrative pointing back at what came before.
        if word in _DEMONSTRATIVES and i + 1 < len(words) and words[i + 1] in _BACK_NOUNS:
            return True
        if word in _PERSONAL_PRONOUNS:
            # "his" needs a person named before it: a name, or a noun such as "biologist".
            if not any(_names_someone(t, j, source) for j, t in enumerate(tokens[:i])):
                return True
        elif word in _PRONOUNS and not any(
            w not in STOPWORDS and w not in _PRONOUNS for w in words[:i]
        ):
            return True  # "it", "this" with nothing before it to point to
    return False


_PERSONAL_PRONOUNS = word_set("he she him his her hers")
_STAND_INS = word_set("first second third fourth fifth last other others rest remainder")
_DEMONSTRATIVES = word_set("this these that those such")
_BACK_NOUNS = word_set(
    "range process stage stages step steps method methods period time way idea change "
    "changes effect effects event events point case type kind sort one ones group list"
)


def _names_someone(token: str, index: int, source: LintSource) -> bool:
    lower = token.lower()
    if lower in _PERSON_NOUNS or lower.endswith(("ists", "ians", "ers")):
        return True  # a person noun, or people ("workers", "scientists")
    if not token[:1].isupper() or lower in STOPWORDS:
        return False
    return index > 0 or lower not in source.vocabulary.lowercase
