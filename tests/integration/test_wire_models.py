"""The JSON the API serves is dumped from the same pydantic models the OpenAPI document is
generated from, and creating a job is one service: one metric count per job, whichever
door (JSON API, page form, retry) it came through."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from server.queue.jobs import Job
from server.store.models import Flashcard, SkillTree
from tests.support.jobs import ScriptedJobs, wait_for

FLASH = "flashcard_generation"
CONTRACT_JOB_FIELDS = {
    "id", "type", "status", "payload", "result", "error", "priority", "attempts",
    "maxAttempts", "progress", "retryOf", "cancelRequested", "createdAt", "startedAt",
    "completedAt", "nextRetryAt", "usage", "version",
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


async def metric(client: Any, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_served_job_has_exactly_the_contract_fields_and_the_documented_schema(
    make_client: Any, new_user: Any, scripted: ScriptedJobs
) -> None:
    client = await make_client(scripted.registry(), workers=1)
    headers = {"Authorization": (await new_user())["Authorization"]}
    created = await (await client.post(
        "/api/jobs", json={"type": FLASH, "payload": {"content": "instant"}}, headers=headers
    )).json()

    async def done() -> bool:
        job = await (await client.get(f"/api/jobs/{created['id']}", headers=headers)).json()
        return bool(job["status"] == "completed")

    await wait_for(done)
    job = await (await client.get(f"/api/jobs/{created['id']}", headers=headers)).json()
    assert set(job) == CONTRACT_JOB_FIELDS
    # times keep the +00:00 form clients have always parsed (pydantic alone would write Z)
    assert ISO_WITH_OFFSET.match(job["createdAt"]) and ISO_WITH_OFFSET.match(job["completedAt"])
    assert Job.model_validate(job).model_dump(mode="json", by_alias=True) == job
    document = await (await client.get("/api/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["Job"]["properties"]) == CONTRACT_JOB_FIELDS
    assert set(schemas["Job"]["required"]) == CONTRACT_JOB_FIELDS


async def test_flashcard_and_tree_json_round_trip_through_their_models(
    make_client: Any, new_user: Any
) -> None:
    client = await make_client(workers=1)
    headers = {"Authorization": (await new_user())["Authorization"]}
    material = "Osmosis is the movement of water across a membrane. " * 3
    jobs = [
        await (await client.post("/api/jobs", json=body, headers=headers)).json()
        for body in (
            {"type": FLASH, "payload": {"content": material}},
            {"type": "skill_tree_generation", "payload": {"goal": "Learn cells",
                                                          "content": "# Cells\n## Water"}},
        )
    ]
    finished: dict[str, dict[str, Any]] = {}

    async def both_done() -> bool:
        for job in jobs:
            finished[job["id"]] = await (
                await client.get(f"/api/jobs/{job['id']}", headers=headers)
            ).json()
        return all(j["status"] == "completed" for j in finished.values())

    await wait_for(both_done, timeout_s=30)
    cards = await (await client.get(f"/api/flashcards?jobId={jobs[0]['id']}",
                                    headers=headers)).json()
    card = await (await client.get(f"/api/flashcards/{cards['flashcards'][0]['id']}",
                                   headers=headers)).json()
    assert card == {**cards["flashcards"][0], "distractors": []}
    assert Flashcard.model_validate(card).model_dump(mode="json", by_alias=True) == card
    tree_id = finished[jobs[1]["id"]]["result"]["treeId"]
    tree = await (await client.get(f"/api/skill-trees/{tree_id}", headers=headers)).json()
    assert tree["nodes"][0]["parentId"] is None
    assert SkillTree.model_validate(tree).model_dump(mode="json", by_alias=True) == tree


async def test_a_job_is_counted_once_whether_made_by_the_api_the_page_form_or_a_retry(
    make_client: Any, new_user: Any, scripted: ScriptedJobs
) -> None:
    client = await make_client(scripted.registry(), workers=1)
    alice = await new_user()
    headers = {"Authorization": alice["Authorization"]}
    api_job = await (await client.post(
        "/api/jobs", json={"type": FLASH, "payload": {"content": "permanent"}}, headers=headers
    )).json()
    signed_in = await client.post("/login", data={"token": alice["token"]},
                                  allow_redirects=False)
    assert signed_in.status == 303
    form = await client.post("/jobs", data={"type": FLASH, "content": "instant"},
                             allow_redirects=False)
    assert form.status == 303

    async def failed() -> bool:
        job = await (await client.get(f"/api/jobs/{api_job['id']}", headers=headers)).json()
        return bool(job["status"] == "failed")

    await wait_for(failed)
    retried = await client.post(f"/jobs/{api_job['id']}/retry", allow_redirects=False)
    assert retried.status == 303
    assert await metric(client, "cardforge_jobs_enqueued_total", type=FLASH) == 3


async def test_a_refused_job_is_counted_as_rate_limited_and_not_as_enqueued(
    make_client: Any, new_user: Any, scripted: ScriptedJobs
) -> None:
    client = await make_client(scripted.registry(), workers=0, rate_limit=1)
    headers = {"Authorization": (await new_user())["Authorization"]}
    body = {"type": FLASH, "payload": {"content": "instant"}}
    assert (await client.post("/api/jobs", json=body, headers=headers)).status == 201
    refused = await client.post("/api/jobs", json=body, headers=headers)
    assert refused.status == 429
    assert refused.headers["RateLimit-Limit"] == "1"
    assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]
    assert await metric(client, "cardforge_jobs_rate_limited_total", type=FLASH) == 1
    assert await metric(client, "cardforge_jobs_enqueued_total", type=FLASH) == 1
