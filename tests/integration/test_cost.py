"""What a job cost, end to end: the real SDK against the fake Anthropic server (which keeps a
prompt cache as the API does), the real worker, the Job JSON and /metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from handlers.pricing import load_price_table
from handlers.providers.anthropic import DEFAULT_MODEL
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.test_generation import anthropic_settings, create, settle
from tests.integration.test_pages import sign_in

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus"


def sixty_thousand_characters() -> str:
    text = "\n\n".join(path.read_text() for path in sorted(CORPUS.glob("*.md")))
    while len(text) < 60_000:
        text += "\n\n" + text
    return text[:60_000]


def metric(body: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_long_document_pays_for_its_instructions_once_and_its_cost_is_reported(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic,
) -> None:
    client = await make_client(**anthropic_settings(fake_anthropic))
    user = await new_user()
    headers = {"Authorization": user["Authorization"]}
    job = await create(client, headers, "flashcard_generation",
                       {"content": sixty_thousand_characters(), "maxCards": 50})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]

    calls = fake_anthropic.usages
    assert len(calls) >= 2, "a 60,000-character document is generated in several chunks"
    first, second = calls[0], calls[1]
    assert first["cache_creation_input_tokens"] > 0 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0

    usage = done["usage"]
    assert usage["cacheReadTokens"] == sum(c["cache_read_input_tokens"] for c in calls) > 0
    assert usage["cacheWriteTokens"] == sum(c["cache_creation_input_tokens"] for c in calls)
    assert usage["inputTokens"] == sum(c["input_tokens"] for c in calls)
    price = load_price_table().for_model(DEFAULT_MODEL)
    assert price is not None
    expected = price.cost_usd(
        input_tokens=usage["inputTokens"], output_tokens=usage["outputTokens"],
        cache_write_tokens=usage["cacheWriteTokens"], cache_read_tokens=usage["cacheReadTokens"],
    )
    assert usage["costUsd"] > 0 and abs(usage["costUsd"] - expected) < 1e-6

    # The same tokens with no cache: every chunk pays its prefix at the full input rate.
    uncached = price.cost_usd(
        input_tokens=usage["inputTokens"] + usage["cacheReadTokens"] + usage["cacheWriteTokens"],
        output_tokens=usage["outputTokens"], cache_write_tokens=0, cache_read_tokens=0,
    )
    assert usage["costUsd"] < uncached
    prefix = first["cache_creation_input_tokens"]
    # a later job reads on its first chunk what this one wrote
    later_job_saves = prefix * (price.cache_write - price.cache_read) / 1_000_000
    print(f"\n60,000 characters, {len(calls)} chunks, cached prefix {prefix:,} tokens: "
          f"${usage['costUsd']:.4f} with caching, ${uncached:.4f} without "
          f"(input {usage['inputTokens']:,}, cache write {usage['cacheWriteTokens']:,}, "
          f"cache read {usage['cacheReadTokens']:,}, output {usage['outputTokens']:,}); "
          f"a later job within 5 minutes: ${usage['costUsd'] - later_job_saves:.4f}")

    await sign_in(client, user["token"])
    page = await (await client.get(f"/jobs/{job['id']}")).text()
    spent = sum(usage[key] for key in ("inputTokens", "outputTokens", "cacheReadTokens",
                                       "cacheWriteTokens"))
    assert f"Generation cost: ${usage['costUsd']:.4f} · {spent:,} tokens" in page

    body = await (await client.get("/metrics")).text()
    assert abs(metric(body, "cardforge_llm_cost_usd_total", model=DEFAULT_MODEL)
               - usage["costUsd"]) < 1e-5
    for kind, key in (("input", "inputTokens"), ("output", "outputTokens"),
                      ("cache_read", "cacheReadTokens"), ("cache_write", "cacheWriteTokens")):
        assert metric(body, "cardforge_llm_tokens_total", model=DEFAULT_MODEL,
                      kind=kind) == usage[key]


async def test_an_offline_job_costs_nothing_and_says_so(
    make_client: Any, new_user: Any,
) -> None:
    client = await make_client(llm_provider="offline")
    user = await new_user()
    headers = {"Authorization": user["Authorization"]}
    job = await create(client, headers, "flashcard_generation",
                       {"content": (CORPUS / "photosynthesis.md").read_text()})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["usage"]["costUsd"] == 0 and done["usage"]["provider"] == "offline"
    assert done["usage"]["cacheReadTokens"] == done["usage"]["cacheWriteTokens"] == 0
    await sign_in(client, user["token"])
    page = await (await client.get(f"/jobs/{job['id']}")).text()
    assert "Generation cost: offline, no cost" in page
