"""Errors with meaning, raised by the queue, the library and the views' input checks.

Each carries the contract's error code and the data a client may act on; none knows about
HTTP. server.http.errors is the one place that turns them into a status code, headers and
an ``ErrorBody``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ApiError(Exception):
    code = "BAD_REQUEST"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidJson(ApiError):
    code = "INVALID_JSON"


class Unauthorized(ApiError):
    code = "UNAUTHORIZED"


class CsrfRejected(ApiError):
    code = "CSRF_REJECTED"


class NotFound(ApiError):
    code = "NOT_FOUND"


class NotRetryable(ApiError):
    code = "NOT_RETRYABLE"


class AlreadyFinished(ApiError):
    code = "ALREADY_FINISHED"


class UnsupportedMediaType(ApiError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class ValidationFailed(ApiError):
    code = "VALIDATION_ERROR"

    @classmethod
    def from_pydantic(
        cls, message: str, err: ValidationError, prefix: tuple[str, ...] = ()
    ) -> ValidationFailed:
        return cls(message, details=validation_details(err, prefix))


class IdempotencyKeyReused(ApiError):
    code = "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ApiError):
    """The user's rolling-window quota for this job type is used up.

    ``limit`` and ``reset_s`` are what the ``RateLimit-*`` headers say; ``retry_after_s`` is
    when the oldest job in the window leaves it (the body's ``retryAfter``).
    """

    code = "RATE_LIMITED"

    def __init__(
        self, message: str, *, job_type: str, limit: int, reset_s: int, retry_after_s: int
    ) -> None:
        super().__init__(message, retryAfter=retry_after_s)
        self.job_type = job_type
        self.limit = limit
        self.remaining = 0
        self.reset_s = reset_s
        self.retry_after_s = retry_after_s


class TooManyStreams(ApiError):
    """More open SSE streams than CARDFORGE_MAX_STREAMS_PER_USER allows in this process."""

    code = "TOO_MANY_STREAMS"

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, limit=limit)
        self.limit = limit


def validation_details(err: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """pydantic's errors as the contract's ``details``: ``{field, message}``, the field a
    dotted camelCase path, never the input value (it may be 100k characters, or a secret)."""
    details = []
    for item in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in (*prefix, *item["loc"]))
        details.append({"field": loc or "body", "message": item["msg"]})
    return details
