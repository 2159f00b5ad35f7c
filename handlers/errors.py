"""Errors are values with meaning: the queue decides what happens next from the type."""

from __future__ import annotations


class JobError(Exception):
    """Base of the errors a handler raises on purpose. ``str(err)`` is shown to users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryableError(JobError):
    """Worth trying again later: rate limits, overload, timeouts, output that failed validation.

    ``retry_after_s`` is the provider's own hint; the queue never retries earlier than it.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderBusy(RetryableError):
    """The provider said it is at capacity (rate limited, overloaded): calling it less often
    helps, so the process-wide LLM concurrency limit backs off when it sees one."""


class PermanentError(JobError):
    """Trying again cannot help (bad credentials, a rejected request, a row that is gone)."""

