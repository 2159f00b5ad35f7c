"""Generation end to end: HTTP → queue → worker → provider → fenced persistence → read API.

The Anthropic path uses the real SDK against the fake Anthropic server on localhost; the
offline path is the real extractive generator.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, ToolOutput
from tests.support.jobs import wait_for

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus"
PHOTOSYNTHESIS = (CORPUS / "photosynthesis.md").read_text()


async def create(client: Any, headers: dict[str, str], job_type: str, payload: dict) -> dict:
    resp = await client.post("/api/jobs", json={"type": job_type, "payload": payload},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def settle(client: Any, headers: dict[str, str], job_id: str, *statuses: str) -> dict:
    job: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal job
        job = await (await client.get(f"/api/jobs/{job_id}", headers=headers)).json()
        return job["status"] in statuses

    await wait_for(reached, timeout_s=30)
    return job


@pytest.fixture
async def offline(make_client: Any, new_user: Any) -> Any:
    client = await make_client(llm_provider="offline")
    return client, {"Authorization": (await new_user("alice"))["Authorization"]}


def anthropic_settings(fake: FakeAnthropic, **extra: Any) -> dict[str, Any]:
    return {"llm_provider": "anthropic", "anthropic_api_key": "sk-test-secret",
            "anthropic_base_url": fake.base_url, "llm_timeout_seconds": 5, **extra}


async def test_offline_flashcards_skill_tree_and_quiz_from_pasted_notes(offline: Any) -> None:
    client, headers = offline
    job = await create(client, headers, "flashcard_generation",
                       {"content": PHOTOSYNTHESIS, "maxCards": 8})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert done["result"]["provider"] == "offline" and done["result"]["count"] >= 4
    assert done["usage"]["provider"] == "offline"
    cards = (await (await client.get(f"/api/flashcards?jobId={job['id']}",
                                     headers=headers)).json())["flashcards"]
    assert [c["id"] for c in cards] == done["result"]["flashcardIds"]
    assert all(c["answer"].lower() in " ".join(PHOTOSYNTHESIS.split()).lower() for c in cards)

    card = cards[0]
    quiz = await create(client, headers, "distractor_generation",
                        {"flashcardId": card["id"], "count": 3})
    quiz_done = await settle(client, headers, quiz["id"], "completed", "failed")
    assert quiz_done["status"] == "completed", quiz_done["error"]
    full = await (await client.get(f"/api/flashcards/{card['id']}", headers=headers)).json()
    texts = [d["text"].casefold() for d in full["distractors"]]
    assert texts and len(set(texts)) == len(texts) and card["answer"].casefold() not in texts

    tree_job = await create(client, headers, "skill_tree_generation",
                            {"goal": "Understand photosynthesis", "content": PHOTOSYNTHESIS,
                             "maxDepth": 3})
    tree_done = await settle(client, headers, tree_job["id"], "completed", "failed")
    assert tree_done["status"] == "completed", tree_done["error"]
    tree = await (await client.get(f"/api/skill-trees/{tree_done['result']['treeId']}",
                                   headers=headers)).json()
    roots = [n for n in tree["nodes"] if n["parentId"] is None]
    assert len(roots) == 1 and roots[0]["depth"] == 1
    assert tree["nodeCount"] == len(tree["nodes"]) and tree["depth"] <= 3
    titles = {n["title"] for n in tree["nodes"]}
    # Skills, not the headings copied (issue 12): "Where It Happens", "The Calvin Cycle".
    assert {"Explain where it happens", "Describe the Calvin cycle"} <= titles
    # The tree's cards: the tree is their goal, each is linked to its section's node.
    resp = await client.get(f"/api/flashcards?goalId={tree['id']}", headers=headers)
    linked = (await resp.json())["flashcards"]
    node_ids = {n["id"] for n in tree["nodes"] if n["parentId"] is not None}
    assert linked and all(c["nodeId"] in node_ids | {roots[0]["id"]} for c in linked)
    assert len({c["nodeId"] for c in linked}) >= 2


async def test_offline_skill_tree_without_material_is_a_general_outline_on_the_first_try(
    offline: Any
) -> None:
    client, headers = offline
    job = await create(client, headers, "skill_tree_generation", {"goal": "Learn Rust"})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed" and done["attempts"] == 1, done["error"]
    tree = await (await client.get(f"/api/skill-trees/{done['result']['treeId']}",
                                   headers=headers)).json()
    assert tree["nodes"][0]["description"].startswith("A general outline")


async def test_study_material_of_another_user_is_404(offline: Any, new_user: Any) -> None:
    client, headers = offline
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})
    done = await settle(client, headers, job["id"], "completed")
    bob = {"Authorization": (await new_user("bob"))["Authorization"]}
    card_id = done["result"]["flashcardIds"][0]
    assert (await client.get(f"/api/flashcards/{card_id}", headers=bob)).status == 404
    listing = await (await client.get(f"/api/flashcards?jobId={job['id']}", headers=bob)).json()
    assert listing == {"flashcards": []}
    resp = await client.post("/api/jobs", headers=bob, json={
        "type": "distractor_generation", "payload": {"flashcardId": card_id}})
    assert resp.status == 422


async def test_anthropic_cards_through_the_real_sdk_with_usage_recorded(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic
) -> None:
    client = await make_client(**anthropic_settings(fake_anthropic))
    headers = {"Authorization": (await new_user())["Authorization"]}
    fake_anthropic.push_tool_output(
        {"cards": [{"question": "What pigment absorbs red and blue light?",
                    "answer": "Chlorophyll"},
                   {"question": "Where does the Calvin cycle take place?",
                    "answer": "The stroma"}]},
        input_tokens=1200, output_tokens=80,
    )
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert done["result"]["count"] == 2 and done["result"]["provider"] == "anthropic"
    assert done["usage"]["inputTokens"] == 1200 and done["usage"]["outputTokens"] == 80
    assert done["usage"]["provider"] == "anthropic"
    request = fake_anthropic.requests[0]
    assert request.body["tool_choice"] == {"type": "tool", "name": "record_flashcards"}
    assert "Chlorophyll is the" in str(request.body["messages"])


async def test_60k_document_makes_four_calls_four_progress_events_and_no_duplicates(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic, db: asyncpg.Pool
) -> None:
    client = await make_client(**anthropic_settings(fake_anthropic))
    headers = {"Authorization": (await new_user())["Authorization"]}
    paragraphs = [f"Paragraph {i}. " + "Photosynthesis makes sugar from light. " * 10
                  for i in range(150)]
    document = "\n\n".join(paragraphs)[:60_000]
    assert len(document) == 60_000
    same_card = {"question": "What does photosynthesis make?", "answer": "Sugar"}
    for chunk in range(4):
        fake_anthropic.push_tool_output(
            {"cards": [same_card, {"question": f"What is chunk {chunk}?", "answer": f"C{chunk}"}]}
        )
    job = await create(client, headers, "flashcard_generation",
                       {"content": document, "maxCards": 50})
    progress_seen: set[int] = set()

    async def finished() -> bool:
        row = await db.fetchrow("SELECT status, progress FROM background_jobs")
        if row["progress"]:
            progress_seen.add(row["progress"]["chunk"])
        return row["status"] == "completed"

    await wait_for(finished, timeout_s=30, interval_s=0.01)
    assert len(fake_anthropic.requests) == 4
    done = await settle(client, headers, job["id"], "completed")
    assert done["progress"] == {"chunk": 4, "chunks": 4, "cards": 5}
    questions = await db.fetch("SELECT question FROM flashcards")
    assert len(questions) == 5 == len({q["question"] for q in questions})
    # one progress event per chunk: four versions bumped by progress (and seen last as 4)
    assert 4 in progress_seen


@pytest.mark.parametrize(
    ("script", "expect_status", "error_part"),
    [
        ({"status": 429, "retry_after": 7}, "pending", "busy"),
        ({"status": 529}, "pending", "overloaded"),
        ({"status": 500}, "pending", "AI service"),
        ({"status": 401}, "failed", "API key"),
        ({"status": 400, "message": "prompt is too long"}, "failed", "prompt is too long"),
        ({"text": True}, "pending", "expected format"),
        ({"invalid": True}, "pending", "expected format"),
    ],
    ids=["429", "529", "500", "401", "400", "text-only", "invalid-tool-input"],
)
async def test_each_provider_failure_ends_in_the_documented_job_state(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic, db: asyncpg.Pool,
    script: dict[str, Any], expect_status: str, error_part: str,
) -> None:
    # a long backoff floor so a retryable job stays visibly pending for the assertions
    client = await make_client(**anthropic_settings(
        fake_anthropic, retry_base_seconds=60, retry_max_seconds=60))
    headers = {"Authorization": (await new_user())["Authorization"]}
    fake_anthropic.default = None  # anything unscripted is a loud 400
    for _ in range(2):  # the SDK may retry a 5xx once (max_retries=1)
        if "status" in script:
            fake_anthropic.push_error(script["status"], message=script.get("message"),
                                      retry_after=script.get("retry_after"))
        elif "text" in script:
            fake_anthropic.push_text()
        else:
            fake_anthropic.push_invalid_tool_output()
    before = dt.datetime.now(dt.UTC)
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})

    async def attempted() -> bool:
        row = await db.fetchrow("SELECT attempts, status FROM background_jobs")
        return row["attempts"] == 1 and row["status"] != "processing"

    await wait_for(attempted)
    done = await (await client.get(f"/api/jobs/{job['id']}", headers=headers)).json()
    assert done["status"] == expect_status and done["attempts"] == 1
    assert error_part.lower() in done["error"].lower()
    assert "sk-test-secret" not in done["error"] and "Traceback" not in done["error"]
    if expect_status == "pending":
        next_retry = dt.datetime.fromisoformat(done["nextRetryAt"])
        floor = script.get("retry_after", 0)
        assert next_retry >= before + dt.timedelta(seconds=floor)
    else:
        assert done["nextRetryAt"] is None and done["completedAt"] is not None


async def test_a_hanging_provider_times_out_and_the_job_is_retried(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic
) -> None:
    client = await make_client(**anthropic_settings(
        fake_anthropic, llm_timeout_seconds=0.3, retry_base_seconds=0.05,
        retry_max_seconds=0.05))
    headers = {"Authorization": (await new_user())["Authorization"]}
    fake_anthropic.push_hang()
    fake_anthropic.push_hang()  # the SDK's one retry of a timeout
    fake_anthropic.push_tool_output({"cards": [{"question": "What is ATP?",
                                                "answer": "An energy carrier"}]})
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})
    done = await settle(client, headers, job["id"], "completed", "failed")
    assert done["status"] == "completed" and done["attempts"] == 2


async def test_a_rerun_after_a_lost_lease_leaves_exactly_one_set_of_cards(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic, db: asyncpg.Pool
) -> None:
    client = await make_client(**anthropic_settings(fake_anthropic), workers=2)
    headers = {"Authorization": (await new_user())["Authorization"]}
    cards = {"cards": [{"question": "What is the stroma?", "answer": "The fluid around "
                        "the thylakoids"}]}
    fake_anthropic.push_slow(1.5, then=ToolOutput(cards))
    fake_anthropic.push_tool_output(cards)
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})
    job_id = uuid.UUID(job["id"])

    async def first_call_in_flight() -> bool:
        return len(fake_anthropic.requests) == 1

    await wait_for(first_call_in_flight)
    # What the reaper does to a job whose lease ran out: the first run is now a zombie.
    await db.execute(
        """UPDATE background_jobs SET status = 'pending', worker_id = NULL,
           locked_until = NULL, run_at = now() WHERE id = $1""", job_id)
    done = await settle(client, headers, job["id"], "completed")
    assert done["attempts"] == 2

    async def zombie_was_fenced_off() -> bool:
        metrics = await (await client.get("/metrics")).text()
        return 'outcome="lost",type="flashcard_generation"} 1.0' in metrics

    await wait_for(zombie_was_fenced_off)
    assert await db.fetchval("SELECT count(*) FROM flashcards") == 1
    final = await db.fetchrow("SELECT status, attempts FROM background_jobs")
    assert tuple(final) == ("completed", 2)



async def test_a_429_from_the_provider_halves_the_process_wide_llm_concurrency_limit(
    make_client: Any, new_user: Any, fake_anthropic: FakeAnthropic, db: asyncpg.Pool
) -> None:
    client = await make_client(**anthropic_settings(
        fake_anthropic, llm_concurrency=40, retry_base_seconds=0.05, retry_max_seconds=0.1))
    headers = {"Authorization": (await new_user())["Authorization"]}

    async def limit_metric() -> float:
        text = await (await client.get("/metrics")).text()
        line = next(li for li in text.splitlines()
                    if li.startswith("cardforge_llm_concurrency_limit "))
        return float(line.split()[1])

    assert await limit_metric() == 40
    fake_anthropic.push_error(429, retry_after=0)
    job = await create(client, headers, "flashcard_generation", {"content": PHOTOSYNTHESIS})
    done = await settle(client, headers, job["id"], "completed")
    assert done["attempts"] == 2  # the 429 was retried by the queue
    assert 20 <= await limit_metric() < 40  # halved once, grown back a little by the success
