"""Schema migrations: a database made by release 824352e upgrades with its data intact and
ends with exactly the schema of a fresh install; concurrent starts apply each migration once.

The release's schema is a verbatim copy in tests/fixtures/schema_824352e.sql
(``git show 824352e:schema.sql``); its rows are written with plain SQL as that release wrote
them, not with today's store functions, which speak the new schema.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from server.app import create_app
from server.database import (
    Migration,
    MigrationError,
    apply_schema,
    load_migrations,
    migration_status,
    schema_sql,
)
from tests.integration.schema_catalog import schema_catalog
from tests.support.jobs import app_settings

ROOT = Path(__file__).resolve().parents[2]
RELEASE_824352E = (ROOT / "tests" / "fixtures" / "schema_824352e.sql").read_text()
TOKEN = "cf_release_user_token_for_the_upgrade_test"


async def _run(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_release_database(dsn: str) -> dict[str, Any]:
    """A database as release 824352e left it: a user, a completed flashcard job with cards
    and answer choices, a pending job, a failed one, and a skill tree."""
    await _run(dsn, RELEASE_824352E)
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (name, token_hash) VALUES ('learner', $1) RETURNING id",
            hashlib.sha256(TOKEN.encode()).digest(),
        )
        done = await conn.fetchval(
            """INSERT INTO background_jobs (user_id, type, status, payload, result, attempts,
                   max_attempts, started_at, completed_at)
               VALUES ($1, 'flashcard_generation', 'completed', $2::jsonb, $3::jsonb, 1, 3,
                       now() - interval '2 minutes', now() - interval '1 minute')
               RETURNING id""",
            user_id, json.dumps({"content": "# Cells\n\nA cell is the unit of life."}),
            json.dumps({"flashcardIds": [], "count": 2}),
        )
        cards = [uuid.uuid4(), uuid.uuid4()]
        for position, (card, question, answer) in enumerate(
            [(cards[0], "What is a cell?", "The unit of life"),
             (cards[1], "What does a membrane enclose?", "The cell")]
        ):
            await conn.execute(
                """INSERT INTO flashcards (id, user_id, job_id, question, answer, position)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                card, user_id, done, question, answer, position,
            )
        choices_job = await conn.fetchval(
            """INSERT INTO background_jobs (user_id, type, status, payload, max_attempts,
                   completed_at, result)
               VALUES ($1, 'distractor_generation', 'completed', $2::jsonb, 3, now(), '{}')
               RETURNING id""",
            user_id, json.dumps({"flashcardId": str(cards[0])}),
        )
        for position, text in enumerate(["The atom", "The organ"]):
            await conn.execute(
                """INSERT INTO distractors (id, flashcard_id, job_id, text, position)
                   VALUES ($1, $2, $3, $4, $5)""",
                uuid.uuid4(), cards[0], choices_job, text, position,
            )
        pending = await conn.fetchval(
            """INSERT INTO background_jobs (user_id, type, payload, max_attempts)
               VALUES ($1, 'flashcard_generation', '{"content": "later"}', 3) RETURNING id""",
            user_id,
        )
        failed = await conn.fetchval(
            """INSERT INTO background_jobs (user_id, type, status, payload, error, attempts,
                   max_attempts, completed_at)
               VALUES ($1, 'skill_tree_generation', 'failed', '{"goal": "x"}', 'worker lost',
                       3, 3, now()) RETURNING id""",
            user_id,
        )
        tree = uuid.uuid4()
        await conn.execute(
            """INSERT INTO skill_trees (id, user_id, job_id, goal, depth, node_count)
               VALUES ($1, $2, $3, 'Biology', 1, 1)""",
            tree, user_id, uuid.uuid4(),
        )
        await conn.execute(
            """INSERT INTO skill_nodes (id, tree_id, parent_id, title, depth, position)
               VALUES ($1, $2, NULL, 'Biology', 1, 0)""",
            uuid.uuid4(), tree,
        )
    finally:
        await conn.close()
    return {"user_id": user_id, "done": done, "cards": cards, "pending": pending,
            "failed": failed, "tree": tree}


async def _rows(dsn: str, query: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


SNAPSHOTS = {
    "users": "SELECT id, name, token_hash, created_at FROM users ORDER BY id",
    "jobs": """SELECT id, user_id, type, status, payload, result, error, attempts, version,
                      created_at, completed_at FROM background_jobs ORDER BY id""",
    "cards": """SELECT id, user_id, job_id, question, answer, position, created_at
                FROM flashcards ORDER BY id""",
    "distractors": "SELECT id, flashcard_id, text, position FROM distractors ORDER BY id",
    "trees": "SELECT id, goal, depth FROM skill_trees ORDER BY id",
    "nodes": "SELECT id, tree_id, title FROM skill_nodes ORDER BY id",
}


async def _snapshot(dsn: str) -> dict[str, list[dict[str, Any]]]:
    return {name: await _rows(dsn, query) for name, query in SNAPSHOTS.items()}


async def test_a_release_824352e_database_keeps_its_jobs_and_cards_through_the_upgrade(
    empty_database_url: str, aiohttp_client: Any,
) -> None:
    made = await create_release_database(empty_database_url)
    before = await _snapshot(empty_database_url)

    # the upgrade is what a start-up of the new release does
    client = await aiohttp_client(create_app(app_settings(empty_database_url, workers=0)))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    assert await _snapshot(empty_database_url) == before
    recorded = await _rows(empty_database_url,
                           "SELECT version, name FROM schema_migrations ORDER BY version")
    assert recorded == [{"version": m.version, "name": m.name} for m in load_migrations()]
    job = await client.get(f"/api/jobs/{made['done']}", headers=auth)
    assert job.status == 200 and (await job.json())["status"] == "completed"
    cards = await client.get(f"/api/flashcards?jobId={made['done']}", headers=auth)
    listed = {c["id"] for c in (await cards.json())["flashcards"]}
    assert listed == {str(c) for c in made["cards"]}
    card = await client.get(f"/api/flashcards/{made['cards'][0]}", headers=auth)
    assert sorted(d["text"] for d in (await card.json())["distractors"]) == ["The atom",
                                                                              "The organ"]
    tree = await client.get(f"/api/skill-trees/{made['tree']}", headers=auth)
    assert tree.status == 200


async def test_existing_cards_get_one_deck_per_job_in_the_upgrade(
    empty_database_url: str, aiohttp_client: Any,
) -> None:
    made = await create_release_database(empty_database_url)
    conn = await asyncpg.connect(empty_database_url)
    try:  # a second job whose row retention has already pruned: titled by its first question
        await conn.execute(
            """INSERT INTO flashcards (id, user_id, job_id, question, answer, position)
               VALUES ($1, $2, $3, 'What moves plates?', 'Mantle convection', 0)""",
            uuid.uuid4(), made["user_id"], uuid.uuid4(),
        )
    finally:
        await conn.close()
    client = await aiohttp_client(create_app(app_settings(empty_database_url, workers=0)))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    decks = (await (await client.get("/api/decks", headers=auth)).json())["decks"]
    assert sorted(d["title"] for d in decks) == ["Cells", "What moves plates?"]
    cells = next(d for d in decks if d["title"] == "Cells")
    assert cells["jobId"] == str(made["done"]) and cells["cardCount"] == 2
    assert cells["dueCount"] == 2  # upgraded cards are new, hence due
    deck = await (await client.get(f"/api/decks/{cells['id']}", headers=auth)).json()
    assert [c["id"] for c in deck["cards"]] == [str(c) for c in made["cards"]]
    assert all(c["review"]["state"] == "new" for c in deck["cards"])


async def test_a_fresh_install_and_an_upgraded_release_have_the_same_schema(
    empty_database_url: str, database_url: str,
) -> None:
    """database_url is a fresh install (cloned from a template built by apply_schema)."""
    await create_release_database(empty_database_url)
    conn = await asyncpg.connect(empty_database_url)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
    fresh, upgraded = await schema_catalog(database_url), await schema_catalog(empty_database_url)
    for part in fresh:
        assert upgraded[part] == fresh[part], f"{part} differ between fresh and upgraded"
    assert any(row[0] == "schema_migrations" for row in fresh["relations"])


async def test_applying_the_schema_again_changes_nothing(database_url: str) -> None:
    before = await schema_catalog(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        assert await apply_schema(conn) == []
    finally:
        await conn.close()
    assert await schema_catalog(database_url) == before


def _counting_migrations() -> list[Migration]:
    """The real baseline, then two migrations that fail if run twice (no IF NOT EXISTS) and
    sleep, so concurrent starters overlap inside the critical section."""
    return [
        Migration(0, "baseline", schema_sql()),
        Migration(1, "ran_once", "CREATE TABLE ran_once (n integer);"
                                 "INSERT INTO ran_once VALUES (1); SELECT pg_sleep(0.2);"),
        Migration(2, "ran_once_more", "INSERT INTO ran_once VALUES (2);"
                                      "CREATE INDEX ran_once_n_idx ON ran_once (n);"),
    ]


async def test_concurrent_startups_apply_each_migration_exactly_once(
    empty_database_url: str,
) -> None:
    migrations = _counting_migrations()

    async def start() -> list[str]:
        conn = await asyncpg.connect(empty_database_url)
        try:
            return [m.name for m in await apply_schema(conn, migrations)]
        finally:
            await conn.close()

    applied = await asyncio.gather(*(start() for _ in range(6)))
    assert sorted(applied, key=len) == [[]] * 5 + [["baseline", "ran_once", "ran_once_more"]]
    assert await _rows(empty_database_url, "SELECT n FROM ran_once ORDER BY n") == [
        {"n": 1}, {"n": 2}]


async def test_concurrent_app_startups_on_an_empty_database_all_come_up(
    empty_database_url: str, aiohttp_client: Any,
) -> None:
    clients = await asyncio.gather(*(
        aiohttp_client(create_app(app_settings(empty_database_url, workers=0)))
        for _ in range(3)
    ))
    for client in clients:
        assert (await client.get("/readyz")).status == 200
    counts = await _rows(empty_database_url,
                         "SELECT version, count(*) AS n FROM schema_migrations GROUP BY 1")
    assert {row["n"] for row in counts} == {1}
    assert len(counts) == len(load_migrations())


async def test_a_pending_migration_is_applied_at_the_next_start_and_status_shows_it(
    empty_database_url: str,
) -> None:
    migrations = _counting_migrations()
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert [s.applied_at for s in await migration_status(conn, migrations)] == [None] * 3
        assert not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"), \
            "status must not change the database"
        await apply_schema(conn, migrations[:2])
        status = await migration_status(conn, migrations)
        assert [(s.name, s.applied_at is not None) for s in status] == [
            ("baseline", True), ("ran_once", True), ("ran_once_more", False)]
        assert [m.name for m in await apply_schema(conn, migrations)] == ["ran_once_more"]
        # a database touched by a newer release lists what this one does not ship
        newer = await migration_status(conn, migrations[:2])
        assert [(s.name, s.known) for s in newer][-1] == ("ran_once_more", False)
    finally:
        await conn.close()


async def test_an_applied_migration_edited_afterwards_stops_the_start(
    empty_database_url: str,
) -> None:
    migrations = _counting_migrations()
    conn = await asyncpg.connect(empty_database_url)
    try:
        await apply_schema(conn, migrations)
        edited = [*migrations[:2], Migration(2, "ran_once_more", "SELECT 1;")]
        with pytest.raises(MigrationError, match=r"0002_ran_once_more\.sql was changed"):
            await apply_schema(conn, edited)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(
    empty_database_url: str,
) -> None:
    broken = [Migration(0, "baseline", schema_sql()),
              Migration(1, "broken", "CREATE TABLE half_done (n int); SELECT 1/0;")]
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply_schema(conn, broken)
        assert not await conn.fetchval("SELECT to_regclass('half_done') IS NOT NULL")
        assert not await conn.fetchval("SELECT to_regclass('background_jobs') IS NOT NULL")
    finally:
        await conn.close()


def _cardforge(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDFORGE_")}
    env["DATABASE_URL"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )


async def test_cardforge_migrate_applies_and_status_lists_applied_and_pending(
    empty_database_url: str,
) -> None:
    await _run(empty_database_url, RELEASE_824352E)
    before = await asyncio.to_thread(_cardforge, "migrate", "--status", dsn=empty_database_url)
    assert before.returncode == 0, before.stderr
    lines = before.stdout.strip().splitlines()
    assert lines[0].startswith("0000  baseline") and lines[0].endswith("pending")
    assert lines[-1] == f"{len(load_migrations())} pending"

    migrated = await asyncio.to_thread(_cardforge, "migrate", dsn=empty_database_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0000_baseline" in migrated.stdout

    after = await asyncio.to_thread(_cardforge, "migrate", "--status", dsn=empty_database_url)
    lines = after.stdout.strip().splitlines()
    assert lines[-1] == "schema up to date"
    assert all(" applied 20" in line and line.endswith(" UTC") for line in lines[:-1])
    again = await asyncio.to_thread(_cardforge, "migrate", dsn=empty_database_url)
    assert again.stdout.strip() == "schema up to date: nothing to apply"
