"""The process-wide LLM concurrency limit: additive increase, multiplicative decrease."""

from __future__ import annotations

import asyncio

import pytest

from handlers.errors import ProviderBusy, RetryableError
from server.llm_limit import AdaptiveLimit


async def test_never_more_calls_in_flight_than_the_limit() -> None:
    limit = AdaptiveLimit(5)
    release = asyncio.Event()

    async def call() -> None:
        async with limit.call():
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(20)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert limit.in_flight == 5
    release.set()
    await asyncio.gather(*tasks)
    assert limit.peak == 5 and limit.in_flight == 0


async def test_a_burst_of_429s_halves_the_limit_once_per_round_then_successes_grow_it_back(
) -> None:
    limit = AdaptiveLimit(64)
    gate = asyncio.Event()

    async def busy() -> None:
        async with limit.call():
            await gate.wait()
            raise ProviderBusy("rate limited", retry_after_s=1)

    # 32 calls that all started under the same limit answer 429: one cut, not 32
    burst = [asyncio.create_task(busy()) for _ in range(32)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(r, ProviderBusy) for r in results)
    assert int(limit.limit) == 32
    with pytest.raises(ProviderBusy):  # a call started after the cut cuts again
        async with limit.call():
            raise ProviderBusy("still busy")
    assert int(limit.limit) == 16
    for _ in range(16 * 4):
        async with limit.call():
            pass
    assert 18 <= int(limit.limit) <= 21  # about one more per round of successes
    for _ in range(5000):
        async with limit.call():
            pass
    assert int(limit.limit) == 64  # and never past the configured maximum


async def test_other_errors_do_not_cut_the_limit() -> None:
    limit = AdaptiveLimit(8)
    with pytest.raises(RetryableError):
        async with limit.call():
            raise RetryableError("timeout")
    assert int(limit.limit) == 8


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    limit = AdaptiveLimit(1)
    hold = asyncio.Event()

    async def holder() -> None:
        async with limit.call():
            await hold.wait()

    async def waiter() -> str:
        async with limit.call():
            return "ran"

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled, patient = asyncio.create_task(waiter()), asyncio.create_task(waiter())
    await asyncio.sleep(0)
    cancelled.cancel()
    hold.set()
    await first
    assert await asyncio.wait_for(patient, 5) == "ran"


def test_every_llm_call_of_the_generator_protocol_passes_through_the_limit() -> None:
    """A method added to StudyGenerator but not to LimitedGenerator would reach the inner
    generator through ``__getattr__`` and bypass the limit (deck_distractors once did)."""
    import inspect

    from handlers.generator import StudyGenerator
    from server.llm_limit import LimitedGenerator

    calls = {
        name for name, member in vars(StudyGenerator).items()
        if inspect.iscoroutinefunction(member) and name != "aclose"
    }
    assert calls, "the protocol lists no LLM calls"
    assert calls <= set(vars(LimitedGenerator)), calls - set(vars(LimitedGenerator))


async def test_answer_choices_for_a_whole_deck_count_against_the_limit() -> None:
    from handlers.context import Usage
    from server.llm_limit import LimitedGenerator
    from tests.support.generators import DeterministicGenerator

    limit = AdaptiveLimit(3)
    generator = LimitedGenerator(DeterministicGenerator(), limit)
    await generator.deck_distractors(
        cards=[("What is x?", "x")], count=3, material="x is y.", other_answers=[],
        usage=Usage(provider="test", model="test"),
    )
    assert limit.peak == 1
