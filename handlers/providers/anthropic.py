"""The Anthropic provider: one Messages API call per generation, structured by forced tool use.

Every call forces one tool whose ``input_schema`` is generated from a pydantic model below,
and the tool input is validated with that same model, so the schema the model sees and the
check we apply cannot drift apart.

Retries belong to the queue (see ARCHITECTURE.md, "Errors"). The SDK keeps one quick retry
for blips such as a dropped connection or a 500, but a 429, a 529 or any answer asking to
wait longer than a few seconds is handed straight back as a :class:`RetryableError` carrying
the provider's ``retry-after``: otherwise the SDK would sleep out that header inside the
call and park a worker for as long as the provider asks.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import anthropic
from anthropic.types import (
    MessageParam,
    TextBlockParam,
    ToolChoiceToolParam,
    ToolParam,
    ToolUseBlock,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from handlers.errors import JobError, PermanentError, ProviderBusy, RetryableError
from handlers.models import MAX_TREE_NODES, CardDraft, NodeDraft
from handlers.pricing import ModelPrice

if TYPE_CHECKING:
    from handlers.context import Usage

# The newest Sonnet this SDK (anthropic 2.14) lists in ``anthropic.types.Model``; it is not in
# ``anthropic._data.DEPRECATED_MODELS`` (claude-sonnet-4-5 is, and warns on every call).
DEFAULT_MODEL = "claude-sonnet-5-5"

MAX_OUTPUT_TOKENS = 8_192  # 50 cards or 60 tree nodes fit with room to spare
PROVIDER_DETAIL_CHARS = 200
MAX_IN_CALL_WAIT_S = 5.0  # longer waits a provider asks for are the queue's to sit out

log = logging.getLogger(__name__)

_FORMAT_ERROR = "The AI's answer did not match the expected format"
_HANDED_TO_QUEUE = frozenset({429, 529})  # rate limited, overloaded
_FENCE_CLOSE = re.compile(
    r"</(material|question|correct_answer|other_answers|goal|description|card)\b", re.IGNORECASE
)
_BLANK_RUNS = re.compile(r"\n{3,}")


# ---------------------------------------------------------------- LLM output schemas


DistractorText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]


class CardList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No maxItems: a model that overshoots max_cards is truncated, not failed and re-billed.
    cards: list[CardDraft] = Field(description="Flashcards, one fact each, most important first.")


class DistractorList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    distractors: list[DistractorText] = Field(
        min_length=1,
        description="Wrong answers, each distinct from the correct answer and each other.",
    )


class CardChoices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: int = Field(ge=1, description="The number of the card, as listed.")
    distractors: list[DistractorText] = Field(
        description="Wrong answers for that card, distinct from its answer and each other."
    )


class DeckChoiceList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cards: list[CardChoices] = Field(description="One entry per card listed.")


class SkillTreeDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: list[NodeDraft] = Field(
        min_length=1,
        max_length=MAX_TREE_NODES,
        description="All nodes, the root first, every parent listed before its children.",
    )


OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class _Tool(Generic[OutputT]):
    """A tool the model is forced to call; its input is the structured output."""

    name: str
    description: str
    output: type[OutputT]
    instructions: str  # the prompt file of fixed instructions, sent as the system prompt

    @cached_property
    def param(self) -> ToolParam:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.output.model_json_schema(),
        }

    @property
    def choice(self) -> ToolChoiceToolParam:
        return {"type": "tool", "name": self.name}

    @cached_property
    def system(self) -> list[TextBlockParam]:
        """The job type's fixed instructions, marked as the end of a cached prefix.

        The prefix is the tool (its output schema) and these instructions: identical for
        every call of the job type, so the chunks of one long document, and every job of
        the type within the cache's five minutes, read it from the cache at a tenth of the
        input price instead of paying for it again. Only the material goes after it.
        """
        return [{
            "type": "text",
            "text": _prompt_template(self.instructions),
            "cache_control": {"type": "ephemeral"},
        }]


FLASHCARD_TOOL = _Tool(
    "record_flashcards", "Record the flashcards written for the material.", CardList,
    "flashcards.md",
)
DISTRACTOR_TOOL = _Tool(
    "record_distractors", "Record the wrong answer choices for the flashcard.", DistractorList,
    "distractors.md",
)
DECK_CHOICES_TOOL = _Tool(
    "record_deck_distractors", "Record the wrong answer choices for each flashcard.",
    DeckChoiceList, "deck_distractors.md",
)
SKILL_TREE_TOOL = _Tool(
    "record_skill_tree", "Record the skill tree for the goal.", SkillTreeDraft, "skill_tree.md"
)
TOOLS = (FLASHCARD_TOOL, DISTRACTOR_TOOL, DECK_CHOICES_TOOL, SKILL_TREE_TOOL)


# ---------------------------------------------------------------- the generator


class _QueueOwnsLongWaits(anthropic.Middleware):
    """Marks 429/529 and long-``retry-after`` answers ``x-should-retry: false``.

    The SDK obeys that header before its own status policy, so it raises them at once.
    Without it, a 429 with ``retry-after: 60`` would sleep 60 s inside ``messages.create``
    while the job holds its lease and a worker; the queue requeues the job instead and
    never runs it before the hint.
    """

    async def handle_async(
        self, request: anthropic.APIRequest, call_next: anthropic.AsyncCallNext
    ) -> anthropic.AsyncAPIResponse[Any]:
        response = await call_next(request)
        if response.status_code in _HANDED_TO_QUEUE or (
            response.status_code >= 400
            and (parse_retry_after(response.headers) or 0.0) > MAX_IN_CALL_WAIT_S
        ):
            response.headers["x-should-retry"] = "false"
        return response


class AnthropicGenerator:
    """A :class:`~handlers.generator.StudyGenerator` backed by the Anthropic Messages API.

    One instance is shared by all workers of a process: it holds one connection pool and
    keeps no per-job state (usage goes to the ``usage`` each call is given).
    """

    provider: str = "anthropic"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 1,
        price: ModelPrice | None = None,
    ) -> None:
        self.model = model
        self.price = price  # None: a model the price table does not know
        self._api_key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,  # None: the SDK reads ANTHROPIC_BASE_URL, then its default
            timeout=timeout_s,
            max_retries=max_retries,
            middleware=[_QueueOwnsLongWaits()],
            # The SDK's aiohttp transport (aiohttp is ours already): with a thousand calls
            # open the default transport spent the event loop in its connection pool, which
            # scans every connection on each request and response (httpcore's
            # _assign_requests_to_connections); measured with cardforge bench --inflight,
            # this one used half the CPU per call (docs/performance.md).
            http_client=anthropic.DefaultAioHttpClient(),
        )

    async def flashcards(self, material: str, *, max_cards: int, usage: Usage) -> list[CardDraft]:
        prompt = _render("flashcards_request.md", max_cards=max_cards,
                         material=_escape(material))
        output = await self._call(FLASHCARD_TOOL, prompt, usage)
        return output.cards[:max_cards]

    async def distractors(
        self,
        *,
        question: str,
        answer: str,
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[str]:
        prompt = _render(
            "distractors_request.md",
            count=count,
            question=_escape(question),
            answer=_escape(answer),
            other_answers=_tagged_list(
                "other_answers",
                "Answers of other cards in the same deck (candidates, use only if they fit):",
                other_answers,
            ),
            material=_tagged("material", "The material the card was written from:", material),
        )
        output = await self._call(DISTRACTOR_TOOL, prompt, usage)
        return output.distractors

    async def deck_distractors(
        self,
        *,
        cards: list[tuple[str, str]],
        count: int,
        material: str | None,
        other_answers: list[str],
        usage: Usage,
    ) -> list[list[str]]:
        listed = "\n".join(
            f"<card number=\"{n}\">\n<question>{_escape(q)}</question>\n"
            f"<correct_answer>{_escape(a)}</correct_answer>\n</card>"
            for n, (q, a) in enumerate(cards, start=1)
        )
        prompt = _render(
            "deck_distractors_request.md",
            count=count,
            cards=listed,
            other_answers=_tagged_list(
                "other_answers",
                "Answers of the deck's cards (candidates, use only if they fit):",
                other_answers,
            ),
            material=_tagged("material", "The material the deck was written from:", material),
        )
        output = await self._call(DECK_CHOICES_TOOL, prompt, usage)
        by_card = {entry.card: entry.distractors for entry in output.cards}
        return [by_card.get(n, []) for n in range(1, len(cards) + 1)]

    async def skill_tree(
        self,
        *,
        goal: str,
        description: str | None,
        material: str | None,
        max_depth: int,
        usage: Usage,
    ) -> list[NodeDraft]:
        prompt = _render(
            "skill_tree_request.md",
            goal=_escape(goal),
            max_depth=max_depth,
            max_nodes=MAX_TREE_NODES,
            description=_tagged(
                "description", "What the learner says about the goal:", description
            ),
            material=_tagged("material", "Material the learner is studying:", material),
        )
        output = await self._call(SKILL_TREE_TOOL, prompt, usage)
        return output.nodes

    async def aclose(self) -> None:
        await self._client.close()

    async def _call(self, tool: _Tool[OutputT], prompt: str, usage: Usage) -> OutputT:
        messages: list[MessageParam] = [{"role": "user", "content": prompt}]
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=tool.system,
                messages=messages,
                tools=[tool.param],
                tool_choice=tool.choice,
            )
        except anthropic.APIError as err:
            raise self._classify(err) from err
        # Tokens are spent (and billed) even when the output turns out to be unusable.
        reported = message.usage
        usage.add(
            reported.input_tokens, reported.output_tokens,
            cache_write_tokens=reported.cache_creation_input_tokens or 0,
            cache_read_tokens=reported.cache_read_input_tokens or 0,
        )
        if message.stop_reason == "refusal":
            raise PermanentError("The AI declined to work with this material.")
        return _tool_output(tool, message.content, cut_off=message.stop_reason == "max_tokens")

    def _classify(self, err: anthropic.APIError) -> JobError:
        """A short, user-safe error whose type tells the queue whether to retry."""
        if isinstance(err, anthropic.APITimeoutError):
            return RetryableError("The AI service did not answer in time.")
        if isinstance(err, anthropic.APIConnectionError):
            return RetryableError("Could not reach the AI service.")
        if not isinstance(err, anthropic.APIStatusError):
            return RetryableError("The AI service's reply could not be read.")
        status = err.status_code
        retry_after_s = parse_retry_after(err.response.headers)
        if status == 429:
            return ProviderBusy(
                "The AI service was busy (too many requests).",
                retry_after_s=retry_after_s,
            )
        if status == 529:
            return ProviderBusy(
                "The AI service was overloaded.", retry_after_s=retry_after_s
            )
        if status >= 500 or status in (408, 409):  # the SDK's own policy retries 408/409 too
            return RetryableError(
                f"The AI service had a temporary error (HTTP {status}).",
                retry_after_s=retry_after_s,
            )
        if status in (401, 403):
            return PermanentError("The AI service rejected the API key (check ANTHROPIC_API_KEY).")
        if status == 404:
            return PermanentError(
                f"The AI service does not know the model '{self.model}' (check CARDFORGE_MODEL)."
            )
        if status == 400:
            return PermanentError(f"The AI service rejected the request: {self._detail(err)}")
        return PermanentError(
            f"The AI service rejected the request (HTTP {status}): {self._detail(err)}"
        )

    def _detail(self, err: anthropic.APIStatusError) -> str:
        """The provider's own message, one line, bounded, never echoing the key back."""
        detail = " ".join((err.api_message or "no details given").split())
        detail = detail.replace(self._api_key, "[redacted]")
        if len(detail) > PROVIDER_DETAIL_CHARS:
            detail = detail[: PROVIDER_DETAIL_CHARS - 1] + "…"
        return detail


# ---------------------------------------------------------------- helpers of one call


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (Anthropic's, more precise) wins; ``retry-after`` may be seconds
    (integer or, leniently, a float) or an HTTP date. Unparseable or negative values give
    ``None`` so a garbage header never delays a retry.
    """
    ms = _non_negative_float(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _non_negative_float(raw)
    if seconds is not None:
        return seconds
    date = email.utils.parsedate_tz(raw)
    if date is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(date)) - time.time())


def _non_negative_float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _tool_output(tool: _Tool[OutputT], content: list[Any], *, cut_off: bool) -> OutputT:
    block = next((b for b in content if isinstance(b, ToolUseBlock) and b.name == tool.name), None)
    if block is None:
        log.info("reply without a %s call", tool.name)
        raise RetryableError(f"{_FORMAT_ERROR}: it wrote text instead of filling in the form.")
    try:
        return tool.output.model_validate(block.input)
    except ValidationError as err:
        if cut_off:
            raise RetryableError(
                f"{_FORMAT_ERROR}: the reply was cut off at the token limit."
            ) from err
        # the field path is for whoever debugs the prompt, not for the learner
        log.info("%s output failed validation: %s", tool.name, _first_problem(err))
        raise RetryableError(f"{_FORMAT_ERROR}: {_problem_count(err)}.") from err


def _first_problem(err: ValidationError) -> str:
    """``cards.0.question: String should have at least 3 characters`` (no input echoed)."""
    first = err.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "input"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"[:PROVIDER_DETAIL_CHARS]


def _problem_count(err: ValidationError) -> str:
    count = err.error_count()
    return "one part of it was missing or malformed" if count == 1 else (
        f"{count} parts of it were missing or malformed"
    )


@cache
def _prompt_template(name: str) -> str:
    return resources.files("handlers").joinpath("prompts", name).read_text(encoding="utf-8")


def _render(name: str, **values: object) -> str:
    text = _prompt_template(name).format(**values)
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"  # optional blocks leave blank runs


def _escape(text: str) -> str:
    """Neutralise our fence tags in user text, so material cannot close ``<material>`` early
    and smuggle instructions outside it. Other markup (HTML in the material) is left alone."""
    return _FENCE_CLOSE.sub(r"<\\/\1", text)


def _tagged(tag: str, intro: str, text: str | None) -> str:
    if not text or not text.strip():
        return ""
    return f"{intro}\n<{tag}>\n{_escape(text)}\n</{tag}>"


def _tagged_list(tag: str, intro: str, items: list[str]) -> str:
    lines = "\n".join(f"- {' '.join(item.split())}" for item in items if item.strip())
    return _tagged(tag, intro, lines)
