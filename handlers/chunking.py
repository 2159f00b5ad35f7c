"""Splitting long material into chunks one generator call can take.

Paragraphs are the unit: a chunk never cuts one unless that paragraph alone exceeds the
limit, in which case it is cut between sentences, and only a sentence longer than the
limit is cut mid-text. Chunks are packed greedily, so a 60,000-character text of
ordinary paragraphs becomes four chunks of at most 16,000 characters.
"""

from __future__ import annotations

import re

from handlers.models import CHUNK_CHARS

PARAGRAPH_BREAK = "\n\n"
_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def split_into_chunks(content: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Chunks of at most ``limit`` characters, in order, covering all non-blank text."""
    if len(content) <= limit:
        return [content]
    pieces: list[str] = []
    for paragraph in _PARAGRAPHS.split(content):
        paragraph = paragraph.strip()
        if paragraph:
            pieces.extend(_fit(paragraph, limit))
    return _pack(pieces, limit, PARAGRAPH_BREAK)


def _fit(paragraph: str, limit: int) -> list[str]:
    """A paragraph as pieces of at most ``limit``: itself, its sentences, or hard cuts."""
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_BREAK.split(paragraph):
        if len(sentence) <= limit:
            pieces.append(sentence)
        else:
            pieces.extend(sentence[i : i + limit] for i in range(0, len(sentence), limit))
    return _pack(pieces, limit, " ")


def _pack(pieces: list[str], limit: int, joiner: str) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= limit:
            current = current + joiner + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks
