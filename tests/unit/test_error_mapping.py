"""Domain errors know nothing of HTTP; server.http.errors maps each of them once."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from aiohttp import web

from server import errors
from server.errors import ApiError, RateLimited
from server.http.errors import (
    HTTP_STATUS,
    error_body,
    error_headers,
    http_exception_response,
    http_status,
)


def test_every_domain_error_has_its_own_http_status() -> None:
    classes = [
        obj for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, ApiError)
    ]
    assert classes and all(cls in HTTP_STATUS for cls in classes)


def test_rate_limited_becomes_429_with_retry_after_and_ratelimit_headers() -> None:
    err = RateLimited("Slow down.", job_type="flashcard_generation", limit=20, reset_s=42,
                      retry_after_s=42)
    assert http_status(err) == 429
    assert error_headers(err) == {
        "Retry-After": "42", "RateLimit-Limit": "20", "RateLimit-Remaining": "0",
        "RateLimit-Reset": "42",
    }
    assert error_body(err).model_dump(by_alias=True, exclude_none=True) == {
        "error": "Slow down.", "code": "RATE_LIMITED", "retryAfter": 42,
    }


def test_a_405_keeps_the_allow_header_aiohttp_gave_it() -> None:
    """The fuzzer's unsupported_method check: the JSON body swap dropped ``Allow``."""
    refused = web.HTTPMethodNotAllowed("TRACE", ["GET", "PATCH", "DELETE"])
    response = http_exception_response(refused)
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "PATCH", "DELETE"}
    assert "Allow" not in http_exception_response(web.HTTPNotFound()).headers


def test_an_error_subclass_without_its_own_entry_takes_its_parents_status() -> None:
    class StaleCursor(errors.ValidationFailed):
        pass

    assert http_status(StaleCursor("x")) == 422


# ---------------------------------------------------------------- what people read

ROOT = Path(__file__).resolve().parents[2]
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")  # distractor_generation, max_cards
CAMEL_FIELD = re.compile(r"\b[a-z]+[A-Z][A-Za-z]*\b")  # maxCards, flashcardId
RAW_SECONDS = re.compile(r"(\d|\{\})\s*(s|secs?|seconds)\b")  # "2307 seconds", "{} seconds"
CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+(?:Error|Exception)\b")
# Exceptions whose first argument is a sentence a person reads (on a page, in job.error).
MESSAGE_CLASSES = {
    name for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, ApiError)
} | {"JobError", "RetryableError", "ProviderBusy", "PermanentError", "InvalidTree"}
# Module constants and locals that hold such sentences.
MESSAGE_NAMES = re.compile(
    r"^(message|_?[A-Z_]*(ERROR|MESSAGE|NOTICE|NO_SUCH|INVALID|UNKNOWN)[A-Z_]*)$"
)


def _text(node: ast.expr) -> str | None:
    """A string literal, or an f-string with each ``{...}`` as ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.BinOp):  # "..." "..." split over lines with +
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def user_messages() -> list[tuple[str, str]]:
    """(where, sentence) for every message the server or a handler shows a person."""
    found = []
    for path in [*ROOT.joinpath("server").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        if "bench" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            text, line = None, getattr(node, "lineno", 0)
            if isinstance(node, ast.Call) and _callee(node) in MESSAGE_CLASSES and node.args:
                text = _text(node.args[0])
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and MESSAGE_NAMES.match(t.id) for t in node.targets
            ):
                text = _text(node.value)
            if text is not None:
                found.append((f"{path.relative_to(ROOT)}:{line}", text))
    # the reaper's sentences are written in SQL
    queries = ROOT.joinpath("server", "queue", "queries.py").read_text()
    found += [("server/queue/queries.py (SQL)", m) for m in re.findall(r"THEN '([^']+)'", queries)]
    found += [("server/queue/queries.py (SQL)", m) for m in re.findall(r"\|\| '([^']+)'", queries)]
    found += [("server/queue/queries.py (SQL)", m) for m in re.findall(r"ELSE '([^']+)'", queries)]
    return found


def test_the_message_scan_finds_the_messages() -> None:
    texts = [text for _, text in user_messages()]
    assert len(texts) > 40
    assert any(text.startswith("The server working on this stopped") for text in texts)
    assert "Something unexpected went wrong while generating." in texts


def test_no_message_a_person_reads_shows_internal_names_or_raw_seconds() -> None:
    offenders = []
    for where, text in user_messages():
        # env var names (ANTHROPIC_API_KEY) tell the operator what to set: they may stay
        plain = re.sub(r"\b[A-Z][A-Z0-9_]+\b", "", text)
        for pattern in (SNAKE_CASE, CAMEL_FIELD, RAW_SECONDS, CLASS_NAME):
            if pattern.search(plain):
                offenders.append(f"{where}: {text!r}")
    assert not offenders, "\n".join(offenders)


def test_the_scan_would_catch_the_old_rate_limit_sentence() -> None:
    old = "You can create at most 20 distractor_generation jobs per hour; try again in {} seconds."
    assert SNAKE_CASE.search(old) and RAW_SECONDS.search(old)
    assert CAMEL_FIELD.search("payload.maxCards: too big")


def test_templates_show_no_internal_names_as_text() -> None:
    """The words between the tags of every template (expressions and tags stripped)."""
    offenders = []
    for path in ROOT.joinpath("web", "templates").rglob("*.html"):
        source = path.read_text()
        text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
        text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
        for match in [*SNAKE_CASE.finditer(text), *RAW_SECONDS.finditer(text)]:
            offenders.append(f"{path.name}: {match.group(0)!r}")
    assert not offenders, offenders
