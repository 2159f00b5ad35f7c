"""Users, API tokens and browser sessions.

Tokens and session ids are random 256-bit secrets shown once; only their SHA-256 is stored,
so a database leak does not leak credentials. The browser's session cookie is HttpOnly and
SameSite=Lax and is accepted by the JSON API too; state-changing requests that rely on the
cookie must come from our own origin (the CSRF check below).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from aiohttp import web

from server import queries as q
from server.errors import CsrfRejected, Unauthorized

TOKEN_PREFIX = "cf_"
SESSION_COOKIE = "cardforge_session"
SESSION_TTL_S = 30 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class User:
    id: UUID
    name: str
    is_demo: bool = False

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(row["id"], row["name"], row["is_demo"])


USER_KEY = web.RequestKey("user", User)
AUTH_VIA_COOKIE = web.RequestKey("auth_via_cookie", bool)


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
    return User.from_row(row), token


async def user_for_token(pool: asyncpg.Pool, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = await pool.fetchrow(q.USER_BY_TOKEN_HASH, _digest(token))
    return User.from_row(row) if row else None


async def create_session(pool: asyncpg.Pool, user: User) -> str:
    session_id = secrets.token_urlsafe(32)
    await pool.execute(q.CREATE_SESSION, _digest(session_id), user.id, SESSION_TTL_S)
    return session_id


async def user_for_session(pool: asyncpg.Pool, session_id: str) -> User | None:
    if not session_id or len(session_id) > 200:
        return None
    row = await pool.fetchrow(q.USER_BY_SESSION, _digest(session_id))
    return User.from_row(row) if row else None


async def end_session(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute(q.DELETE_SESSION, _digest(session_id))


async def prune_sessions(pool: asyncpg.Pool) -> None:
    await pool.execute(q.PRUNE_SESSIONS)


def set_session_cookie(response: web.StreamResponse, session_id: str, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=SESSION_TTL_S, httponly=True, samesite="Lax",
        secure=secure, path="/",
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request, pool: asyncpg.Pool) -> tuple[User, bool] | None:
    """(user, via_cookie) from a Bearer token or the session cookie; None if neither works."""
    token = bearer_token(request)
    if token is not None:
        user = await user_for_token(pool, token)
        return (user, False) if user else None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        user = await user_for_session(pool, session_id)
        return (user, True) if user else None
    return None


def check_same_origin(request: web.Request) -> None:
    """Refuse a cookie-authenticated state change from another site.

    SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers; this is
    the second lock for older ones: the Origin (or Referer) must name this host.
    """
    if request.method in SAFE_METHODS:
        return
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source == "null":
        # Our pages send Referrer-Policy: no-referrer, under which browsers put "Origin: null"
        # on their own same-origin POSTs (forms and fetch alike). Only the browser-set
        # Sec-Fetch-Site can vouch for those; a sandboxed cross-site frame says "cross-site".
        if request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        raise CsrfRejected("Cross-site request refused.")
    if source is None:
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site in (None, "same-origin", "none"):
            return
        raise CsrfRejected("Cross-site request refused.")
    if urlsplit(source).netloc != request.host:
        raise CsrfRejected("Cross-site request refused.")


def require_user(request: web.Request) -> User:
    user: User | None = request.get(USER_KEY)
    if user is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    return user
