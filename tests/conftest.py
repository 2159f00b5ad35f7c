"""Shared fixtures: a real PostgreSQL for every test.

The server is the embedded PostgreSQL by default, or TEST_DATABASE_URL when set (a DSN with
rights to CREATE DATABASE). The schema (schema.sql and the migrations) is applied once to a
template database; each test gets its own ``CREATE DATABASE ... TEMPLATE`` clone, so tests
are isolated and fast.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from server.database import EmbeddedPostgres, apply_schema, dsn_for_database

pytest_plugins = ["tests.fakes.fixtures"]

TEST_DATA_DIR = Path(
    os.environ.get("CARDFORGE_TEST_DATA_DIR", f"/tmp/cardforge-test-{os.getuid()}")
)


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    embedded = EmbeddedPostgres(TEST_DATA_DIR)
    dsn = embedded.start()
    try:
        yield dsn
    finally:
        embedded.stop()


async def _admin(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn_for_database(dsn, "postgres"))


@pytest.fixture(scope="session")
def template_database(pg_server_dsn: str) -> Iterator[str]:
    name = f"cf_tpl_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        admin = await _admin(pg_server_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(dsn_for_database(pg_server_dsn, name))
        try:
            await apply_schema(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await _admin(pg_server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(create())
    yield name
    asyncio.run(drop())


@pytest.fixture
async def database_url(pg_server_dsn: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database with the schema applied, dropped after the test."""
    name = f"cf_t_{uuid.uuid4().hex[:12]}"
    admin = await _admin(pg_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    yield dsn_for_database(pg_server_dsn, name)
    admin = await _admin(pg_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def empty_database_url(pg_server_dsn: str) -> AsyncIterator[str]:
    """A database with no schema at all: what a first start, or an upgrade test, begins from."""
    name = f"cf_e_{uuid.uuid4().hex[:12]}"
    admin = await _admin(pg_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield dsn_for_database(pg_server_dsn, name)
    admin = await _admin(pg_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
