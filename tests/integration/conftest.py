from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from handlers.registry import HandlerRegistry
from server.app import create_app
from server.database import create_pool
from server.store.users import create_user
from tests.support.jobs import ScriptedJobs, app_settings

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def scripted() -> ScriptedJobs:
    return ScriptedJobs()


@pytest.fixture
async def db(database_url: str) -> Any:
    pool = await create_pool(database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def make_client(database_url: str, aiohttp_client: Any) -> MakeClient:
    async def make(
        registry: HandlerRegistry | None = None, **overrides: Any
    ) -> TestClient[Any, Any]:
        settings = app_settings(database_url, **overrides)
        return await aiohttp_client(create_app(settings, registry=registry))  # type: ignore[no-any-return]

    return make


@pytest.fixture
def new_user(db: asyncpg.Pool) -> Callable[[str], Awaitable[dict[str, str]]]:
    async def make(name: str = "alice") -> dict[str, str]:
        user, token = await create_user(db, name)
        return {"id": str(user.id), "token": token, "Authorization": f"Bearer {token}"}

    return make
