"""A skill tree read off the material's outline, or off its paragraphs' topics.

The outline is, in order of trust: Markdown headings (with numbered sections nested under
them), numbered sections alone, then plain lines that look like headings. A single
top-level heading that opens the document is its title: the goal already is the root,
so that heading is folded into the root instead of becoming a one-child level.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from handlers.models import MAX_TREE_NODES, NodeDraft
from handlers.providers.extract import Block, BlockKind, Document, split_sentences
from handlers.providers.facts import FactKind, fact_from_sentence
from handlers.providers.keyterms import KeyTerms, candidate_terms

ROOT_KEY = "root"
_DESCRIPTION_CHARS = 240
_TOPIC_MIN_WORDS = 12
_SUBTOPICS_PER_TOPIC = 3


@dataclass
class _Node:
    title: str
    description: str
    depth: int
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    blocks: set[int] = field(default_factory=set)  # the material this node teaches


@dataclass(frozen=True)
class _Heading:
    title: str
    level: int
    block: int


def tree_from_outline(
    doc: Document, *, goal: str, description: str | None, max_depth: int
) -> list[NodeDraft]:
    """Pre-ordered nodes (root first), at most ``max_depth`` deep and ``MAX_TREE_NODES``."""
    return outline_tree(doc, goal=goal, description=description, max_depth=max_depth)[0]


def outline_tree(
    doc: Document, *, goal: str, description: str | None, max_depth: int
) -> tuple[list[NodeDraft], dict[str, set[int]]]:
    """The nodes, and for each node key the blocks of the material it teaches (its section,
    or its paragraph), so cards made from those blocks can be linked to the node.

    Titles are skills ("Explain how evaporation works"), not headings copied; a heading
    that only repeats the goal adds no node (its sections hang from the root).
    """
    headings = [h for h in outline_headings(doc) if _key(h.title) != _key(goal)]
    intro = _first_sentence_after(doc, -1)
    if _opens_with_title(headings):
        intro = _first_sentence_after(doc, headings[0].block) or intro
        headings = headings[1:]
    if description is None and _key(goal) in _key(intro) and (
        len(intro.split()) <= len(goal.split()) + 2
    ):
        intro = ""  # a description that only says the goal again
    root = _Node(goal, description if description is not None else intro, depth=1)
    if headings:
        _attach_headings(root, headings, doc)
    else:
        _attach_topics(root, doc, goal)
    for node in _preorder(root)[1:]:
        node.title = skill_title(node.title, doc)
    _fold_below(root, max_depth)
    _cap_nodes(root)
    return _drafts(root)


def outline_headings(doc: Document) -> list[_Heading]:
    """Headings with levels made comparable: numbered sections nest under Markdown ones."""
    blocks = doc.headings
    structured = [b for b in blocks if b.markdown or b.level > 0]
    if not structured:
        plain = [b for b in blocks if b.level == 0]
        return [_Heading(b.text, 1, b.index) for b in plain] if len(plain) >= 2 else []
    headings: list[_Heading] = []
    section_level = 0
    for block in structured:
        if block.markdown:
            section_level = block.level
            headings.append(_Heading(block.text, block.level, block.index))
        else:
            headings.append(_Heading(block.text, section_level + block.level, block.index))
    return headings


def _opens_with_title(headings: list[_Heading]) -> bool:
    if len(headings) < 2:
        return False
    top = headings[0].level
    return all(h.level > top for h in headings[1:])


def _attach_headings(root: _Node, headings: list[_Heading], doc: Document) -> None:
    """Nest by level with a stack; a skipped level attaches to the nearest shallower node."""
    stack: list[tuple[int, _Node]] = [(0, root)]
    for heading in headings:
        while len(stack) > 1 and stack[-1][0] >= heading.level:
            stack.pop()
        parent = stack[-1][1]
        node = _Node(
            heading.title, _first_sentence_after(doc, heading.block), parent.depth + 1, parent
        )
        node.blocks = set(_section_blocks(doc, heading.block))
        parent.children.append(node)
        stack.append((heading.level, node))


def _attach_topics(root: _Node, doc: Document, goal: str) -> None:
    """No outline: each substantial paragraph becomes a topic, its key terms subtopics.

    A paragraph's terms are ranked by TF-IDF with paragraphs as the documents (what this
    paragraph is about, unlike the others), and a term the paragraph defines ("The
    chloroplast is ...") comes first: notes usually define what they are about.
    """
    paragraphs = [
        b
        for b in doc.blocks
        if b.kind is not BlockKind.HEADING and len(b.text.split()) >= _TOPIC_MIN_WORDS
    ]
    terms = KeyTerms([s.text for s in doc.sentences])
    per_paragraph = [Counter(k for k, _ in candidate_terms(p.text)) for p in paragraphs]
    df = Counter(k for counts in per_paragraph for k in counts)
    used: set[str] = {" ".join(goal.lower().split())}
    for block, counts in zip(paragraphs, per_paragraph, strict=True):

        def weight(key: str, counts: Counter[str] = counts) -> float:
            idf = math.log(1 + len(paragraphs) / df[key])
            return counts[key] * idf * (1 + 0.5 * (len(key.split()) - 1))

        ranked = sorted(
            (t for t in terms.in_text(block.text) if t.nounish),
            key=lambda t: (-weight(t.key), t.key),
        )
        picks = _defined_subjects(block, doc) + [(t.key, t.surface) for t in ranked]
        fresh = [(key, surface) for key, surface in picks if not _overlaps(key, used)]
        if not fresh:
            continue
        topic_key, topic_surface = fresh[0]
        topic = _Node(_title_case_first(topic_surface), _first_sentence(block), 2, root)
        topic.blocks = {block.index}
        root.children.append(topic)
        used.add(topic_key)
        for key, surface in fresh[1:]:
            if len(topic.children) == _SUBTOPICS_PER_TOPIC:
                break
            if _overlaps(key, used):
                continue
            sentence = next((s for s in split_sentences(block.text) if key in s.lower()), "")
            topic.children.append(_Node(_title_case_first(surface), _clip(sentence), 3, topic))
            used.add(key)


def _defined_subjects(block: Block, doc: Document) -> list[tuple[str, str]]:
    """(key, surface) of what the paragraph defines, in order: "the chloroplast" -> chloroplast."""
    subjects: list[tuple[str, str]] = []
    for sentence in split_sentences(block.text):
        fact = fact_from_sentence(sentence, doc.vocabulary)
        if fact is not None and fact.kind is FactKind.DEFINITION:
            words = [w for w in fact.subject.split() if w.lower() not in {"the", "a", "an"}]
            if words:
                subjects.append((" ".join(words).lower(), " ".join(words)))
    return subjects


def _fold_below(root: _Node, max_depth: int) -> None:
    """Nodes deeper than ``max_depth`` become a line in their deepest kept ancestor (which
    then also teaches their material)."""
    for node in list(_preorder(root)):
        if node.depth == max_depth and node.children:
            below = [n for n in _preorder(node) if n is not node]
            node.folded.extend(n.title for n in below)
            node.blocks.update(b for n in below for b in n.blocks)
            node.children = []


def _cap_nodes(root: _Node) -> None:
    """Drop the deepest level first, so a big outline keeps its shape; then truncate."""
    while _count(root) > MAX_TREE_NODES:
        deepest = max(n.depth for n in _preorder(root))
        if deepest <= 2:
            root.children = root.children[: MAX_TREE_NODES - 1]
            return
        _fold_below(root, deepest - 1)


def _drafts(root: _Node) -> tuple[list[NodeDraft], dict[str, set[int]]]:
    keys: dict[int, str] = {}
    drafts: list[NodeDraft] = []
    sections: dict[str, set[int]] = {}
    for node in _preorder(root):
        key = ROOT_KEY if node is root else f"n{len(drafts)}"
        keys[id(node)] = key
        sections[key] = set(node.blocks)
        description = node.description
        if node.folded:
            also = "Also covers: " + ", ".join(node.folded) + "."
            description = f"{description} {also}".strip()
        drafts.append(
            NodeDraft(
                key=key,
                parent=keys[id(node.parent)] if node.parent is not None else None,
                title=node.title[:200],
                description=description[:1_000],
            )
        )
    return drafts, sections


def _preorder(root: _Node) -> list[_Node]:
    order: list[_Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(node.children))
    return order


def _count(root: _Node) -> int:
    return len(_preorder(root))


def _first_sentence_after(doc: Document, block_index: int) -> str:
    """The first sentence of the section that starts after ``block_index``."""
    for block in doc.blocks[block_index + 1 :]:
        if block.kind is BlockKind.HEADING:
            return ""
        return _first_sentence(block)
    return ""


def _first_sentence(block: Block) -> str:
    sentences = split_sentences(block.text)
    return _clip(sentences[0]) if sentences else ""


def _clip(text: str) -> str:
    if len(text) <= _DESCRIPTION_CHARS:
        return text
    return text[: _DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _overlaps(key: str, used: set[str]) -> bool:
    """A term inside a used one adds nothing ("cycle" after "calvin cycle").

    Sharing a word is fine: "plate boundaries" after "plate tectonics".
    """
    words = set(key.split())
    return any(words <= set(u.split()) or set(u.split()) <= words for u in used)


def _title_case_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _section_blocks(doc: Document, heading_block: int) -> list[int]:
    """The blocks under a heading, up to the next heading of any level."""
    blocks: list[int] = []
    for block in doc.blocks[heading_block + 1 :]:
        if block.kind is BlockKind.HEADING:
            break
        blocks.append(block.index)
    return blocks


def _key(text: str) -> str:
    return " ".join(text.casefold().replace(":", " ").split())


# ---------------------------------------------------------------- skill titles

_GLOSSARY_HEADINGS = {"key terms", "glossary", "vocabulary", "definitions", "terms", "key words"}
_REVIEW_HEADINGS = {
    "summary", "conclusion", "overview", "introduction", "review", "recap", "notes", "tips",
    "key points", "key facts", "numbers to remember", "background",
}
_CAUSE_HEADINGS = {"causes", "effects", "consequences", "results", "reasons", "origins"}
_QUESTION_WORDS = ("how ", "why ", "what ", "when ", "where ", "which ", "who ")
_PROCESS_ENDINGS = ("tion", "tions", "sis", "ing", "ics")


def skill_title(heading: str, doc: Document) -> str:
    """What a learner should be able to do with a section, from its heading.

    "Evaporation" -> "Explain how evaporation works", "How Volcanoes Form" -> "Explain how
    volcanoes form", "How to Bake Bread" -> "Bake bread", "Key Terms" -> "Define the key
    terms", "The Nucleus" -> "Describe the nucleus".
    """
    title = heading.strip().rstrip(":?.").strip()
    text = _sentence_case(title, doc)
    lower = text.casefold()
    if lower in _GLOSSARY_HEADINGS:
        return "Define the key terms"
    if lower in _REVIEW_HEADINGS:
        return f"Recall the {lower}" if lower.endswith("s") else f"Recall the {lower} points"
    if lower.startswith("how to "):
        return _title_case_first(text[len("how to ") :])
    if lower.startswith(_QUESTION_WORDS):
        return f"Explain {text}"
    words = lower.split()
    process = words[-1].endswith(_PROCESS_ENDINGS) and "'" not in lower and words[0] != "the"
    if words and len(words) <= 3 and process:
        plural = words[-1].endswith("s") and not words[-1].endswith(("sis", "ics"))
        verb = "work" if plural else "works"
        return f"Explain how {text} {verb}"
    if words[0] in {"before", "after", "during", "since", "until"}:
        return f"Describe the time {text}"
    if lower in _CAUSE_HEADINGS:
        return f"Explain the {lower}"
    return f"Describe {text}"


def _sentence_case(title: str, doc: Document) -> str:
    """Title Case to the case the text uses: "Light Reactions" -> "light reactions", but
    names stay ("Gutenberg's Invention" -> "Gutenberg's invention")."""
    return " ".join(
        word if _is_name_word(word, doc) else word.lower() for word in title.split()
    )


def _is_name_word(word: str, doc: Document) -> bool:
    bare = word.removesuffix("'s").removesuffix("\u2019s")
    if not bare[:1].isupper() or bare.isupper() or any(ch.isdigit() for ch in bare):
        return True  # not Title Case, an acronym ("DNA") or a number: keep as written
    return bare.lower() in doc.vocabulary.names
