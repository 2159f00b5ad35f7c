"""Domain errors know nothing of HTTP; server.http.errors maps each of them once."""

from __future__ import annotations

import inspect

from server import errors
from server.errors import ApiError, RateLimited
from server.http.errors import HTTP_STATUS, error_body, error_headers, http_status


def test_every_domain_error_has_its_own_http_status() -> None:
    classes = [
        obj for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, ApiError)
    ]
    assert classes and all(cls in HTTP_STATUS for cls in classes)


def test_rate_limited_becomes_429_with_retry_after_and_ratelimit_headers() -> None:
    err = RateLimited("Slow down.", job_type="flashcard_generation", limit=20, reset_s=42,
                      retry_after_s=42)
    assert http_status(err) == 429
    assert error_headers(err) == {
        "Retry-After": "42", "RateLimit-Limit": "20", "RateLimit-Remaining": "0",
        "RateLimit-Reset": "42",
    }
    assert error_body(err).model_dump(by_alias=True, exclude_none=True) == {
        "error": "Slow down.", "code": "RATE_LIMITED", "retryAfter": 42,
    }


def test_an_error_subclass_without_its_own_entry_takes_its_parents_status() -> None:
    class StaleCursor(errors.ValidationFailed):
        pass

    assert http_status(StaleCursor("x")) == 422
