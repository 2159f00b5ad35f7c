"""The short-lived token cache of the API's auth path must not keep a dead token alive."""

from __future__ import annotations

from typing import Any

import asyncpg

from server.keys import POOL
from server.store.users import demo_login_token
from tests.support.jobs import wait_for


async def test_a_rotated_demo_token_stops_working_at_once_though_it_was_just_cached(
    make_client: Any,
) -> None:
    client = await make_client(workers=0)
    _user, old = await demo_login_token(client.app[POOL])
    for _ in range(3):  # now surely in the cache
        assert (await client.get("/api/jobs", headers={"Authorization": f"Bearer {old}"})
                ).status == 200
    _user, new = await demo_login_token(client.app[POOL])
    assert (await client.get("/api/jobs", headers={"Authorization": f"Bearer {old}"})
            ).status == 401
    assert (await client.get("/api/jobs", headers={"Authorization": f"Bearer {new}"})
            ).status == 200


async def test_a_token_removed_by_another_process_stops_working_within_the_cache_ttl(
    make_client: Any, new_user: Any, db: asyncpg.Pool
) -> None:
    client = await make_client(workers=0)
    alice = await new_user("alice")
    headers = {"Authorization": alice["Authorization"]}
    assert (await client.get("/api/jobs", headers=headers)).status == 200
    await db.execute("DELETE FROM users WHERE name = 'alice'")  # not through this process

    async def refused() -> bool:
        return (await client.get("/api/jobs", headers=headers)).status == 401

    await wait_for(refused, timeout_s=10)
