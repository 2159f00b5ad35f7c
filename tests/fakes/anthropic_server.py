"""A fake Anthropic Messages API on 127.0.0.1, good enough for the real SDK to talk to.

Tests script what each ``POST /v1/messages`` answers and then assert on what the SDK sent::

    fake = FakeAnthropic()
    base_url = await fake.start()
    fake.push_error(429, retry_after=7)
    fake.push_tool_output({"cards": [{"question": "What is 2+2?", "answer": "4"}]})
    ...  # AnthropicGenerator(api_key, base_url=base_url)
    assert fake.requests[0].tool_choice == {"type": "tool", "name": "record_flashcards"}
    await fake.stop()

Scripted replies are served in order; once the script is empty the ``default`` responder
answers (by default :func:`plausible_reply`, which derives output from the request). With
``default=None`` an empty script answers 400, so a test that under-scripts fails loudly
instead of silently succeeding.

Manual runs: ``python -m tests.fakes.anthropic_server --port 8765`` and point
``ANTHROPIC_BASE_URL`` at ``http://127.0.0.1:8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JsonDict = dict[str, Any]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
REASONS = {529: "Overloaded"}  # not in http.HTTPStatus


# ---------------------------------------------------------------- scripted replies


@dataclass(frozen=True)
class ToolOutput:
    """A ``tool_use`` reply; ``name`` defaults to the tool the request forced."""

    input: Any
    name: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str = "tool_use"


@dataclass(frozen=True)
class TextOutput:
    """A text-only reply: what a model that ignored the tool would send."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error in Anthropic's shape: ``{"type": "error", "error": {type, message}}``."""

    status: int
    error_type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlowReply:
    """Waits ``delay_s`` before answering with ``then`` (or the default responder)."""

    delay_s: float
    then: Reply | None = None


@dataclass(frozen=True)
class Hang:
    """Never answers (until the server stops)."""


Reply = ToolOutput | TextOutput | ErrorReply | SlowReply | Hang
Responder = Callable[[JsonDict], "Reply"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: JsonDict

    @property
    def api_key(self) -> str | None:
        """The credential, whether sent as ``x-api-key`` or ``Authorization: Bearer``."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def tool_choice(self) -> JsonDict | None:
        return self.body.get("tool_choice")

    @property
    def tool_names(self) -> list[str]:
        return [tool.get("name", "") for tool in self.body.get("tools", [])]

    @property
    def prompt(self) -> str:
        """The text of all user turns, joined (system prompt first if any)."""
        return "\n".join(_texts(self.body))


def _forced_tool(body: JsonDict) -> str:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name"):
        return str(choice["name"])
    tools = body.get("tools") or [{}]
    return str(tools[0].get("name", "tool"))


def _or_estimate(tokens: int | None, text: str) -> int:
    """Roughly four characters a token, like English text; at least one."""
    return tokens if tokens is not None else max(1, len(text) // 4)


def _texts(body: JsonDict) -> list[str]:
    texts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(b.get("text", "") for b in system if isinstance(b, dict))
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(b.get("text", "") for b in content if b.get("type") == "text")
    return texts


# ---------------------------------------------------------------- prompt caching

CACHE_TTL_S = 300.0  # the default ("ephemeral") cache lives five minutes


def min_cacheable_tokens(model: str) -> int:
    """Anthropic caches no prefix shorter than this: below it ``cache_control`` is ignored
    (the request still succeeds, and everything is billed as plain input)."""
    return 2048 if "haiku" in model else 1024


def cached_prefix(body: JsonDict) -> str | None:
    """The request's text up to and including its last ``cache_control`` block, in the order
    the API builds the prefix: tools, then system, then messages. None if nothing is marked."""
    parts: list[str] = []
    marked_upto: int | None = None
    for tool in body.get("tools") or []:
        parts.append(json.dumps(tool, sort_keys=True))
        if isinstance(tool, dict) and tool.get("cache_control"):
            marked_upto = len(parts)
    system = body.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            blocks.extend(content)
    for block in blocks:
        if not isinstance(block, dict):
            continue
        parts.append(str(block.get("text", json.dumps(block, sort_keys=True))))
        if block.get("cache_control"):
            marked_upto = len(parts)
    return None if marked_upto is None else "\n".join(parts[:marked_upto])


class PromptCache:
    """Which prefixes were written, per model, and when: what the real API's cache knows."""

    def __init__(self) -> None:
        self.written: dict[tuple[str, str], float] = {}

    def account(self, body: JsonDict, total_tokens: int) -> tuple[int, int, int]:
        """(input, cache_write, cache_read) tokens for a request of ``total_tokens``."""
        prefix = cached_prefix(body)
        model = str(body.get("model", ""))
        if prefix is None:
            return total_tokens, 0, 0
        prefix_tokens = min(_or_estimate(None, prefix), total_tokens)
        if prefix_tokens < min_cacheable_tokens(model):
            return total_tokens, 0, 0
        key, now = (model, prefix), time.monotonic()
        seen = self.written.get(key)
        self.written[key] = now  # a read refreshes the entry's lifetime, as the API does
        rest = total_tokens - prefix_tokens
        if seen is not None and now - seen < CACHE_TTL_S:
            return rest, 0, prefix_tokens
        return rest, prefix_tokens, 0


# ---------------------------------------------------------------- plausible default output


def plausible_reply(body: JsonDict) -> Reply:
    """Output shaped like the real model's, derived from the request's own prompt."""
    prompt = "\n".join(_texts(body))
    tool = _forced_tool(body) if body.get("tools") else None
    if tool == "record_flashcards":
        return ToolOutput({"cards": _cards(_tag(prompt, "material"))})
    if tool == "record_distractors":
        return ToolOutput({"distractors": _distractors(prompt)})
    if tool == "record_deck_distractors":
        return ToolOutput({"cards": _deck_distractors(prompt)})
    if tool == "record_skill_tree":
        return ToolOutput({"nodes": _skill_tree(prompt)})
    return TextOutput("Hello from the fake Anthropic server.")


_DEFINITION = re.compile(
    r"^(?P<subject>[^,;:]{3,80}?) (?P<verb>is|are|was|were) (?P<rest>.{3,300})$"
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{5,}")


def _tag(text: str, tag: str) -> str:
    """The last ``<tag>`` block's text (instructions may mention the tag before it)."""
    blocks = re.findall(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return blocks[-1].strip() if blocks else ""


def _sentences(text: str) -> list[str]:
    """Prose sentences; Markdown heading lines are outline, not statements to quiz on."""
    prose = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    flat = " ".join(" ".join(prose).split())
    return [s.strip() for s in _SENTENCE.split(flat) if len(s.strip()) > 12]


def _cards(material: str, limit: int = 10) -> list[JsonDict]:
    """``X is Y.`` becomes ``What is X?`` / ``Y``; other sentences become a cloze."""
    cards: list[JsonDict] = []
    for sentence in _sentences(material):
        match = _DEFINITION.match(sentence.rstrip(".!?"))
        if match:
            subject = match["subject"]
            if subject[:1].isupper() and subject[1:2].islower():  # "The cell", not "ATP"
                subject = subject[0].lower() + subject[1:]
            question = f"What {match['verb']} {subject}?"
            cards.append({"question": question, "answer": match["rest"][:500],
                          "source": sentence[:1000]})
        else:
            words = _WORD.findall(sentence)
            if not words:
                continue
            key = max(words, key=len)
            cloze = sentence.replace(key, "_____", 1)[:480]
            cards.append({"question": f"Fill in the blank: {cloze}", "answer": key,
                          "source": sentence[:1000]})
        if len(cards) >= limit:
            break
    return cards


def _distractors(prompt: str) -> list[str]:
    answer = _tag(prompt, "correct_answer")
    count_match = re.search(r"exactly (\d+) distractors", prompt)
    count = int(count_match.group(1)) if count_match else 3
    candidates = [line.lstrip("- ").strip() for line in _tag(prompt, "other_answers").splitlines()]
    candidates += _WORD.findall(_tag(prompt, "material"))
    chosen: list[str] = []
    for candidate in candidates:
        if candidate and candidate.lower() != answer.lower() and candidate not in chosen:
            chosen.append(candidate)
    filler = itertools.count(1)
    while len(chosen) < count:
        chosen.append(f"Not {answer}" if not chosen else f"Alternative {next(filler)}")
    return chosen[:count]


_CARD_BLOCK = re.compile(
    r'<card number="(\d+)">.*?<correct_answer>(.*?)</correct_answer>', re.DOTALL
)


def _deck_distractors(prompt: str) -> list[JsonDict]:
    """Per listed card: the other cards' answers first (the same deck), then fillers."""
    count_match = re.search(r"exactly (\d+) distractors", prompt)
    count = int(count_match.group(1)) if count_match else 3
    cards = [(int(n), answer.strip()) for n, answer in _CARD_BLOCK.findall(prompt)]
    pool = [line.lstrip("- ").strip() for line in _tag(prompt, "other_answers").splitlines()]
    out: list[JsonDict] = []
    for number, answer in cards:
        chosen = [c for c in pool if c and c.lower() != answer.lower()][:count]
        filler = itertools.count(1)
        while len(chosen) < count:
            chosen.append(f"Alternative {next(filler)} to {answer}"[:500])
        out.append({"card": number, "distractors": chosen})
    return out


def _skill_tree(prompt: str) -> list[JsonDict]:
    goal = _tag(prompt, "goal") or "The goal"
    depth_match = re.search(r"at most (\d+) levels", prompt)
    max_depth = int(depth_match.group(1)) if depth_match else 3
    nodes: list[JsonDict] = [
        {"key": "goal", "parent": None, "title": goal[:200], "description": f"Master {goal}."}
    ]
    if max_depth < 2:
        return nodes
    headings = re.findall(r"^#+\s+(.{3,80})$", _tag(prompt, "material"), re.MULTILINE)
    topics = headings[:6] or ["Foundations", "Core techniques", "Practice"]
    for index, topic in enumerate(topics, start=1):
        key = f"t{index}"
        nodes.append(
            {"key": key, "parent": "goal", "title": topic, "description": f"Know {topic}."}
        )
        if max_depth >= 3:
            nodes.append(
                {
                    "key": f"{key}-basics",
                    "parent": key,
                    "title": f"Basics of {topic}"[:200],
                    "description": f"Explain the basic ideas of {topic}.",
                }
            )
    return nodes


# ---------------------------------------------------------------- the server


class FakeAnthropic:
    def __init__(
        self, *, default: Responder | None = plausible_reply, api_key: str | None = None
    ) -> None:
        """``default`` answers once the script is empty; ``None`` makes that a 400 instead.
        ``api_key``, when set, makes any other key a 401 like the real API."""
        self.default = default
        self.api_key = api_key
        self.script: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.usages: list[JsonDict] = []  # the usage block of each answered request, in order
        self.cache = PromptCache()
        self.base_url = ""
        self._ids = itertools.count(1)
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port) and return the base URL for the SDK."""
        self._stopping.clear()
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()  # releases slow and hanging handlers first
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scripting

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def push_tool_output(
        self,
        tool_input: Any,
        *,
        name: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        stop_reason: str = "tool_use",
    ) -> None:
        self.push(ToolOutput(tool_input, name, input_tokens, output_tokens, stop_reason))

    def push_invalid_tool_output(self, tool_input: Any = None) -> None:
        """A tool call whose input does not match the tool's schema."""
        self.push(ToolOutput({"unexpected": True} if tool_input is None else tool_input))

    def push_text(self, text: str = "Sure! Here are your flashcards: ...") -> None:
        self.push(TextOutput(text))

    def push_error(
        self,
        status: int,
        *,
        message: str | None = None,
        error_type: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            all_headers["retry-after-ms"] = str(retry_after_ms)
        self.push(ErrorReply(status, error_type, message, all_headers))

    def push_slow(self, delay_s: float, then: Reply | None = None) -> None:
        self.push(SlowReply(delay_s, then))

    def push_hang(self) -> None:
        self.push(Hang())

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # -- serving

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path, headers, body or {})
        self.requests.append(recorded)

        if not isinstance(body, dict):
            return self._error(ErrorReply(400, message="Request body is not valid JSON."))
        if recorded.api_key is None:
            return self._error(ErrorReply(401, message="x-api-key header is required"))
        if self.api_key is not None and recorded.api_key != self.api_key:
            return self._error(ErrorReply(401, message="invalid x-api-key"))
        missing = [name for name in ("model", "max_tokens", "messages") if name not in body]
        if missing:
            return self._error(ErrorReply(400, message=f"{missing[0]}: Field required"))
        return await self._answer(body, self._next_reply(body))

    def _next_reply(self, body: JsonDict) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.default is not None:
            return self.default(body)
        return ErrorReply(400, message="fake anthropic: the test's script has no reply left")

    async def _answer(self, body: JsonDict, reply: Reply) -> web.StreamResponse:
        if isinstance(reply, Hang):
            await self._stopping.wait()
            return self._error(ErrorReply(503, "api_error", "fake anthropic stopped"))
        if isinstance(reply, SlowReply):
            try:
                await asyncio.wait_for(self._stopping.wait(), reply.delay_s)
            except TimeoutError:
                pass
            else:
                return self._error(ErrorReply(503, "api_error", "fake anthropic stopped"))
            return await self._answer(body, reply.then or self._next_reply(body))
        if isinstance(reply, ErrorReply):
            return self._error(reply)
        return web.json_response(self._message(body, reply), headers=self._request_id())

    def _message(self, body: JsonDict, reply: ToolOutput | TextOutput) -> JsonDict:
        number = next(self._ids)
        if isinstance(reply, ToolOutput):
            content: JsonDict = {
                "type": "tool_use",
                "id": f"toolu_fake_{number:06d}",
                "name": reply.name or _forced_tool(body),
                "input": reply.input,
            }
            produced = json.dumps(reply.input)
        else:
            content = {"type": "text", "text": reply.text}
            produced = reply.text
        total = _or_estimate(None, "\n".join([json.dumps(body.get("tools") or []),
                                               *_texts(body)]))
        fresh, written, read = self.cache.account(body, total)
        usage = {
            # a scripted count is the test's to choose; cache fields still follow the prompt
            "input_tokens": reply.input_tokens if reply.input_tokens is not None else fresh,
            "output_tokens": _or_estimate(reply.output_tokens, produced),
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }
        self.usages.append(usage)
        return {
            "id": f"msg_fake_{number:06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [content],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _error(self, reply: ErrorReply) -> web.Response:
        error_type = reply.error_type or ERROR_TYPES.get(
            reply.status, "api_error" if reply.status >= 500 else "invalid_request_error"
        )
        request_id = self._request_id()
        payload = {
            "type": "error",
            "error": {"type": error_type, "message": reply.message or error_type},
            "request_id": request_id["request-id"],
        }
        return web.json_response(
            payload,
            status=reply.status,
            reason=REASONS.get(reply.status),
            headers={**request_id, **reply.headers},
        )

    def _request_id(self) -> dict[str, str]:
        return {"request-id": f"req_fake_{next(self._ids):06d}"}


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Anthropic Messages API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    fake = FakeAnthropic()
    print(f"fake Anthropic API on http://{args.host}:{args.port} (ANTHROPIC_BASE_URL)")
    web.run_app(fake.make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
