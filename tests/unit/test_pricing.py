"""The price table and a job's bill; the cached prefix being long enough to be cached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.context import Usage
from handlers.pricing import FREE, ModelPrice, PriceTableError, load_price_table
from handlers.providers.anthropic import DEFAULT_MODEL, TOOLS
from server.config import SettingsError, load_settings
from tests.fakes.anthropic_server import cached_prefix, min_cacheable_tokens

SONNET = ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)


def test_packaged_table_prices_the_default_model_and_every_family() -> None:
    table = load_price_table()
    assert table.for_model(DEFAULT_MODEL) == SONNET
    for model in ("claude-opus-4-8", "claude-haiku-4-5-20251001", "claude-sonnet-4-6"):
        assert table.for_model(model) is not None, model
    assert table.for_model("gpt-5") is None


def test_the_longest_matching_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[models."claude-sonnet"]\ninput = 3\noutput = 15\ncache_write = 3.75\ncache_read = 0.3\n'
        '[models."claude-sonnet-4-6"]\ninput = 2\noutput = 10\ncache_write = 2.5\n'
        'cache_read = 0.2\n'
    )
    table = load_price_table(path)
    assert table.for_model("claude-sonnet-4-6").input == 2  # type: ignore[union-attr]
    assert table.for_model("claude-sonnet-5-5").input == 3  # type: ignore[union-attr]


def test_a_bill_adds_each_kind_of_token_at_its_rate() -> None:
    usage = Usage("anthropic", "m", price=SONNET)
    usage.add(10_000, 2_000, cache_write_tokens=1_000, cache_read_tokens=3_000)
    # 10k x $3 + 2k x $15 + 1k x $3.75 + 3k x $0.30, per million
    assert usage.cost_usd == pytest.approx(0.03 + 0.03 + 0.00375 + 0.0009)
    shown = usage.as_json()
    assert shown["costUsd"] == 0.06465
    assert (shown["cacheReadTokens"], shown["cacheWriteTokens"]) == (3_000, 1_000)


def test_an_unknown_price_is_no_cost_rather_than_zero() -> None:
    assert Usage("anthropic", "m").as_json()["costUsd"] is None
    assert Usage("offline", "x", price=FREE).as_json()["costUsd"] == 0


@pytest.mark.parametrize(("text", "problem"), [
    ("not toml [", "not valid TOML"),
    ("[other]\nx = 1\n", "[models."),
    ('[models."m"]\ninput = 1\n', "exactly"),
    ('[models."m"]\ninput = nan\noutput = 1\ncache_write = 1\ncache_read = 1\n', "numbers"),
    ('[models."m"]\ninput = -1\noutput = 1\ncache_write = 1\ncache_read = 1\n', "numbers"),
    ('[models."m"]\ninput = "3"\noutput = 1\ncache_write = 1\ncache_read = 1\n', "numbers"),
    ('[models."m"]\ninput = 1e9\noutput = 1\ncache_write = 1\ncache_read = 1\n', "numbers"),
])
def test_a_bad_price_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str,
) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PriceTableError, match=re.escape(problem)):
        load_price_table(path)


def test_the_price_table_setting_fails_fast_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDFORGE_PRICE_TABLE", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match=r"CARDFORGE_PRICE_TABLE.*cannot be read"):
        load_settings()


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_each_job_types_cached_prefix_is_long_enough_to_be_cached(tool: object) -> None:
    """Anthropic silently ignores cache_control on a prefix under 1,024 tokens (Sonnet and
    Opus): instructions trimmed below that would quietly lose the saving. The fake server's
    estimate (4 characters a token) must clear the minimum with 10% to spare."""
    body = {"model": DEFAULT_MODEL, "tools": [tool.param],  # type: ignore[attr-defined]
            "system": tool.system,  # type: ignore[attr-defined]
            "messages": [{"role": "user", "content": "THE-PER-CALL-PART"}]}
    prefix = cached_prefix(body)
    assert prefix is not None and "THE-PER-CALL-PART" not in prefix
    assert len(prefix) / 4 >= 1.1 * min_cacheable_tokens(DEFAULT_MODEL)
