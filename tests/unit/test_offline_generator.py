"""Quality of the offline provider over a corpus of real study texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.context import Usage
from handlers.models import CardDraft
from handlers.providers.extract import Document, split_sentences
from handlers.providers.general_outline import GENERAL_OUTLINE_LABEL
from handlers.providers.offline import BLANK, CLOZE_PREFIX, OfflineGenerator, extract_cards
from handlers.providers.outline import skill_title
from handlers.skill_trees import validate_tree
from handlers.sources import keep_supported

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.md"))
MAX_CARDS = 50


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def _usage() -> Usage:
    return Usage(provider="offline", model="cardforge-extractive-1")


async def _cards(text: str, max_cards: int = MAX_CARDS) -> list[CardDraft]:
    return await OfflineGenerator().flashcards(text, max_cards=max_cards, usage=_usage())


def _markdown_headings(text: str) -> list[tuple[int, str]]:
    found = re.findall(r"^(#{1,6})\s+(.+?)\s*$", text, flags=re.MULTILINE)
    return [(len(hashes), title) for hashes, title in found]


@pytest.fixture(params=CORPUS, ids=[p.stem for p in CORPUS])
def material(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    return path.read_text(encoding="utf-8")


def test_corpus_has_at_least_five_topics() -> None:
    assert len(CORPUS) >= 5


async def test_every_answer_is_quoted_from_the_material(material: str) -> None:
    cards = await _cards(material)
    assert len(cards) >= 10
    source = _normalized(material)
    for card in cards:
        assert _normalized(card.answer) in source, card


async def test_no_question_is_asked_twice(material: str) -> None:
    questions = [_normalized(c.question) for c in await _cards(material)]
    assert len(questions) == len(set(questions))


async def test_questions_end_with_a_question_mark_or_are_a_single_blank_cloze(
    material: str,
) -> None:
    # A cloze quotes the material as written or as a reader sees it (inline markup such
    # as `code` removed), the two forms the card linter accepts.
    visible = _normalized(" ".join(b.text for b in Document.parse(material).blocks))
    for card in await _cards(material):
        if card.question.startswith(CLOZE_PREFIX):
            assert card.question.count(BLANK) == 1, card
            assert "_____" not in card.question, card
            filled = _normalized(
                card.question.replace(BLANK, card.answer).removeprefix(CLOZE_PREFIX)
            )
            assert filled in _normalized(" ".join(material.split())) or filled in visible, card
        else:
            assert card.question.endswith("?"), card
        assert "according to the text" not in card.question.lower()


async def test_question_does_not_give_its_answer_away(material: str) -> None:
    for card in await _cards(material):
        assert _normalized(card.answer) not in _normalized(card.question), card


async def test_definition_cards_come_before_clozes(material: str) -> None:
    kinds = [c.question.startswith(CLOZE_PREFIX) for c in await _cards(material)]
    assert kinds == sorted(kinds)
    assert not kinds[0], "expected at least one definition card"


async def test_max_cards_is_honoured_and_keeps_definitions_first(material: str) -> None:
    five = await _cards(material, max_cards=5)
    assert len(five) == 5
    assert not any(c.question.startswith(CLOZE_PREFIX) for c in five)
    assert await _cards(material, max_cards=0) == []


async def test_same_material_gives_the_same_cards_distractors_and_tree(material: str) -> None:
    async def run() -> tuple[object, ...]:
        generator = OfflineGenerator()
        cards = await _cards(material)
        choices = [
            await generator.distractors(
                question=c.question,
                answer=c.answer,
                count=3,
                material=material,
                other_answers=["an unrelated answer"],
                usage=_usage(),
            )
            for c in cards
        ]
        tree = await generator.skill_tree(
            goal="Learn this", description=None, material=material, max_depth=4, usage=_usage()
        )
        return cards, choices, tree

    assert await run() == await run()


async def test_distractors_differ_from_the_answer_and_each_other(material: str) -> None:
    generator = OfflineGenerator()
    cards = await _cards(material)
    with_three = 0
    for card in cards:
        choices = await generator.distractors(
            question=card.question,
            answer=card.answer,
            count=3,
            material=material,
            other_answers=[],
            usage=_usage(),
        )
        keys = [_normalized(c) for c in choices]
        assert len(keys) == len(set(keys)), (card, choices)
        assert all(k and k not in _normalized(card.answer) for k in keys), (card, choices)
        assert all(_normalized(card.answer) not in k for k in keys), (card, choices)
        with_three += len(choices) == 3
    assert with_three >= 0.9 * len(cards)


async def test_year_answers_get_year_distractors() -> None:
    choices = await OfflineGenerator().distractors(
        question="In what year was the Bastille stormed?",
        answer="1789",
        count=3,
        material="The Bastille was stormed in 1789. The monarchy fell in 1792.",
        other_answers=["Paris"],
        usage=_usage(),
    )
    assert choices[0] == "1792"
    assert all(re.fullmatch(r"1[78]\d\d", c) for c in choices)
    assert "1789" not in choices


async def test_distractors_come_from_other_answers_without_material() -> None:
    choices = await OfflineGenerator().distractors(
        question="What is osmosis?",
        answer="the diffusion of water across a membrane",
        count=2,
        material=None,
        other_answers=[
            "Osmosis",
            "the movement of ions against a gradient",
            "ATP",
            "THE DIFFUSION",
        ],
        usage=_usage(),
    )
    assert choices[0] == "the movement of ions against a gradient"
    assert "THE DIFFUSION" not in choices  # a piece of the answer gives it away


async def test_skill_tree_follows_the_markdown_outline(material: str) -> None:
    nodes = await OfflineGenerator().skill_tree(
        goal="Master the topic", description=None, material=material, max_depth=5, usage=_usage()
    )
    root, *rest = nodes
    assert (root.title, root.parent) == ("Master the topic", None)
    headings = _markdown_headings(material)
    # The document's single top heading is its title: the goal takes its place.
    assert headings[0][0] == 1 and all(level > 1 for level, _ in headings[1:])
    # Titles are skills made from the headings, in the headings' order (issue 12).
    doc = Document.parse(material)
    titles = [n.title for n in rest]
    numbered = {
        skill_title(t, doc)
        for t in re.findall(r"^\d+\.\s+(\S.*?)\s*$", material, flags=re.MULTILINE)
    }
    expected = [skill_title(t, doc) for _, t in headings[1:]]
    assert [t for t in titles if t not in numbered] == expected
    keys = {n.key for n in nodes}
    assert all(n.parent in keys for n in rest)


async def test_skill_tree_nests_subheadings_and_respects_max_depth() -> None:
    material = (Path(__file__).parent / "corpus" / "cell_biology.md").read_text()
    generator = OfflineGenerator()
    deep = await generator.skill_tree(
        goal="Cells", description=None, material=material, max_depth=3, usage=_usage()
    )
    by_key = {n.key: n for n in deep}
    nucleus = next(n for n in deep if n.title == "Describe the nucleus")
    assert nucleus.parent is not None and by_key[nucleus.parent].title == "Describe organelles"

    shallow = await generator.skill_tree(
        goal="Cells", description=None, material=material, max_depth=2, usage=_usage()
    )
    assert all(n.parent in (None, "root") for n in shallow)
    organelles = next(n for n in shallow if n.title == "Describe organelles")
    assert "Describe the nucleus" in organelles.description  # folded, not lost


async def test_numbered_sections_nest_under_their_markdown_heading() -> None:
    material = (Path(__file__).parent / "corpus" / "tcp_ip.md").read_text()
    nodes = await OfflineGenerator().skill_tree(
        goal="Networking", description=None, material=material, max_depth=3, usage=_usage()
    )
    by_key = {n.key: n for n in nodes}
    layers = [n for n in nodes if n.parent and by_key[n.parent].title == "Describe the four layers"]
    assert [n.title for n in layers] == [
        "Describe link layer",
        "Describe internet layer",
        "Describe transport layer",
        "Describe application layer",
    ]


async def test_skill_tree_without_headings_uses_paragraph_topics() -> None:
    material = (Path(__file__).parent / "corpus" / "photosynthesis.md").read_text()
    plain = "\n".join(line for line in material.splitlines() if not line.startswith("#"))
    nodes = await OfflineGenerator().skill_tree(
        goal="Photosynthesis", description=None, material=plain, max_depth=3, usage=_usage()
    )
    topics = [n for n in nodes if n.parent == "root"]
    assert len(topics) >= 3
    assert all(n.description for n in topics)
    assert len({n.title.lower() for n in nodes}) == len(nodes)


@pytest.mark.parametrize("material", [None, "", "   \n\n  "])
async def test_skill_tree_from_a_goal_alone_is_a_general_outline_labelled_as_such(
    material: str | None,
) -> None:
    nodes = await OfflineGenerator().skill_tree(
        goal="Learn Rust", description="systems", material=material, max_depth=3,
        usage=_usage(),
    )
    tree = validate_tree(nodes, goal="Learn Rust", max_depth=3)
    root = tree.nodes[0]
    assert root.parent is None and root.title == "Learn Rust"
    assert root.description == GENERAL_OUTLINE_LABEL
    assert tree.depth == 3 and len(tree.nodes) == 16
    assert all(n.description for n in tree.nodes)
    assert len({n.title for n in tree.nodes}) == len(tree.nodes)


@pytest.mark.parametrize(("max_depth", "count"), [(1, 1), (2, 6), (3, 16), (5, 16)])
async def test_a_general_outline_keeps_to_the_depth_asked_for(max_depth: int, count: int) -> None:
    nodes = await OfflineGenerator().skill_tree(
        goal="Chess", description=None, material=None, max_depth=max_depth, usage=_usage()
    )
    tree = validate_tree(nodes, goal="Chess", max_depth=max_depth)
    assert len(tree.nodes) == count and tree.depth == min(max_depth, 3)


async def test_offline_spends_no_tokens(material: str) -> None:
    usage = _usage()
    await OfflineGenerator().flashcards(material, max_cards=10, usage=usage)
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


def test_sentences_do_not_split_at_abbreviations_initials_or_decimals() -> None:
    text = (
        "Enzymes, e.g. amylase, speed up reactions. Dr. Rosalind Franklin imaged DNA. "
        "J. J. Thomson found the electron in 1897. Gravity is about 9.81 m/s² here. "
        "Is it? Yes."
    )
    assert split_sentences(text) == [
        "Enzymes, e.g. amylase, speed up reactions.",
        "Dr. Rosalind Franklin imaged DNA.",
        "J. J. Thomson found the electron in 1897.",
        "Gravity is about 9.81 m/s² here.",
        "Is it?",
        "Yes.",
    ]


async def test_definition_patterns_become_questions() -> None:
    text = (
        "Osmosis is the diffusion of water across a membrane. "
        "The process by which plants make sugar is called photosynthesis. "
        "Penicillin was discovered by Alexander Fleming in 1928. "
        "Inertia refers to the tendency of a body to resist changes in motion. "
        "The Bastille was stormed on 14 July 1789."
    )
    cards = {c.question.casefold(): c.answer for c in await _cards(text)}
    assert cards["what is osmosis?"] == "the diffusion of water across a membrane"
    assert cards["what is the process by which plants make sugar called?"] == "photosynthesis"
    assert cards["who discovered penicillin?"] == "Alexander Fleming"
    assert cards["what does inertia refer to?"] == (
        "the tendency of a body to resist changes in motion"
    )
    assert cards["in what year was the bastille stormed?"] == "1789"


async def test_sentence_start_capitals_are_dropped_for_common_words_only() -> None:
    text = (
        "The nucleus is the organelle that holds the cell's DNA. Every nucleus has pores. "
        "Pangaea was a supercontinent that broke apart about 200 million years ago."
    )
    questions = {c.question for c in await _cards(text)}
    assert {"What is the nucleus?", "What was Pangaea?"} <= questions


async def test_material_with_nothing_to_extract_gives_no_cards() -> None:
    assert await _cards("hello\n\nok thanks") == []


@pytest.mark.parametrize(
    ("heading", "skill"),
    [
        ("Evaporation", "Explain how evaporation works"),
        ("Key Terms", "Define the key terms"),
        ("How to Bake a Loaf", "Bake a loaf"),
        ("How Volcanoes Form", "Explain how volcanoes form"),
        ("The Nucleus", "Describe the nucleus"),
        ("Causes", "Explain the causes"),
    ],
)
def test_skill_tree_titles_are_skills_not_headings(heading: str, skill: str) -> None:
    assert skill_title(heading, Document.parse("Water evaporates. The nucleus is small.")) == skill


async def test_skill_tree_root_does_not_repeat_the_goal() -> None:
    material = "# Photosynthesis\n\n## Light\n\nLight is absorbed by chlorophyll in leaves.\n"
    nodes = await OfflineGenerator().skill_tree(
        goal="Photosynthesis", description=None, material=material, max_depth=3, usage=_usage()
    )
    assert [n.title for n in nodes].count("Photosynthesis") == 1


async def test_skill_tree_cards_are_linked_to_the_node_of_their_section() -> None:
    material = (Path(__file__).parent / "corpus" / "cell_biology.md").read_text()
    generator = OfflineGenerator()
    nodes = await generator.skill_tree(
        goal="Cells", description=None, material=material, max_depth=3, usage=_usage()
    )
    linked = await generator.cards_for_tree(
        goal="Cells", description=None, material=material, max_depth=3, max_cards=30
    )
    titles = {n.key: n.title for n in nodes}
    assert set(linked) <= set(titles) and len(linked) >= 3
    nucleus = next(k for k, t in titles.items() if t == "Describe the nucleus")
    assert any("nucle" in (c.source or "").lower() for c in linked[nucleus])


# ---------------------------------------------------------------- structure (issue 12)

RIVERS = (
    "# Rivers\n\nA river carries fresh water from its source to a sea or a lake.\n\n"
    "| River | Length (km) | Outflow |\n|:------|------:|:---|\n"
    "| **Nile** | 6,650 | Mediterranean Sea |\n| Amazon | 6,400 | Atlantic Ocean |\n"
    "| Yangtze | 6,300 | East China Sea |\n"
)


async def test_a_table_row_is_asked_by_its_label_and_its_columns() -> None:
    cards = {c.question: c.answer for c in await _cards(RIVERS)}
    # A value only one row has names the row; other columns are asked of the row.
    assert cards["Which river has a length of 6,650 km?"] == "Nile"
    assert cards["What is the outflow of Amazon?"] == "Atlantic Ocean"
    # One card per cell: the two directions of a cell give each other away.
    assert "What is the length (km) of Nile?" not in cards


async def test_table_rows_without_outer_pipes_and_counted_columns() -> None:
    text = (
        "# Moons\n\nPlanet | Moons | Day length\n--- | --- | ---\n"
        "Jupiter | 95 moons | 10 hours\nUranus | 28 moons | 17 hours\n"
    )
    cards = {c.question: c.answer for c in await _cards(text)}
    assert cards["Which planet has 95 moons?"] == "Jupiter"
    assert cards["What is the day length of Uranus?"] == "17 hours"


def test_a_table_without_a_header_row_gives_no_rows_and_comments_are_skipped() -> None:
    blocks = Document.parse("| a | b |\n| c | d |\n\n<!-- a note\nfor editors -->\nText.").blocks
    assert [(b.kind.value, b.text) for b in blocks] == [("paragraph", "Text.")]


async def test_list_item_definitions_become_questions() -> None:
    text = (
        "# Genetics\n\n- Gene: a stretch of DNA that carries the instructions for a protein.\n"
        "- genotype: the set of alleles an organism carries.\n"
        "- Allele \u2014 one of the alternative forms of a gene.\n"
    )
    cards = {c.question: c.answer for c in await _cards(text)}
    assert cards["What is a gene?"] == (
        "a stretch of DNA that carries the instructions for a protein"
    )
    assert cards["What is genotype?"] == "the set of alleles an organism carries"
    assert cards["What is meant by allele?"] == "one of the alternative forms of a gene"


async def test_a_sentence_adverb_is_never_the_blank() -> None:
    text = (
        "The noble gases were once called inert gases. Instead, chemists now know that xenon "
        "can form compounds with fluorine. Today, satellites measure the temperature of the "
        "sea surface every single day."
    )
    cards = await _cards(text)
    assert {c.answer for c in cards}.isdisjoint({"Instead", "Today"})
    assert ("What were the noble gases once called?", "inert gases") in {
        (c.question, c.answer) for c in cards
    }


async def test_a_participle_predicate_is_not_a_definition() -> None:
    cards = await _cards("Surface currents are driven mainly by the wind blowing across the sea.")
    assert all(c.question != "What are surface currents?" for c in cards)


def test_a_padded_table_rows_cards_quote_the_row_as_written() -> None:
    text = (
        "# Rivers\n\n| River    | Length   | Mouth              |\n|----------|----------|----"
        "----------------|\n| Nile     | 6,650 km | Mediterranean Sea  |\n"
        "| Amazon   | 6,400 km | Atlantic Ocean     |\n"
    )
    cards = extract_cards(text, 10)
    assert len(cards) == 4
    kept, unsupported = keep_supported(cards, text)
    assert (len(kept), unsupported) == (4, 0)


@pytest.mark.parametrize(
    ("sentence", "question", "answer"),
    [
        ("An octopus has three hearts.", "How many hearts does an octopus have?", "three"),
        ("There are about 300 known species of octopus, and they live in every ocean.",
         "How many known species of octopus are there?", "about 300"),
        ("The city of L\u00fcbeck, founded in 1143, became the leading city of the league.",
         "What became the leading city of the league?", "The city of L\u00fcbeck"),
        ("Mercury is the only metal that is liquid at room temperature.",
         "What is the only metal that is liquid at room temperature?", "Mercury"),
        ("The word hansa meant a convoy of traders.", "What did the word hansa mean?",
         "a convoy of traders"),
        ("The colour changes are made by chromatophores in the skin.",
         "What are the colour changes made by?", "chromatophores in the skin"),
        ("Loudness is measured in decibels; a sound of 120 dB can damage hearing.",
         "What is loudness measured in?", "decibels"),
    ],
)
async def test_sentence_structures_become_questions(
    sentence: str, question: str, answer: str
) -> None:
    # Case aside: a one-sentence material cannot show that "Loudness" is a common noun.
    cards = {c.question.casefold(): c.answer for c in await _cards(sentence)}
    assert cards.get(question.casefold()) == answer, cards


@pytest.mark.parametrize(
    ("predicate", "answer"),
    [
        # A participle before a noun is an adjective; before a preposition, a new clause.
        ("a continuous, directed movement of sea water.", "a continuous, directed movement of "
         "sea water"),
        ("hertz (Hz), named after Heinrich Hertz.", "hertz (Hz)"),
        ("a soft-bodied mollusc with eight arms, belonging to the class Cephalopoda.",
         "a soft-bodied mollusc with eight arms"),
    ],
)
def test_an_answer_is_cut_at_a_clause_not_at_an_adjective(predicate: str, answer: str) -> None:
    from handlers.providers.facts import trim_answer

    assert trim_answer(predicate) == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        # What the author set as code or in bold is the term the line is about.
        ("# Git\n\nThe command `git rebase -i` starts an interactive rebase of your work.",
         "git rebase -i"),
        # The noun phrase a sentence opens with, between its article and its verb.
        ("A fast-forward merge simply moves the branch pointer when nothing else changed.",
         "fast-forward merge"),
        # A name that modifies the noun after it is one term with it.
        ("When the source moves towards a listener the pitch rises, and this is the Doppler "
         "effect.", "Doppler effect"),
    ],
)
async def test_the_blank_falls_on_the_term_the_sentence_is_about(text: str, answer: str) -> None:
    cards = await _cards(text)
    assert answer in {c.answer for c in cards}, cards


async def test_a_connective_linking_to_the_sentence_before_is_left_out_of_the_cloze() -> None:
    # "However," leans on the sentence before; without it the statement stands, quoted
    # word for word (needs_context dropped every such sentence before).
    cards = await _cards("However, a single parcel of deep water may take about 1,000 years "
                         "to go round the world.")
    assert cards and all(c.question.startswith(CLOZE_PREFIX + "A single") for c in cards)


async def test_definitions_are_asked_the_other_way_when_the_deck_has_room() -> None:
    text = (
        "# Oceans\n\nUpwelling is the rise of cold water from the deep ocean to the surface.\n\n"
        "- Salinity: the amount of salt dissolved in a given mass of sea water.\n"
    )
    cards = [(c.question, c.answer) for c in await _cards(text)]
    assert cards == [
        ("What is Upwelling?", "the rise of cold water from the deep ocean to the surface"),
        ("What is salinity?", "the amount of salt dissolved in a given mass of sea water"),
        ("What is the term for the amount of salt dissolved in a given mass of sea water?",
         "Salinity"),
        ("Fill in the blank: ____ is the rise of cold water from the deep ocean to the surface.",
         "Upwelling"),
    ]
    # A full deck has no room for them: every other card comes first.
    assert len(await _cards(text, max_cards=2)) == 2


def test_a_wrapped_sentence_with_a_colon_is_not_a_glossary_entry() -> None:
    text = "Sound is a mechanical wave: a vibration that travels through a medium such as\nsteel."
    assert [b.text for b in Document.parse(text).blocks] == [
        "Sound is a mechanical wave: a vibration that travels through a medium such as steel."
    ]


@pytest.mark.parametrize(
    ("sentence", "question", "answer"),
    [
        ("The liver makes bile, which is stored in the gallbladder.",
         "What does the liver make?", "bile"),
        ("The large intestine absorbs water and forms faeces.",
         "What does the large intestine absorb?", "water"),
        ("Plants produce oxygen during the day.", "What do plants produce?",
         "oxygen during the day"),
    ],
)
async def test_what_a_thing_makes_or_holds_becomes_a_question(
    sentence: str, question: str, answer: str
) -> None:
    cards = {c.question.casefold(): c.answer for c in await _cards(sentence)}
    assert cards.get(question.casefold()) == answer, cards


async def test_a_question_the_material_answers_itself_is_asked_as_written() -> None:
    text = (
        "How does a solar cell make electricity?\nLight knocks electrons loose in the silicon.\n\n"
        "What is an inverter for?\nSolar panels produce direct current. An inverter changes "
        "it into alternating current.\n"
    )
    cards = {c.question: c.answer for c in await _cards(text)}
    assert cards["How does a solar cell make electricity?"] == (
        "Light knocks electrons loose in the silicon"
    )
    # The sentence that names what was asked about answers it, not the one before it.
    assert cards["What is an inverter for?"] == (
        "An inverter changes it into alternating current"
    )


async def test_a_list_item_without_a_full_stop_still_makes_a_cloze() -> None:
    text = "# Digestion\n\n- Food leaves the stomach as a thick liquid called chyme\n"
    cards = {c.answer: c.question for c in await _cards(text)}
    assert cards["chyme"] == (
        "Fill in the blank: Food leaves the stomach as a thick liquid called ____"
    )


async def test_a_word_glossed_by_the_phrase_after_it_is_the_blank() -> None:
    text = "Saliva contains amylase, an enzyme that starts the digestion of starch in the mouth."
    assert "amylase" in {c.answer for c in await _cards(text)}


async def test_a_table_header_unit_follows_the_question_and_one_is_singular() -> None:
    text = (
        "# Planets\n\n| Planet | Moons | Distance from the Sun (AU) |\n|---|---|---|\n"
        "| Earth | 1 | 1.00 |\n| Mars | 2 | 1.52 |\n| Venus | 0 | 0.72 |\n"
    )
    questions = {c.question for c in await _cards(text)}
    assert "Which planet has 1 moon?" in questions
    assert "What is the distance from the Sun of Venus, in AU?" in questions
