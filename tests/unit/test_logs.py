"""The log formats: JSON lines off a terminal, context fields, and secrets masked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from server.config import SettingsError, load_settings
from server.logs import ContextFilter, JsonFormatter, TextFormatter, log_context, redact


def emit(formatter: logging.Formatter, message: str, *args: object, **extra: object) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.logs.{id(out)}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().strip()


def test_json_line_carries_the_context_of_the_job_it_was_written_for() -> None:
    with log_context(job_id="j1", user_id="u1", type="flashcard_generation", attempt=2):
        line = json.loads(emit(JsonFormatter(), "job %s", "completed", outcome="completed"))
    assert line["msg"] == "job completed" and line["level"] == "info"
    assert (line["job_id"], line["user_id"], line["type"], line["attempt"]) == (
        "j1", "u1", "flashcard_generation", 2)
    assert line["outcome"] == "completed" and line["ts"].endswith("Z")


def test_context_ends_with_its_block() -> None:
    with log_context(job_id="j1"):
        pass
    assert "job_id" not in json.loads(emit(JsonFormatter(), "idle"))


def test_fields_outside_the_known_list_are_never_emitted() -> None:
    """A stray extra= with a payload must not put study text into a log line."""
    line = json.loads(emit(JsonFormatter(), "x", content="private notes", payload={"a": 1}))
    assert "content" not in line and "payload" not in line


@pytest.mark.parametrize("secret", [
    "cf_gwR-pWVVGAyUrY_sy0q6OZZ2TeajRsY62d8Ynj6h1JU",
    "sk-ant-api03-abcdefABCDEF0123456789",
])
def test_credentials_in_a_message_are_masked_in_both_formats(secret: str) -> None:
    for formatter in (JsonFormatter(), TextFormatter()):
        assert secret not in emit(formatter, "failed with %s", secret)
    assert redact(f"GET /login?token={secret}&next=/") == "GET /login?token=[redacted]&next=/"


def test_text_format_appends_the_fields_for_a_person_at_a_terminal() -> None:
    with log_context(job_id="j9"):
        line = emit(TextFormatter(), "job started")
    assert line.endswith("job started [job_id=j9]")


def test_log_level_setting_accepts_any_case_and_names_itself_when_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDFORGE_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"
    monkeypatch.setenv("CARDFORGE_LOG_LEVEL", "loud")
    with pytest.raises(SettingsError, match="CARDFORGE_LOG_LEVEL"):
        load_settings()
