"""The one place where the domain's errors become HTTP: a status code, headers and an
``ErrorBody``. The queue and the library raise server.errors values and never see HTTP."""

from __future__ import annotations

from aiohttp import web

from server.errors import (
    AlreadyFinished,
    ApiError,
    CsrfRejected,
    IdempotencyKeyReused,
    InvalidJson,
    NotFound,
    NotRetryable,
    RateLimited,
    TooManyStreams,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from server.http.schemas import ErrorBody, json_model
from server.queue.engine import RateInfo

HTTP_STATUS: dict[type, int] = {
    ApiError: 400,
    InvalidJson: 400,
    Unauthorized: 401,
    CsrfRejected: 403,
    NotFound: 404,
    NotRetryable: 409,
    AlreadyFinished: 409,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    IdempotencyKeyReused: 422,
    RateLimited: 429,
    TooManyStreams: 429,
}

STREAM_RETRY_AFTER_S = 5


# aiohttp's own refusals (no route, wrong method, body over client_max_size) in the
# contract's shape
HTTP_EXCEPTION_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
HTTP_EXCEPTION_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
}


def http_status(err: ApiError) -> int:
    """The status of the nearest class in the error's ancestry that has one."""
    for cls in type(err).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return HTTP_STATUS[ApiError]


def rate_limit_headers(rate: RateInfo) -> dict[str, str]:
    """``RateLimit-*`` as the contract states them: what is left after this request."""
    return {
        "RateLimit-Limit": str(rate.limit),
        "RateLimit-Remaining": str(rate.remaining),
        "RateLimit-Reset": str(rate.reset_s),
    }


def error_headers(err: ApiError) -> dict[str, str]:
    if isinstance(err, RateLimited):
        rate = RateInfo(err.limit, err.remaining, err.reset_s)
        return {"Retry-After": str(err.retry_after_s), **rate_limit_headers(rate)}
    if isinstance(err, TooManyStreams):
        return {"Retry-After": str(STREAM_RETRY_AFTER_S)}
    return {}


def error_body(err: ApiError) -> ErrorBody:
    return ErrorBody.model_validate({"error": err.message, "code": err.code, **err.extra})


def error_response(
    status: int, body: ErrorBody, headers: dict[str, str] | None = None
) -> web.Response:
    return json_model(body, status=status, headers=headers, exclude_none=True)


def api_error_response(err: ApiError) -> web.Response:
    return error_response(http_status(err), error_body(err), error_headers(err))


# aiohttp's headers that belong to its refusal: a 405 must say which methods the path takes
# (RFC 9110; the fuzzer's unsupported_method check found them dropped with the body swap).
KEPT_EXCEPTION_HEADERS = ("Allow",)


def http_exception_response(exc: web.HTTPException) -> web.Response:
    code = HTTP_EXCEPTION_CODES.get(exc.status, "HTTP_ERROR")
    message = HTTP_EXCEPTION_MESSAGES.get(exc.status, exc.reason)
    headers = {name: exc.headers[name] for name in KEPT_EXCEPTION_HEADERS if name in exc.headers}
    return error_response(exc.status, ErrorBody(error=message, code=code), headers or None)
