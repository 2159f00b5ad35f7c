"""What a person reads, through real HTTP against a real Postgres: the rate limit's refusal,
a cancelled job, a job waiting to retry, and a skill tree from a goal alone (offline)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg

from handlers.providers.general_outline import GENERAL_OUTLINE_LABEL
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.test_pages import MATERIAL, create_job, sign_in, wait_until_finished
from tests.support.jobs import wait_for

SNAKE_CASE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def job_section(page: str) -> str:
    """The job's live section of a job page (not the layout around it)."""
    start = page.index('<section class="job"')
    return page[start:page.index("</section>", start)]


async def test_rate_limit_says_what_and_when_in_words_and_keeps_the_seconds_for_programs(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0, rate_limit=2)
    alice = await new_user("alice")
    for _ in range(2):
        await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    # the window's oldest job is 21 min 33 s old: it frees a slot in 2307 s
    await db.execute("UPDATE background_jobs SET created_at = now() - interval '1293 seconds'")

    refused = await client.post(
        "/api/jobs", json={"type": "flashcard_generation", "payload": {"content": MATERIAL}},
        headers={"Authorization": alice["Authorization"]},
    )

    assert refused.status == 429
    body = await refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["error"] == "You can make flashcards twice an hour; try again in 39 minutes."
    # the machine-readable parts stay exact seconds
    assert 2300 <= body["retryAfter"] <= 2307
    assert refused.headers["Retry-After"] == str(body["retryAfter"])
    assert refused.headers["RateLimit-Remaining"] == "0"

    await sign_in(client, alice["token"])
    form = await client.post("/jobs", data={"type": "flashcard_generation",
                                             "content": MATERIAL})
    assert form.status == 429
    page = await form.text()
    assert "You can make flashcards twice an hour; try again in 39 minutes." in page
    assert "flashcard_generation jobs" not in page and " seconds" not in page


async def test_a_cancelled_job_is_shown_as_the_learners_choice_not_as_an_error(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})
    await sign_in(client, alice["token"])
    await client.post(f"/jobs/{job['id']}/cancel", allow_redirects=False)

    section = job_section(await (await client.get(f"/jobs/{job['id']}")).text())

    assert "You cancelled this." in section
    assert ">Start again</button>" in section and f'action="/jobs/{job["id"]}/retry"' in section
    assert 'data-role="problem"' not in section and "error-text" not in section
    assert 'role="alert"' not in section and "Generation failed" not in section
    assert "Cancelled by the user." not in section  # the stored reason is not an error
    assert 'class="badge badge-cancelled"' in section

    rows = await (await client.get("/fragments/jobs")).text()
    assert 'class="badge badge-cancelled"' in rows and "badge-failed" not in rows

    again = await client.post(f"/jobs/{job['id']}/retry", allow_redirects=False)
    assert again.status == 303  # "Start again" makes a new job like "Try again" does


async def test_a_job_waiting_to_retry_says_what_happened_and_when(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic, db: asyncpg.Pool
) -> None:
    # the provider asks for 100 s; the backoff floor keeps the retry within 100..120 s
    client = await make_client(
        llm_provider="anthropic", anthropic_api_key="sk-test-secret",
        anthropic_base_url=fake_anthropic.base_url, llm_timeout_seconds=5,
        retry_base_seconds=120, retry_max_seconds=120,
    )
    alice = await new_user("alice")
    fake_anthropic.default = None
    fake_anthropic.push_error(429, retry_after=100)
    job = await create_job(client, alice, "flashcard_generation", {"content": MATERIAL})

    async def waiting() -> bool:
        row = await db.fetchrow("SELECT attempts, status FROM background_jobs")
        return row["attempts"] == 1 and row["status"] == "pending"

    await wait_for(waiting)
    await sign_in(client, alice["token"])
    section = job_section(await (await client.get(f"/jobs/{job['id']}")).text())

    assert ("The AI service was busy (too many requests), so we&#39;ll try again in "
            "2 minutes (attempt 2 of 3).") in section
    assert "seconds" not in section and not SNAKE_CASE.findall(
        re.sub(r"<[^>]*>", " ", section))


async def test_a_skill_tree_from_a_goal_alone_works_offline_and_says_it_is_general(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client()  # no API key: the offline provider
    alice = await new_user("alice")
    job = await create_job(client, alice, "skill_tree_generation",
                           {"goal": "Understand plate tectonics"})

    done = await wait_until_finished(client, alice, job["id"])

    assert done["status"] == "completed", done["error"]
    assert done["result"]["provider"] == "offline"
    tree = await (await client.get(f"/api/skill-trees/{done['result']['treeId']}",
                                   headers={"Authorization": alice["Authorization"]})).json()
    root = next(n for n in tree["nodes"] if n["parentId"] is None)
    assert root["title"] == "Understand plate tectonics"
    assert root["description"] == GENERAL_OUTLINE_LABEL
    assert tree["depth"] == 3 and tree["nodeCount"] == 16
    await sign_in(client, alice["token"])
    page = await (await client.get(f"/jobs/{job['id']}")).text()
    assert "A general outline: add your notes for a tree built from them." in page

    shallow = await create_job(client, alice, "skill_tree_generation",
                               {"goal": "Chess openings", "maxDepth": 2})
    shallow_done = await wait_until_finished(client, alice, shallow["id"])
    assert shallow_done["status"] == "completed"
    assert shallow_done["result"]["depth"] == 2 and shallow_done["result"]["nodeCount"] == 6
    assert uuid.UUID(shallow_done["result"]["treeId"])
