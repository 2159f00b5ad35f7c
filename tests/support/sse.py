"""A small, strict reader of the Server-Sent Events wire format, as a browser's EventSource
reads it (blocks separated by a blank line; ``event:``, ``id:``, ``data:``, ``retry:``
fields; ``:`` comments). Every read has a ceiling, so a stream that stops short fails its
test instead of hanging it."""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse

READ_CEILING_S = 20.0  # a correctness ceiling for one read, not a latency expectation

LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class SseBlock:
    """One blank-line-terminated block of an event stream, as an EventSource sees it."""

    event: str | None = None
    id: str | None = None
    data_lines: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def is_event(self) -> bool:
        """An EventSource dispatches a block only if it carried data."""
        return bool(self.data_lines)

    @property
    def name(self) -> str:
        return self.event or "message"

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    @property
    def job(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]

    @property
    def version(self) -> int:
        assert self.id is not None, self
        return int(self.id)

    def empty(self) -> bool:
        return self == SseBlock()


class SseParser:
    """The event-stream grammar of the HTML standard, fed incrementally."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._block = SseBlock()

    def feed(self, chunk: bytes) -> list[SseBlock]:
        self._buffer += self._decoder.decode(chunk)
        blocks = []
        while (match := LINE_END.search(self._buffer)) is not None:
            if match.group() == "\r" and match.end() == len(self._buffer):
                break  # maybe the first half of a CRLF split across chunks
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            block = self._line(line)
            if block is not None:
                blocks.append(block)
        return blocks

    def _line(self, line: str) -> SseBlock | None:
        if line == "":
            block, self._block = self._block, SseBlock()
            return None if block.empty() else block
        if line.startswith(":"):
            self._block.comments.append(line[1:].removeprefix(" "))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._block.data_lines.append(value)
        elif name == "event":
            self._block.event = value
        elif name == "id" and "\0" not in value:
            self._block.id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._block.retry = int(value)
        return None


class SseStream:
    """An open event stream read block by block, each read bounded by a ceiling."""

    def __init__(self, resp: ClientResponse) -> None:
        self.resp = resp
        self._parser = SseParser()
        self._ready: deque[SseBlock] = deque()
        self.ended = False

    async def block(self) -> SseBlock | None:
        """The next block (events, retry hints, comments), or None when the stream ended."""
        while not self._ready:
            if self.ended:
                return None
            chunk = await asyncio.wait_for(self.resp.content.readany(), READ_CEILING_S)
            if not chunk:
                self.ended = True  # an incomplete trailing block is discarded, as by a browser
            self._ready.extend(self._parser.feed(chunk))
        return self._ready.popleft()

    async def event(self) -> SseBlock | None:
        """The next dispatched event (skipping hints and comments), or None at the end.

        The ceiling covers the whole wait: keep-alive comments must not extend it forever.
        """
        async with asyncio.timeout(READ_CEILING_S):
            while (block := await self.block()) is not None:
                if block.is_event:
                    return block
        return None

    async def expect_event(self) -> SseBlock:
        block = await self.event()
        assert block is not None, "the stream ended early"
        return block

    async def rest(self) -> list[SseBlock]:
        """Every remaining block up to the end of the stream (which must come)."""
        blocks = []
        async with asyncio.timeout(READ_CEILING_S):
            while (block := await self.block()) is not None:
                blocks.append(block)
        return blocks

    def close(self) -> None:
        self.resp.close()


