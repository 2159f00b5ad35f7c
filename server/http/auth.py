"""Who is asking: the Bearer token or the browser's session cookie, and the CSRF check.

The browser's session cookie is HttpOnly and SameSite=Lax and is accepted by the JSON API
too; state-changing requests that rely on the cookie must come from our own origin (the
CSRF check below).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from server.errors import CsrfRejected, Unauthorized
from server.store.users import SESSION_TTL_S, User, user_for_session, user_for_token

SESSION_COOKIE = "cardforge_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

USER_KEY = web.RequestKey("user", User)
AUTH_VIA_COOKIE = web.RequestKey("auth_via_cookie", bool)


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
