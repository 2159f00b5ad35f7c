"""The cost line on the job page, as a person expects to read it."""

from __future__ import annotations

import pytest

from server.http.cost_text import cost_summary


@pytest.mark.parametrize(("usage", "shown"), [
    ({"provider": "anthropic", "inputTokens": 2_000, "outputTokens": 620,
      "cacheReadTokens": 400, "cacheWriteTokens": 100, "costUsd": 0.01234},
     "$0.0123 · 3,120 tokens"),
    ({"provider": "anthropic", "inputTokens": 2_000_000, "outputTokens": 10_000,
      "costUsd": 6.15}, "$6.15 · 2,010,000 tokens"),
    ({"provider": "anthropic", "inputTokens": 1, "outputTokens": 0, "costUsd": 0.000003},
     "under $0.0001 · 1 token"),
    ({"provider": "offline", "inputTokens": 0, "outputTokens": 0, "costUsd": 0},
     "offline, no cost"),
    ({"provider": "anthropic", "inputTokens": 50, "outputTokens": 5, "costUsd": None},
     "55 tokens, price unknown"),
    # a row written before cost existed: no cache fields, no costUsd
    ({"provider": "anthropic", "inputTokens": 10, "outputTokens": 2}, "12 tokens, price unknown"),
    (None, None),
])
def test_cost_summary(usage: dict[str, object] | None, shown: str | None) -> None:
    assert cost_summary(usage) == shown
