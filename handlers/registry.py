"""Handlers keyed by job type. The server looks a job's handler up here and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from handlers.context import JobContext
from handlers.models import Outcome

HandlerFn = Callable[[Any, JobContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class JobHandler:
    """``run(payload, ctx)`` gets an instance of ``payload_model`` and returns an outcome."""

    job_type: str
    payload_model: type[BaseModel]
    run: HandlerFn


class HandlerRegistry(Mapping[str, JobHandler]):
    def __init__(self, handlers: list[JobHandler] | None = None) -> None:
        self._handlers: dict[str, JobHandler] = {}
        for handler in handlers or []:
            self.register(handler)

    def register(self, handler: JobHandler) -> None:
        self._handlers[handler.job_type] = handler

    def __getitem__(self, job_type: str) -> JobHandler:
        return self._handlers[job_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
