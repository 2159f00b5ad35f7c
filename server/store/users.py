"""Users, API tokens and browser sessions, as stored.

Tokens and session ids are random 256-bit secrets shown once; only their SHA-256 is stored,
so a database leak does not leak credentials.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from server.store import queries as q

TOKEN_PREFIX = "cf_"
SESSION_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True)
class User:
    id: UUID
    name: str
    is_demo: bool = False

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(row["id"], row["name"], row["is_demo"])


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_user(pool: asyncpg.Pool, name: str, *, demo: bool = False) -> tuple[User, str]:
    """Create a user and return it with its API token (the only time the token is seen)."""
    token = new_token()
    user_id = await pool.fetchval(q.CREATE_USER, name, _digest(token), demo)
    return User(user_id, name, demo), token


async def demo_login_token(pool: asyncpg.Pool) -> tuple[User, str]:
    """The demo user's token. Tokens are stored hashed, so an existing demo user gets a fresh
    token (the old one stops working): acceptable for a local demo account."""
    row = await pool.fetchrow(q.FIRST_DEMO_USER)
    if row is None:
        return await create_user(pool, "demo", demo=True)
    token = new_token()
    await pool.execute(q.SET_USER_TOKEN, row["id"], _digest(token))
    TOKENS.forget_user(row["id"])  # the old token stops working now, not in TTL_S
    return User.from_row(row), token


def _plausible_secret(secret: str) -> bool:
    """Tokens and session ids are short ASCII; anything else cannot match, and a non-UTF-8
    header arrives as surrogate escapes that ``str.encode`` refuses (a 500)."""
    return 0 < len(secret) <= 200 and secret.isascii()


class TokenCache:
    """API token hash -> user for a moment, so that a burst of API requests costs one user
    lookup rather than one per request (it was a third of GET /api/jobs/{id}'s time).

    A token rotated or removed through this module is dropped at once in this process; in
    another replica it works for at most ``TTL_S`` more. Unknown tokens are never cached, so
    a new token works at once, and the cache cannot be filled by guessing.
    """

    TTL_S = 2.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[tuple[int, bytes], tuple[float, User]] = {}

    def get(self, pool: asyncpg.Pool, digest: bytes) -> User | None:
        entry = self._entries.get((id(pool), digest))
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[(id(pool), digest)]
            return None
        return entry[1]

    def put(self, pool: asyncpg.Pool, digest: bytes, user: User) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()  # simpler than an LRU, and only costs a lookup each
        self._entries[(id(pool), digest)] = (time.monotonic() + self.TTL_S, user)

    def forget_user(self, user_id: UUID) -> None:
        for key in [k for k, (_, user) in self._entries.items() if user.id == user_id]:
            del self._entries[key]


TOKENS = TokenCache()


async def user_for_token(pool: asyncpg.Pool, token: str) -> User | None:
    if not _plausible_secret(token):
        return None
    digest = _digest(token)
    cached = TOKENS.get(pool, digest)
    if cached is not None:
        return cached
    row = await pool.fetchrow(q.USER_BY_TOKEN_HASH, digest)
    if row is None:
        return None
    user = User.from_row(row)
    TOKENS.put(pool, digest, user)
    return user


async def create_session(pool: asyncpg.Pool, user: User) -> str:
    session_id = secrets.token_urlsafe(32)
    await pool.execute(q.CREATE_SESSION, _digest(session_id), user.id, SESSION_TTL_S)
    return session_id


async def user_for_session(pool: asyncpg.Pool, session_id: str) -> User | None:
    if not _plausible_secret(session_id):
        return None
    row = await pool.fetchrow(q.USER_BY_SESSION, _digest(session_id))
    return User.from_row(row) if row else None


async def end_session(pool: asyncpg.Pool, session_id: str) -> None:
    if not _plausible_secret(session_id):
        return
    await pool.execute(q.DELETE_SESSION, _digest(session_id))


async def prune_sessions(pool: asyncpg.Pool) -> None:
    await pool.execute(q.PRUNE_SESSIONS)
