"""What tokens cost: a per-model price table read from a TOML file (``model_prices.toml`` in
this package unless a setting names another) and the arithmetic of one job's bill."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PER_TOKENS = 1_000_000  # prices are per million tokens
PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")
MAX_PRICE_USD = 10_000.0  # per million tokens: anything above is a typo, not a rate


class PriceTableError(ValueError):
    """The price file is unreadable or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost_usd(self, *, input_tokens: int, output_tokens: int, cache_write_tokens: int,
                 cache_read_tokens: int) -> float:
        total = (input_tokens * self.input + output_tokens * self.output
                 + cache_write_tokens * self.cache_write + cache_read_tokens * self.cache_read)
        return total / PER_TOKENS


FREE = ModelPrice(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, ModelPrice]

    def for_model(self, model: str) -> ModelPrice | None:
        """The entry with the longest key that ``model`` starts with, or None."""
        matches = [key for key in self.prices if model.startswith(key)]
        return self.prices[max(matches, key=len)] if matches else None


def _parse(text: str, source: str) -> PriceTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PriceTableError(f"{source}: not valid TOML ({err})") from None
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise PriceTableError(f"{source}: needs a [models.\"NAME\"] table per model")
    prices: dict[str, ModelPrice] = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or set(entry) != set(PRICE_FIELDS):
            raise PriceTableError(
                f"{source}: models.{name} must set exactly {', '.join(PRICE_FIELDS)}"
            )
        values = [entry[field] for field in PRICE_FIELDS]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                   and 0 <= v <= MAX_PRICE_USD for v in values):
            raise PriceTableError(
                f"{source}: models.{name} prices must be numbers from 0 to {MAX_PRICE_USD:g}"
            )
        prices[name] = ModelPrice(*(float(v) for v in values))
    return PriceTable(prices)


def load_price_table(path: Path | None = None) -> PriceTable:
    """The packaged table, or the file at ``path`` (which replaces it entirely)."""
    if path is None:
        text = resources.files("handlers").joinpath("model_prices.toml").read_text("utf-8")
        return _parse(text, "model_prices.toml")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PriceTableError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    return _parse(text, str(path))
