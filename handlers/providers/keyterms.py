"""Key terms of a text by TF-IDF, with sentences as the documents.

Candidate terms are runs of content words (stopwords and punctuation break a run), as
unigrams, bigrams and trigrams. A multi-word term must recur in the material: a phrase
seen once is usually a chance juxtaposition ("cell produces energy"), one seen twice is
usually a real term ("oceanic crust", "Calvin cycle").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from handlers.providers.extract import CONNECTIVES, GENERIC_NOUNS, STOPWORDS, WORD, word_set

_MAX_GRAM = 3
_HEADING_BOOST = 1.5
# Content words too vague to be the thing a card asks for.
_VAGUE = word_set(
    """
    process processes type types form forms part parts number numbers kind kinds thing things
    way ways result results fact facts time times called many much large small important
    main major different various certain other same whole idea ideas term terms amount
    level levels set sets group groups case cases area areas role roles point points
    january february march april june july august september october november december
    """
)


# Verbs that follow a subject: the run of content words before one is a noun phrase.
_NOUN_PHRASE_CLOSERS = word_set(
    "is are was were has have had can could may might will would should must does did"
)
# Words that open a noun phrase: the run of content words after one ends in a noun.
_NOUN_PHRASE_OPENERS = word_set(
    """
    the a an of in its their his her by from with into for on at between each every this
    these those such all some many most two three four several both any no our within
    without through across among around toward towards onto upon via during about
    """
)


_DETERMINERS = word_set("the a an its their his her this these those each every")


@dataclass(frozen=True)
class Term:
    key: str  # lower-case words joined by single spaces
    surface: str  # the most common written form
    score: float
    words: int
    nounish: bool  # seen heading a noun phrase: a thing a question can ask for


class KeyTerms:
    """Terms of one material ranked by TF-IDF; ``in_text`` finds them in a sentence."""

    def __init__(self, sentences: Sequence[str], headings: Iterable[str] = ()) -> None:
        tf: Counter[str] = Counter()
        df: Counter[str] = Counter()
        surfaces: defaultdict[str, Counter[str]] = defaultdict(Counter)
        as_phrase: Counter[str] = Counter()
        for sentence in sentences:
            seen: set[str] = set()
            for key, surface, heads_phrase in _grams(sentence):
                tf[key] += 1
                surfaces[key][surface] += 1
                seen.add(key)
                if heads_phrase:
                    as_phrase[key] += 1
            df.update(seen)
        heading_words = {w.lower() for h in headings for w in WORD.findall(h)}
        # A capital only at a sentence start marks the position: "Lyon and Marseille are
        # ..." opens with a name, "Humans can hear ..." with an everyday noun.
        mid_capital = {
            w.lower() for sentence in sentences for w in WORD.findall(sentence)[1:]
            if w[:1].isupper()
        }
        n_docs = max(len(sentences), 1)
        enclosing = _enclosing_counts(tf)
        self._terms: dict[str, Term] = {}
        for key, count in tf.items():
            words = key.split()
            if len(words) > 1 and count < 2:
                continue
            # "reticulum" never occurs outside "endoplasmic reticulum": only the whole term is one.
            if enclosing.get(key, 0) >= count:
                continue
            # Sublinear tf: the material's subject ("cell" in a text on cells) recurs everywhere
            # and would otherwise crowd out the terms that distinguish its sentences.
            idf = math.log(1 + n_docs / df[key])
            score = (1 + math.log(count)) * idf * (1 + 0.5 * (len(words) - 1))
            if all(w in heading_words for w in words):
                score *= _HEADING_BOOST
            surface = _preferred_surface(surfaces[key])
            # A noun heads a phrase in most of its uses; "states" ("the law states") rarely.
            is_name = surface[:1].isupper() and len(words) == 1 and (
                key in mid_capital or key not in GENERIC_NOUNS
            )
            nounish = is_name or (as_phrase[key] > 0 and 2 * as_phrase[key] >= count)
            self._terms[key] = Term(key, surface, score, len(words), nounish)
        self.ranked: list[Term] = sorted(self._terms.values(), key=lambda t: (-t.score, t.key))
        self._rank = {t.key: i for i, t in enumerate(self.ranked)}

    def get(self, key: str) -> Term | None:
        return self._terms.get(key)

    def rank(self, key: str) -> int:
        return self._rank.get(key, len(self._rank))

    def in_text(self, text: str) -> list[Term]:
        """Terms occurring in ``text``, best first."""
        keys = {key for key, _ in candidate_terms(text)}
        found = [self._terms[k] for k in keys if k in self._terms]
        return sorted(found, key=lambda t: (-t.score, t.key))


def _enclosing_counts(tf: Counter[str]) -> dict[str, int]:
    """For each gram, the highest count of a recurring longer gram that contains it."""
    enclosing: dict[str, int] = {}
    for key, count in tf.items():
        words = key.split()
        if len(words) < 2 or count < 2:
            continue
        for n in range(1, len(words)):
            for i in range(len(words) - n + 1):
                inner = " ".join(words[i : i + n])
                enclosing[inner] = max(enclosing.get(inner, 0), count)
    return enclosing


def candidate_terms(sentence: str) -> Iterator[tuple[str, str]]:
    """(key, surface) for every n-gram of content words in the sentence."""
    for key, surface, _ in _grams(sentence):
        yield key, surface


def _grams(sentence: str) -> Iterator[tuple[str, str, bool]]:
    """(key, surface, heads a noun phrase here) for every n-gram of content words."""
    for run, is_phrase in _content_runs(sentence):
        for n in range(1, min(_MAX_GRAM, len(run)) + 1):
            for i in range(len(run) - n + 1):
                gram = run[i : i + n]
                key = " ".join(w.lower() for w in gram)
                if n == 1 and not _good_single_word(key):
                    continue
                if gram[0].lower() in _VAGUE or gram[-1].lower() in _VAGUE:
                    continue
                yield key, " ".join(gram), is_phrase and i + n == len(run)


def _content_runs(sentence: str) -> Iterator[tuple[list[str], bool]]:
    """Runs of content words, each with whether it reads as a noun phrase.

    English noun phrases end in their noun: a short run after "the", "of", "into" ...
    or before "is", "are", "can" ... ends in one. A long run usually swallowed a verb
    ("rocket expels exhaust gas backwards").
    """
    tokens = [(m.group(), m.start(), m.end()) for m in WORD.finditer(sentence)]
    run: list[str] = []
    run_opened = False
    for index, (word, start, _) in enumerate(tokens):
        previous = tokens[index - 1] if index else None
        joined = previous is not None and sentence[previous[2] : start] == " "
        if run and not joined:
            yield run, run_opened and len(run) <= _MAX_GRAM
            run = []
        lower = word.lower()
        # "Instead, chemists ...": a connective is no term, however it is capitalised.
        breaks = lower in STOPWORDS or lower in CONNECTIVES
        if breaks or lower.endswith(("'s", "\u2019s")) or len(word) < 2:
            if run and joined and lower in _DETERMINERS and len(run) > 1:
                # "a vaccine trains the ...": a run right before a determiner ends in a verb.
                yield run[:-1], run_opened and len(run) - 1 <= _MAX_GRAM
                yield run[-1:], False
            elif run:
                closes = joined and lower in _NOUN_PHRASE_CLOSERS
                yield run, (run_opened or closes) and len(run) <= _MAX_GRAM
            run = []
            continue
        if not run:
            prev_word = previous[0].lower() if previous is not None and joined else ""
            run_opened = prev_word in _NOUN_PHRASE_OPENERS or prev_word.endswith(("'s", "\u2019s"))
        run.append(word)
    if run:
        yield run, run_opened and len(run) <= _MAX_GRAM


def _good_single_word(word: str) -> bool:
    if len(word) < 3 or word in _VAGUE or word.endswith("ly"):
        return False
    # Past participles ("produced", "based") are verbs, not terms; "speed", "seed" stay.
    return not (len(word) >= 5 and word.endswith("ed") and not word.endswith("eed"))


def _preferred_surface(forms: Counter[str]) -> str:
    """Most frequent written form; lower case wins ties (sentence starts capitalise)."""
    return min(forms, key=lambda f: (-forms[f], not f[:1].islower(), f))
