"""Errors with meaning, raised by the domain side of the server and mapped to HTTP once,
in server.http_errors. Each carries the contract's error code."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.extra}


class InvalidJson(ApiError):
    status, code = 400, "INVALID_JSON"


class Unauthorized(ApiError):
    status, code = 401, "UNAUTHORIZED"


class CsrfRejected(ApiError):
    status, code = 403, "CSRF_REJECTED"


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class NotRetryable(ApiError):
    status, code = 409, "NOT_RETRYABLE"


class AlreadyFinished(ApiError):
    status, code = 409, "ALREADY_FINISHED"


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class ValidationFailed(ApiError):
    status, code = 422, "VALIDATION_ERROR"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ApiError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: int, limit: int) -> None:
        super().__init__(message, retryAfter=retry_after_s)
        self.headers = {
            "Retry-After": str(retry_after_s),
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry_after_s),
        }


class ServiceUnavailable(ApiError):
    status, code = 503, "UNAVAILABLE"
