"""LLM providers behind the :class:`~handlers.generator.StudyGenerator` interface.

Each provider is imported only when chosen, so the offline provider never loads the
Anthropic SDK and a missing optional provider cannot break the other.
"""

from __future__ import annotations

from handlers.generator import StudyGenerator

PROVIDERS = ("anthropic", "offline")


def build_generator(
    provider: str,
    *,
    api_key: str | None,
    model: str | None,
    base_url: str | None,
    timeout_s: float,
) -> StudyGenerator:
    """The generator the settings ask for; ``ValueError`` (one clear line) if they cannot work."""
    if provider == "anthropic":
        if not api_key:
            raise ValueError("CARDFORGE_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY to be set.")
        from handlers.providers.anthropic import DEFAULT_MODEL, AnthropicGenerator

        return AnthropicGenerator(
            api_key, model=model or DEFAULT_MODEL, base_url=base_url, timeout_s=timeout_s
        )
    if provider == "offline":
        from handlers.providers.offline import OfflineGenerator

        return OfflineGenerator()
    raise ValueError(
        f"Unknown CARDFORGE_LLM_PROVIDER {provider!r}; expected one of: {', '.join(PROVIDERS)}."
    )
