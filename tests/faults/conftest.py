"""Fixtures of the fault tests: a user, and the server processes a test started (closed
after it, whatever happened)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.database import create_pool
from server.store.users import create_user
from tests.support.processes import ServerProcess


@pytest.fixture
async def user_headers(database_url: str) -> AsyncIterator[dict[str, str]]:
    pool = await create_pool(database_url, max_size=1)
    _user, token = await create_user(pool, "faulty")
    await pool.close()
    yield {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def servers() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()
