"""A job's cost as a person reads it: "$0.0123 · 3,120 tokens", or "offline, no cost"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens")


def dollars(amount: float) -> str:
    """Four decimals under a dollar (a chunk costs fractions of a cent), cents above."""
    if amount == 0:
        return "$0"
    if amount < 0.0001:
        return "under $0.0001"
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"


def tokens(count: int) -> str:
    return f"{count:,} token{'' if count == 1 else 's'}"


def cost_summary(usage: Mapping[str, Any] | None) -> str | None:
    """None when there is nothing to say yet (no usage recorded)."""
    if not usage:
        return None
    if usage.get("provider") == "offline":
        return "offline, no cost"
    spent = sum(int(usage.get(key) or 0) for key in TOKEN_KEYS)
    cost = usage.get("costUsd")
    if cost is None:
        return f"{tokens(spent)}, price unknown"
    return f"{dollars(float(cost))} · {tokens(spent)}"
