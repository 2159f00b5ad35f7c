"""LLM providers behind the :class:`~handlers.generator.StudyGenerator` interface.

Each provider is imported only when chosen, so the offline provider never loads the
Anthropic SDK and a missing optional provider cannot break the other.
"""

from __future__ import annotations

from enum import StrEnum

from handlers.generator import StudyGenerator
from handlers.pricing import PriceTable, load_price_table
from handlers.providers.cpu import CpuRunner


class Provider(StrEnum):
    """The generators there are; settings (CARDFORGE_LLM_PROVIDER) are validated against
    this one list."""

    ANTHROPIC = "anthropic"
    OFFLINE = "offline"


def check_provider(provider: str, *, api_key: str | None) -> Provider:
    """The provider named, if it can work with these credentials; else ``ValueError`` with
    one line naming the setting to fix. Settings and ``build_generator`` both ask here."""
    try:
        chosen = Provider(provider)
    except ValueError:
        names = ", ".join(p.value for p in Provider)
        raise ValueError(
            f"Unknown CARDFORGE_LLM_PROVIDER {provider!r}; expected one of: {names}."
        ) from None
    if chosen is Provider.ANTHROPIC and not api_key:
        raise ValueError("CARDFORGE_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY to be set.")
    return chosen


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
    if check_provider(provider, api_key=api_key) is Provider.ANTHROPIC:
        from handlers.providers.anthropic import DEFAULT_MODEL, AnthropicGenerator

        assert api_key is not None  # check_provider refused a missing key
        chosen = model or DEFAULT_MODEL
        table = prices if prices is not None else load_price_table()
        return AnthropicGenerator(
            api_key, model=chosen, base_url=base_url, timeout_s=timeout_s,
            price=table.for_model(chosen),
        )
    from handlers.providers.offline import OfflineGenerator

    return OfflineGenerator(cpu)
