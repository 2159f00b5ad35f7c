"""The structure of study material: blocks (headings, paragraphs, list items) and sentences.

Everything the offline generator says is cut out of the material itself, so this module
keeps two views of the text: ``raw`` (as written, to find glossary markup) and ``text``
(inline Markdown removed, whitespace collapsed, what cards quote). The final check that an
answer occurs in the source is the card linter's ``answer_not_in_source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from handlers.text import WORD, collapse_space, normalize, words_of

__all__ = ["WORD", "collapse_space", "normalize", "words_of"]  # re-exported for providers


def word_set(words: str) -> frozenset[str]:
    """A vocabulary written as whitespace-separated words, readable in source."""
    return frozenset(words.split())


# Words after which a full stop does not end a sentence. Multi-letter initialisms with
# inner dots ("U.S.", "Ph.D.") are caught by a pattern instead of being listed.
ABBREVIATIONS = word_set(
    """
    e.g i.e cf vs viz al approx ca dr mr mrs ms prof sr jr st mt fig figs no nos vol
    eq eqs ch sec pp inc ltd co corp dept est gen gov lt col capt rev hon jan feb mar apr
    jun jul aug sep sept oct nov dec
    """
)

STOPWORDS = word_set(
    """
    a about above across after again against all almost along also although always am
    among an and another any are around as at be became because become becomes been before
    being below between both but by can cannot could did do does doing done down during
    each either else enough etc even ever every few for from further had has have having he
    her here hers herself him himself his how however i if in into is it its itself just
    least less like made make makes many may me might more most much must my myself near
    neither never no nor not now of off often on once one only onto or other others our
    ours out over own per perhaps quite rather same several she should since so some such
    than that the their theirs them themselves then there therefore these they this those
    though through throughout thus to together too toward towards under unless until up
    upon us usually very via was we well were what whatever when where whereas whether which
    while who whom whose why will with within without would yet you your yours
    called known used using uses use called include includes including example examples
    first second third new way ways called called also known often two three four five
    """
)

# Sentence adverbs and connectives: a capital on one ("Instead, ...", "Today the ...") marks
# the sentence start, never a name, and a blank on one tests reading, not knowledge.
CONNECTIVES = word_set(
    """
    however instead meanwhile moreover furthermore nevertheless nonetheless consequently
    therefore thus hence accordingly otherwise likewise similarly besides indeed still yet
    later earlier afterwards afterward eventually finally firstly secondly lastly next then
    today nowadays yesterday tomorrow originally initially traditionally historically
    ultimately subsequently additionally alternatively overall also instead notably
    sometimes often usually generally typically mostly mainly soon once again already
    despite unlike although though because since while whereas
    """
)

# Everyday nouns: a blank on one ("copied by ____" -> "hand") tests the idiom, not the
# material, unless the material makes it one of its terms (card_lint._generic_blank); and
# one capitalised at a sentence start ("Humans can hear ...") is no name.
GENERIC_NOUNS = word_set(
    """
    hand hands head heads eye eyes face faces foot feet arm arms leg legs back side sides
    body man men woman women people person persons child children boy girl friend friends
    family families home homes house houses room rooms door doors window windows wall walls
    floor table tables chair bed car cars road roads street streets city cities town towns
    village country countries world land place places end ends top bottom front middle edge
    thing things stuff day days night nights week weeks month months year years hour hours
    minute minutes moment moments morning evening afternoon age ages life lives death work
    job jobs money business company companies group groups team problem problems question
    questions answer answers idea ideas fact facts reason reasons result results matter
    kind kinds sort sorts type types lot lots number numbers part parts piece pieces bit
    bits amount amounts level levels course line lines word words name names story stories
    book books page pages paper letter letters note notes list lists set sets order
    example examples case cases point points way ways means method methods step steps
    area areas region size shape colour color colors colours sample samples item items
    use uses help change changes effect effects form forms kind version versions view
    sense mind heart voice ground
    surface inside outside beginning start whole half quarter couple pair pairs
    everyone everything something someone anything nothing others member members
    humans animals plants scientists researchers experts
    """
)

# Every pattern here runs on user text, so each must be linear in its input: a scan that
# fails must not be retried from every later position over the same characters. Two rules
# keep them so (issue 7: "# a" + 1000 spaces + "b" froze the event loop for seconds):
# a repeated class excludes the character that opens the next attempt ("[" for links,
# "<" for tags, "_" for emphasis), and a run of one class is matched from its start only
# (the look-behind on the sentence end) and possessively, so it is never re-split.
_INLINE_LINK = re.compile(r"!?\[([^\[\]\n]{0,500})\]\([^()\s]{0,2000}\)")
_INLINE_MARKUP = re.compile(r"(\*\*|__|\*|`)")
_EMPHASIS_UNDERSCORE = re.compile(r"(?<!\w)_([^_\s](?:[^_]*[^_\s])?)_(?!\w)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,2000}>")
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_NUMBERED_SECTION = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,5})[.)]?\s+(\S.{0,78})$")
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++[\"'\u201d\u2019)\]]*+\s+")
_DOTTED_INITIALISM = re.compile(r"(?:[a-z]\.)+[a-z]")
# What the author marked as a term: "**osmosis**", "`git switch`". Bounded and closed by a
# class that excludes the mark, so a scan never retries over the same characters.
_MARKED = re.compile(r"\*\*([^*\n]{1,80})\*\*|`([^`\n]{1,80})`")
# "**Term**: definition", "Term: definition", "Term - definition": one glossary entry. Each
# such line is a block of its own even with no blank line between entries.
GLOSSARY_LINE = re.compile(
    r"^\*\*(?P<term>[^*]{1,60})\*\*\s*(?::|\s[\u2014\u2013-]|[\u2014\u2013])\s*(?P<def>\S.*)$"
    r"|^(?P<plain>[A-Z][\w()'\u2019 -]{0,40}?)(?::|\s[\u2014\u2013-])\s+(?P<pdef>\S.*)$"
)
# "Sound is a mechanical wave: a vibration ..." is a sentence with a colon, not an entry:
# a term is a noun phrase, with no verb of its own.
_TERM_VERBS = word_set("is are was were be has have had can could will would does do did")


def glossary_term_ok(match: re.Match[str] | None) -> bool:
    """Is this glossary match's term a term (not the start of a sentence)?"""
    if match is None:
        return False
    term = match.group("term") or match.group("plain") or ""
    return not any(word.lower() in _TERM_VERBS for word in term.split())


# A line longer than this is prose, never a heading or a rule: headings are short, and the
# checks below then never look at a long line at all.
MAX_HEADING_CHARS = 200
# Abbreviation checks look at the word before a full stop; no abbreviation is longer.
_TOKEN_WINDOW = 40
_SMALL_TITLE_WORDS = word_set("a an and as at by for in of on or the to vs with from into")


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE_ROW = "table_row"  # one data row of a Markdown table: see Block.cells


@dataclass(frozen=True)
class Block:
    """One unit of the material. ``level`` is set for headings only.

    Heading levels: 1-6 for Markdown (``#``), the number of parts for numbered sections
    (``2.1`` is 2), and 0 for a plain line that merely looks like a heading. A table row
    has ``cells``: (column header, value) pairs in column order, the row's label first.
    """

    kind: BlockKind
    raw: str
    text: str
    index: int
    level: int = 0
    markdown: bool = False
    cells: tuple[tuple[str, str], ...] = ()
    marked: tuple[str, ...] = ()  # spans the author set in bold or as code, as cleaned


@dataclass(frozen=True)
class Sentence:
    text: str
    block: int
    position: int

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class Document:
    """Parsed material: blocks in order, the sentences of non-heading blocks, a vocabulary."""

    source: str
    blocks: list[Block]
    sentences: list[Sentence]
    vocabulary: Vocabulary = field(default_factory=lambda: Vocabulary(frozenset(), frozenset()))

    @classmethod
    def parse(cls, source: str) -> Document:
        blocks = parse_blocks(source)
        sentences: list[Sentence] = []
        for block in blocks:
            if block.kind in (BlockKind.HEADING, BlockKind.TABLE_ROW):
                continue  # a table row is not prose: its facts are read from its cells
            for text in split_sentences(block.text):
                sentences.append(Sentence(text=text, block=block.index, position=len(sentences)))
        return cls(source, blocks, sentences, Vocabulary.of(sentences))

    @property
    def headings(self) -> list[Block]:
        return [b for b in self.blocks if b.kind is BlockKind.HEADING]


@dataclass(frozen=True)
class Vocabulary:
    """How the material writes its words inside sentences (lower-cased keys).

    ``lowercase``: seen in lower case, so a capital at a sentence start is only position.
    ``names``: seen capitalised mid-sentence and never in lower case: proper nouns.
    """

    lowercase: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of(cls, sentences: list[Sentence]) -> Vocabulary:
        capitalised: set[str] = set()
        lowercase: set[str] = set()
        for sentence in sentences:
            for word in words_of(sentence.text)[1:]:
                (capitalised if word[0].isupper() else lowercase).add(word.lower())
        return cls(frozenset(lowercase), frozenset(capitalised - lowercase))


# ---------------------------------------------------------------- normalisation


def clean_inline(text: str) -> str:
    """Remove inline Markdown/HTML so a card quotes what a reader sees."""
    text = _INLINE_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
    text = _INLINE_MARKUP.sub("", text)
    return collapse_space(text)


# ---------------------------------------------------------------- blocks


def parse_blocks(source: str) -> list[Block]:
    """Split material into headings, paragraphs, list items and table rows (code fences and
    HTML comments skipped)."""
    builder = _BlockBuilder()
    lines = source.splitlines()
    in_fence = in_comment = False
    table: list[str] | None = None  # the header cells of the table being read
    for i, line in enumerate(lines):
        stripped = line.strip().removeprefix(">").strip()
        if in_comment:
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith(("```", "~~~")):
            builder.flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if stripped.startswith("<!--"):
            builder.flush()
            in_comment = "-->" not in stripped
            continue
        if table is not None:
            if "|" in stripped:
                if not is_table_separator(stripped):
                    builder.add_row(table, table_cells(stripped), stripped)
                continue
            table = None
        next_line = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if "|" in stripped and is_table_separator(next_line):
            builder.flush()
            table = table_cells(stripped)
            continue
        if stripped.startswith("|") or is_table_separator(stripped):
            builder.flush()  # a table without a header row: nothing to name its columns
            continue
        if not stripped:
            builder.flush()
            continue
        previous_blank = i == 0 or not lines[i - 1].strip()
        builder.feed(
            stripped,
            indented=line[:1].isspace(),
            previous_blank=previous_blank,
            next_line=next_line,
        )
    builder.flush()
    return builder.blocks


def table_cells(line: str) -> list[str]:
    """ "| Saturn | 146 |" -> ["Saturn", "146"]: the cells of a Markdown table row."""
    body = line.strip().removeprefix("|").removesuffix("|")
    return [clean_inline(cell.strip()) for cell in body.split("|")]


def is_table_separator(line: str) -> bool:
    """ "|---|:--:|" or "--- | ---": the line under a table's header row."""
    if "-" not in line or len(line) > 2_000:
        return False
    cells = table_cells(line)
    if len(cells) < 2 and not line.strip().startswith("|"):
        return False
    return all(cell.strip(":- ") == "" and "-" in cell for cell in cells)


class _BlockBuilder:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._lines: list[str] = []
        self._kind = BlockKind.PARAGRAPH

    def feed(self, line: str, *, indented: bool, previous_blank: bool, next_line: str) -> None:
        if heading := atx_heading(line):
            self.flush()
            level, title = heading
            self._add(BlockKind.HEADING, title, level=level, markdown=True)
            return
        if _is_setext_underline(line) and len(self._lines) == 1:
            title = self._lines.pop()
            self._add(
                BlockKind.HEADING, title, level=1 if line.startswith("=") else 2, markdown=True
            )
            return
        if _is_rule(line):
            self.flush()
            return
        if previous_blank and (level := _numbered_section_level(line, next_line)):
            self.flush()
            self._add(BlockKind.HEADING, _NUMBERED_SECTION.sub(r"\2", line), level=level)
            return
        if bullet := _BULLET.match(line):
            self.flush()
            self._kind = BlockKind.LIST_ITEM
            self._lines.append(bullet.group(1))
            return
        if self._kind is BlockKind.LIST_ITEM and self._lines and indented:
            self._lines.append(line)
            return
        if glossary_term_ok(GLOSSARY_LINE.match(line)):
            self.flush()
            self._lines.append(line)
            self.flush()
            return
        if previous_blank and looks_like_heading(line):
            self.flush()
            self._add(BlockKind.HEADING, line.rstrip(":"), level=0)
            return
        if self._kind is BlockKind.LIST_ITEM:
            self.flush()
        self._lines.append(line)

    def add_row(self, header: list[str], cells: list[str], raw: str) -> None:
        """A table's data row as a block of its own, each value paired with its column."""
        self.flush()
        pairs = tuple(zip(header, cells, strict=False))
        if len(pairs) >= 2 and pairs[0][1]:
            text = " | ".join(value for _, value in pairs)
            self.blocks.append(Block(BlockKind.TABLE_ROW, raw, text, len(self.blocks), cells=pairs))

    def flush(self) -> None:
        if self._lines:
            self._add(self._kind, " ".join(self._lines))
        self._lines = []
        self._kind = BlockKind.PARAGRAPH

    def _add(self, kind: BlockKind, raw: str, *, level: int = 0, markdown: bool = False) -> None:
        text = clean_inline(raw)
        if text:
            marked = tuple(
                clean_inline(m.group(1) or m.group(2)) for m in _MARKED.finditer(raw)
            )
            self.blocks.append(Block(kind, raw, text, len(self.blocks), level, markdown,
                                     marked=marked))


def atx_heading(line: str) -> tuple[int, str] | None:
    """``## Title ##`` -> (2, "Title"), by scanning: the regex it replaces was cubic."""
    if len(line) > MAX_HEADING_CHARS:
        return None
    hashes = len(line) - len(line.lstrip("#"))
    rest = line[hashes:]
    if not 1 <= hashes <= 6 or not rest[:1].isspace():
        return None
    title = rest.strip()
    closed = title.rstrip("#")  # an optional closing run of "#", as CommonMark allows
    if closed != title and (not closed or closed[-1].isspace()):
        title = closed.rstrip()
    return (hashes, title) if title else None


def _is_setext_underline(line: str) -> bool:
    """``=====`` or ``-----`` (trailing spaces allowed) under a one-line paragraph."""
    body = line.rstrip()
    return bool(body) and len(body) <= MAX_HEADING_CHARS and body.strip(body[0]) == "" and (
        body[0] in "=-"
    )


def _is_rule(line: str) -> bool:
    """``---``, ``* * *``, ``___``: three or more of one mark, spaces between allowed."""
    if len(line) > MAX_HEADING_CHARS:
        return False
    marks = "".join(line.split())
    return len(marks) >= 3 and marks[0] in "-*_" and marks.strip(marks[0]) == ""


def _numbered_section_level(line: str, next_line: str) -> int:
    """``2.1 Light reactions`` is a level-2 section; ``1. Mix the sample.`` is a list item."""
    if len(line) > MAX_HEADING_CHARS:
        return 0
    match = _NUMBERED_SECTION.match(line)
    if not match or _NUMBERED_SECTION.match(next_line) or _BULLET.match(next_line):
        return 0
    title = match.group(2)
    if title.rstrip().endswith((".", ",", ";", "!", "?")) or len(title.split()) > 10:
        return 0
    return len(match.group(1).split("."))


def looks_like_heading(line: str) -> bool:
    """A short line with no final full stop, in Title Case or ending with a colon."""
    if len(line) > MAX_HEADING_CHARS:
        return False
    text = clean_inline(line)
    words = text.rstrip(":").split()
    if not words or len(words) > 8 or len(text) > 70 or not text[0].isupper():
        return False
    if text.endswith((".", ",", ";", "!", "?")):
        return False
    if text.endswith(":"):
        return True
    significant = [w for w in words if w.lower() not in _SMALL_TITLE_WORDS]
    capitalised = [w for w in significant if w[0].isupper() or w[0].isdigit()]
    return bool(significant) and len(capitalised) == len(significant)


# ---------------------------------------------------------------- sentences


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph; abbreviations, initials and decimals do not split."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end >= len(text) or not _ends_sentence(text, match.start(), end):
            continue
        sentences.append(text[start:end].strip())
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _ends_sentence(text: str, punct_at: int, next_at: int) -> bool:
    following = text[next_at]
    if not (following.isupper() or following.isdigit() or following in "\"'\u201c\u2018(["):
        return False
    if text[punct_at] != ".":
        return True
    # The word before the stop, from a bounded window: splitting all of ``text[:punct_at]``
    # at every candidate stop made a paragraph of initials quadratic.
    before = text[max(0, punct_at - _TOKEN_WINDOW) : punct_at].split()
    token = before[-1].lstrip("(\"'\u201c\u2018[").lower() if before else ""
    if token in ABBREVIATIONS or _DOTTED_INITIALISM.fullmatch(token):
        return False
    # A lone capital is an initial ("J. J. Thomson"), not the end of a sentence.
    return not (len(token) == 1 and token.isalpha())
