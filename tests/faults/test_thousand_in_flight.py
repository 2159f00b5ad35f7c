"""A thousand jobs in flight in one real ``cardforge serve``, the process killed with SIGKILL
in the middle, a new one started: nothing is lost and nothing is doubled (issue 10).

The LLM is the fake Anthropic API, answering each call after a random 1-5 s, so the
thousand calls are open at once and finish spread out: the kill lands with some jobs
completed, some mid-call, and completions of a batch possibly mid-commit. The replacement
reaps the dead process's leases and runs those jobs again; every job must end completed
exactly once, with one deck and its cards written once (no timing is asserted)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from server.bench.inflight import CREATE_LEARNERS, ENQUEUE_ONE_EACH
from tests.fakes.anthropic_server import FakeAnthropic, JsonDict, Reply, SlowReply, plausible_reply
from tests.support.jobs import wait_for
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.faults

JOBS = 1000
LATENCY_S = (1.0, 5.0)



@pytest.fixture
async def slow_llm() -> AsyncIterator[FakeAnthropic]:
    rng = random.Random(10)

    def answer_later(body: JsonDict) -> Reply:
        return SlowReply(rng.uniform(*LATENCY_S), plausible_reply(body))

    fake = FakeAnthropic(default=answer_later)
    await fake.start()
    yield fake
    await fake.stop()


def serve(database_url: str, llm: FakeAnthropic) -> ServerProcess:
    return ServerProcess(
        database_url, serve=True,
        env={"ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": llm.base_url,
             "CARDFORGE_LOG_LEVEL": "WARNING"},
        # a lease long enough that the live process's renewals never lapse on a loaded
        # 2-core machine (only the killed one's expire), short enough to keep the test short
        llm_provider="anthropic", workers=JOBS, llm_concurrency=JOBS, lease_seconds=8,
    )


async def count(conn: asyncpg.Connection, status: str) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM background_jobs WHERE status = $1", status))


async def test_kill_9_with_a_thousand_jobs_in_flight_loses_and_doubles_nothing(
    database_url: str, slow_llm: FakeAnthropic, servers: list[ServerProcess]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(CREATE_LEARNERS, JOBS)
        await conn.execute(ENQUEUE_ONE_EACH)
        first = serve(database_url, slow_llm)
        servers.append(first)
        await first.start()

        async def in_the_middle() -> bool:  # some done, most still waiting on the LLM
            return await count(conn, "completed") >= JOBS // 10

        await wait_for(in_the_middle, timeout_s=40)
        assert len(slow_llm.requests) > JOBS // 2  # they really were in flight at once
        first.kill()
        done_before = await count(conn, "completed")
        assert done_before < JOBS, "the kill came too late to cut anything off"

        second = serve(database_url, slow_llm)
        servers.append(second)
        await second.start()

        async def all_finished() -> bool:
            return not await conn.fetchval(
                "SELECT count(*) FROM background_jobs WHERE status IN ('pending', 'processing')")

        await wait_for(all_finished, timeout_s=60)
        await assert_each_job_completed_once(conn)
    finally:
        await conn.close()


async def assert_each_job_completed_once(conn: asyncpg.Connection) -> None:
    jobs = await conn.fetch("SELECT id, status, attempts, result FROM background_jobs")
    assert len(jobs) == JOBS
    assert {j["status"] for j in jobs} == {"completed"}
    assert {j["attempts"] for j in jobs} <= {1, 2}  # 2: cut off by the kill, run again
    decks: dict[Any, list[Any]] = {}
    for row in await conn.fetch("SELECT id, job_id FROM decks"):
        decks.setdefault(row["job_id"], []).append(row["id"])
    cards: dict[Any, set[Any]] = {}
    for row in await conn.fetch("SELECT id, job_id, deck_id FROM flashcards"):
        cards.setdefault(row["job_id"], set()).add((str(row["id"]), row["deck_id"]))
    results = {job["id"]: json.loads(job["result"]) for job in jobs}
    for job in jobs:
        result = results[job["id"]]
        assert [str(d) for d in decks.get(job["id"], [])] == [result["deckId"]], job["id"]
        written = cards.get(job["id"], set())
        assert {card_id for card_id, _ in written} == set(result["flashcardIds"]), job["id"]
        assert len(written) == result["count"] >= 1
    # no card of any job outside its job's result, none twice
    assert sum(len(c) for c in cards.values()) == sum(r["count"] for r in results.values())
