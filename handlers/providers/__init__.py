"""LLM providers behind the :class:`~handlers.generator.StudyGenerator` interface.

Each provider is imported only when chosen, so the offline provider never loads the
Anthropic SDK and a missing optional provider cannot break the other.
"""

from __future__ import annotations

from handlers.generator import StudyGenerator
from handlers.pricing import PriceTable, load_price_table
from handlers.providers.cpu import CpuRunner

PROVIDERS = ("anthropic", "offline")


def build_generator(
    provider: str,
    *,
    api_key: str | None,
    model: str | None,
    base_url: str | None,
    timeout_s: float,
    cpu: CpuRunner | None = None,
    prices: PriceTable | None = None,
) -> StudyGenerator:
    """The generator the settings ask for; ``ValueError`` (one clear line) if they cannot work.

    ``cpu`` is where a local generator runs its computation (the server's process pool);
    ``prices`` the price table a paid provider's usage is costed with (the packaged one).
    """
    if provider == "anthropic":
        if not api_key:
            raise ValueError("CARDFORGE_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY to be set.")
        from handlers.providers.anthropic import DEFAULT_MODEL, AnthropicGenerator

        chosen = model or DEFAULT_MODEL
        table = prices if prices is not None else load_price_table()
        return AnthropicGenerator(
            api_key, model=chosen, base_url=base_url, timeout_s=timeout_s,
            price=table.for_model(chosen),
        )
    if provider == "offline":
        from handlers.providers.offline import OfflineGenerator

        return OfflineGenerator(cpu)
    raise ValueError(
        f"Unknown CARDFORGE_LLM_PROVIDER {provider!r}; expected one of: {', '.join(PROVIDERS)}."
    )
