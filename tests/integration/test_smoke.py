from __future__ import annotations

from typing import Any

from tests.support.jobs import wait_for


async def test_job_created_over_http_is_run_by_a_worker(make_client: Any, scripted: Any,
                                                         new_user: Any) -> None:
    client = await make_client(scripted.registry())
    alice = await new_user("alice")
    headers = {"Authorization": alice["Authorization"]}
    resp = await client.post("/api/jobs", json={"type": "flashcard_generation",
                                                "payload": {"content": "instant"}},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    job = await resp.json()
    assert resp.headers["RateLimit-Remaining"] == "19"

    async def done() -> bool:
        r = await client.get(f"/api/jobs/{job['id']}", headers=headers)
        return (await r.json())["status"] == "completed"

    await wait_for(done)
