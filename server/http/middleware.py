"""Middlewares: one place that turns errors into the contract's JSON, and authentication."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from server.errors import ApiError
from server.http.auth import AUTH_VIA_COOKIE, USER_KEY, authenticate, check_same_origin
from server.http.errors import (
    api_error_response,
    error_response,
    http_exception_response,
    http_status,
)
from server.http.schemas import ErrorBody
from server.keys import POOL

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# A lost connection or a server restarting: not the client's fault and not a bug, so a 503
# with Retry-After rather than a 500.
DATABASE_UNAVAILABLE = (
    OSError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncio.TimeoutError,
)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/openapi.json"})

def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as a JSON body with a code; a stack trace never leaves at all."""
    try:
        return await handler(request)
    except ApiError as err:
        if wants_json(request):
            return api_error_response(err)
        # a page's form post: a readable sentence, not a JSON document
        return web.Response(text=err.message, status=http_status(err))
    except web.HTTPException as exc:
        if exc.status < 400 or not wants_json(request):
            raise
        return http_exception_response(exc)
    except DATABASE_UNAVAILABLE as err:
        log.warning("database unavailable on %s %s: %s", request.method, request.path, err)
        if not wants_json(request):
            raise web.HTTPServiceUnavailable(text="The database is unavailable; retry.") from None
        body = ErrorBody(
            error="The service is briefly unavailable; please retry.", code="UNAVAILABLE"
        )
        return error_response(503, body, {"Retry-After": "2"})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_json(request):
            raise web.HTTPInternalServerError(text="Something went wrong on our side.") from None
        body = ErrorBody(error="Something went wrong on our side.", code="INTERNAL_ERROR")
        return error_response(500, body)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the user if the request carries valid credentials. Views that need one call
    server.auth.require_user (401 for the API, a redirect to /login for pages)."""
    if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    found = await authenticate(request, request.app[POOL])
    if found is not None:
        user, via_cookie = found
        if via_cookie:
            check_same_origin(request)
        request[USER_KEY] = user
        request[AUTH_VIA_COOKIE] = via_cookie
    return await handler(request)
