"""The card linter's named checks, each on the broken card from issue 12 that it names."""

from __future__ import annotations

import pytest

from handlers.providers.card_lint import (
    AnswerKind,
    Check,
    LintSource,
    answer_kind,
    lint_card,
    lint_deck,
)

PRESS = (
    "Johannes Gutenberg, a goldsmith from Mainz, developed a printing system. A compositor "
    "arranged the letters. About 180 copies were printed. The printing press lowered the cost "
    "of books, and the printing press spread across Europe. Printed pamphlets carried his "
    "ideas; his ideas spread across Germany after 1517. The letters were made of lead, tin, "
    "antimony and copper, and they were cast in a hand mould."
)
SOURCE = LintSource.of(PRESS)


def flags(question: str, answer: str) -> list[Check]:
    return lint_card(question, answer, SOURCE)


def test_a_sentence_read_as_a_definition_is_not_a_question() -> None:
    assert Check.NOT_A_QUESTION in flags("What were About 180 copies?", "printed")


def test_a_countable_noun_without_its_article_is_not_a_question() -> None:
    assert Check.NOT_A_QUESTION in flags("What is compositor?", "arranged the letters")
    assert Check.NOT_A_QUESTION not in flags("What is a compositor?", "arranged the letters")


def test_a_person_asked_with_what_is_flagged() -> None:
    assert Check.PERSON_AS_WHAT in flags("What is Johannes Gutenberg?", "a goldsmith from Mainz")
    assert Check.PERSON_AS_WHAT not in flags("Who was Johannes Gutenberg?", "a goldsmith")


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Fill in the blank: his ideas ____ across Germany after 1517.", "spread"),
        ("Fill in the blank: The printing ____ lowered the cost of books, and the printing press "
         "spread across Europe.", "press"),
    ],
)
def test_a_blank_on_a_verb_or_half_a_term_is_weak(question: str, answer: str) -> None:
    assert Check.WEAK_BLANK in flags(question, answer)


def test_a_blank_on_the_key_term_is_not_weak() -> None:
    card = ("Fill in the blank: The letters were made of lead, tin, antimony and copper, and they "
            "were cast in a ____.", "hand mould")
    assert flags(*card) == []


def test_an_answer_not_in_the_source_is_flagged() -> None:
    card = ("Who developed a printing system?", "Gutenberg's son")
    assert Check.ANSWER_NOT_IN_SOURCE in flags(*card)


def test_an_answer_with_several_facts_is_flagged() -> None:
    card = ("What were the letters made of?", "lead, tin, antimony and copper")
    assert Check.SEVERAL_FACTS in flags(*card)


def test_a_question_that_gives_its_answer_away_is_flagged() -> None:
    card = ("Who developed the Gutenberg press?", "Johannes Gutenberg")
    assert Check.GIVES_ANSWER_AWAY in flags(*card)


def test_a_cloze_that_needs_the_sentence_before_is_flagged() -> None:
    assert Check.NEEDS_CONTEXT in flags(
        "Fill in the blank: Printed pamphlets carried his ideas; his ideas spread across ____ "
        "after 1517.", "Germany"
    )


def test_a_near_duplicate_of_an_earlier_card_is_flagged() -> None:
    deck = [("What is a compositor?", "a worker"), ("What is compositor?", "a worker"),
            ("Who developed a printing system?", "Johannes Gutenberg")]
    assert [Check.NEAR_DUPLICATE in f for f in lint_deck(deck, SOURCE)] == [False, True, False]


def test_answer_kinds() -> None:
    assert answer_kind("1517") is AnswerKind.DATE
    assert answer_kind("49 BC") is AnswerKind.DATE
    assert answer_kind("about 180 copies") is AnswerKind.NUMBER
    assert answer_kind("Johannes Gutenberg", question="Who developed it?") is AnswerKind.PERSON
    assert answer_kind("hand mould") is AnswerKind.TERM
    assert answer_kind("a device that cast letters quickly") is AnswerKind.DESCRIPTION


def test_one_column_asked_of_two_rows_is_not_a_near_duplicate() -> None:
    deck = [("What is the symbol of hydrogen?", "H"), ("What is the symbol of oxygen?", "O"),
            ("What is the symbol of hydrogen?", "H.")]
    assert [Check.NEAR_DUPLICATE in f for f in lint_deck(deck, SOURCE)] == [False, False, True]


def test_a_short_answer_is_given_away_only_as_a_whole_word() -> None:
    source = LintSource.of("Carbon has the symbol C. Cobalt has the symbol Co.")
    assert Check.GIVES_ANSWER_AWAY not in lint_card("What is the symbol of carbon?", "C", source)
    assert Check.GIVES_ANSWER_AWAY in lint_card("Which element has symbol C, carbon?", "C", source)


# ---------------------------------------------------------------- eye-read flaws (issue 12)

XENON = LintSource.of(
    "# Noble gases\n\nThe noble gases were once called inert gases. Instead, chemists now know "
    "that xenon can form compounds with fluorine. Early chemists copied their tables by hand. "
    "Eventually, the table was ordered by atomic number. However, helium forms no compounds. "
    "A **sample** is weighed first. The sample is then burned."
)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Fill in the blank: ____, chemists now know that xenon can form compounds with "
         "fluorine.", "Instead"),
        ("Fill in the blank: ____, helium forms no compounds.", "However"),
        ("Fill in the blank: ____, the table was ordered by atomic number.", "Eventually"),
    ],
)
def test_a_blank_on_a_sentence_adverb_or_connective_is_flagged(question: str, answer: str) -> None:
    assert Check.CONNECTIVE_BLANK in lint_card(question, answer, XENON)


def test_a_blank_on_a_key_term_or_a_name_is_not_a_connective() -> None:
    card = ("Fill in the blank: Instead, chemists now know that ____ can form compounds with "
            "fluorine.", "xenon")
    assert Check.CONNECTIVE_BLANK not in lint_card(*card, XENON)
    # A name that happens to end in "ly" is not an adverb, and it is not at a sentence start.
    assert Check.CONNECTIVE_BLANK not in lint_card(
        "Fill in the blank: The table came from ____, a country.", "Italy", XENON
    )


def test_a_blank_on_an_everyday_noun_is_flagged_unless_the_text_makes_it_a_term() -> None:
    hand = ("Fill in the blank: Early chemists copied their tables by ____.", "hand")
    assert Check.GENERIC_BLANK in lint_card(*hand, XENON)
    # Bolded and repeated ("**sample**", "The sample"): the material's own term.
    sample = ("Fill in the blank: A ____ is weighed first.", "sample")
    assert Check.GENERIC_BLANK not in lint_card(*sample, XENON)
    # Repeated ("tables", "the table"), or named in a heading: what the text is about.
    tables = ("Fill in the blank: Early chemists copied their ____ by hand.", "tables")
    assert Check.GENERIC_BLANK not in lint_card(*tables, XENON)
    headed = LintSource.of("# Work by hand\n\nEarly chemists copied their tables by hand.")
    assert Check.GENERIC_BLANK not in lint_card(*hand, headed)


@pytest.mark.parametrize(
    "answer", ["", " ", "____", "hand hand", "Instead,", "," * 50, "ly" * 500, "a" * 10_000]
)
def test_the_new_checks_take_any_answer(answer: str) -> None:
    question = "Fill in the blank: ____, chemists now know that xenon can form compounds."
    flags = lint_card(question, answer, XENON)
    assert isinstance(flags, list)


def test_an_everyday_noun_opening_the_sentence_is_generic_despite_its_capital() -> None:
    source = LintSource.of("Humans have 46 chromosomes, arranged in 23 pairs.")
    card = ("Fill in the blank: ____ have 46 chromosomes, arranged in 23 pairs.", "Humans")
    assert Check.GENERIC_BLANK in lint_card(*card, source)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Fill in the blank: The ____ were the Steelyard in London and the Peterhof.", "largest"),
        ("Fill in the blank: About two ____ of its neurons are found in its arms.", "thirds"),
        ("Fill in the blank: Most ____ for only one to two years.", "octopuses live"),
    ],
)
def test_a_blank_on_a_superlative_a_fraction_or_a_swallowed_verb_is_weak(
    question: str, answer: str
) -> None:
    source = LintSource.of(question.removeprefix("Fill in the blank: ").replace("____", answer))
    assert Check.WEAK_BLANK in lint_card(question, answer, source)


def test_a_noun_ending_in_est_is_not_a_superlative() -> None:
    source = LintSource.of("The forest covers the hills of the north and the west.")
    card = ("Fill in the blank: The ____ covers the hills of the north and the west.", "forest")
    assert Check.WEAK_BLANK not in lint_card(*card, source)


@pytest.mark.parametrize(
    "question",
    [
        "Fill in the blank: The third pumps it through the rest of the ____.",
        "Fill in the blank: The largest were the Steelyard in ____ and the Peterhof.",
        "What is sound above this range called?",
    ],
)
def test_a_card_pointing_back_at_the_sentence_before_needs_context(question: str) -> None:
    assert Check.NEEDS_CONTEXT in lint_card(question, "body", SOURCE)


def test_an_ordinal_before_its_noun_stands_alone() -> None:
    card = ("Fill in the blank: The first printing press in England was set up by ____.",
            "William Caxton")
    assert Check.NEEDS_CONTEXT not in lint_card(*card, SOURCE)


def test_a_question_whose_whole_answer_is_an_everyday_noun_is_generic() -> None:
    card = ("What were the tables copied by?", "hand")
    assert Check.GENERIC_BLANK in lint_card(*card, XENON)


def test_two_blanks_of_one_sentence_are_near_duplicates() -> None:
    deck = [("Fill in the blank: Books in medieval ____ were copied by monks.", "Europe"),
            ("Fill in the blank: ____ were copied by monks.", "Books in medieval Europe")]
    assert [Check.NEAR_DUPLICATE in f for f in lint_deck(deck, SOURCE)] == [False, True]
