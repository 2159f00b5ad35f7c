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


@dataclass(frozen=True)
class _Heading:
    title: str
    level: int
    block: int


def tree_from_outline(
    doc: Document, *, goal: str, description: str | None, max_depth: int
) -> list[NodeDraft]:
    """Pre-ordered nodes (root first), at most ``max_depth`` deep and ``MAX_TREE_NODES``."""
    headings = outline_headings(doc)
    intro = _first_sentence_after(doc, -1)
    if _opens_with_title(headings):
        intro = _first_sentence_after(doc, headings[0].block) or intro
        headings = headings[1:]
    root = _Node(goal, description if description is not None else intro, depth=1)
    if headings:
        _attach_headings(root, headings, doc)
    else:
        _attach_topics(root, doc, goal)
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
    """Nodes deeper than ``max_depth`` become a line in their deepest kept ancestor."""
    for node in list(_preorder(root)):
        if node.depth == max_depth and node.children:
            node.folded.extend(n.title for n in _preorder(node) if n is not node)
            node.children = []


def _cap_nodes(root: _Node) -> None:
    """Drop the deepest level first, so a big outline keeps its shape; then truncate."""
    while _count(root) > MAX_TREE_NODES:
        deepest = max(n.depth for n in _preorder(root))
        if deepest <= 2:
            root.children = root.children[: MAX_TREE_NODES - 1]
            return
        _fold_below(root, deepest - 1)


def _drafts(root: _Node) -> list[NodeDraft]:
    keys: dict[int, str] = {}
    drafts: list[NodeDraft] = []
    for node in _preorder(root):
        key = ROOT_KEY if node is root else f"n{len(drafts)}"
        keys[id(node)] = key
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
    return drafts


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
