"""``cardforge bench --offline``: the offline generator's speed through the real handler."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from handlers.context import JobContext, NoLookups
from handlers.flashcards import generate_flashcards
from handlers.models import FlashcardPayload
from handlers.providers.offline import OfflineGenerator


async def offline_generation_speed(path: str, *, chars: int, repeat: int) -> int:
    """Cards per second of the offline provider through the real flashcard handler, on the
    text at ``path`` repeated or cut to ``chars`` characters (chunked as a job would be)."""
    text = Path(path).read_text(encoding="utf-8")
    document = ((text.strip() + "\n\n") * (chars // max(len(text), 1) + 1))[:chars]
    generator = OfflineGenerator()

    async def progress(_update: dict[str, object]) -> None:
        return None

    payload = FlashcardPayload(content=document, max_cards=50)
    timings: list[float] = []
    cards = 0
    for _ in range(repeat):
        ctx = JobContext(generator=generator, lookups=NoLookups(), progress=progress)
        began = time.perf_counter()
        deck = await generate_flashcards(payload, ctx)
        timings.append(time.perf_counter() - began)
        cards = len(deck.cards)
    median = statistics.median(timings)
    print(f"offline generation: {len(document)} characters, {cards} cards in "
          f"{median * 1000:.0f} ms (median of {repeat}) = {cards / median:.0f} cards/s, "
          f"{len(document) / median:,.0f} characters/s")
    return 0
