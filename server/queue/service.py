"""Creating and retrying jobs: the one path that the JSON API and the dashboard's form posts
both take, so they refuse the same input and the enqueue metrics count each job once."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.models import PAYLOAD_MODELS, DistractorPayload, JobType, WireModel
from server.errors import RateLimited, ValidationFailed
from server.metrics import Metrics
from server.queue.engine import Enqueued, JobQueue
from server.store.library import StudyLibrary
from server.wording import job_action

MAX_IDEMPOTENCY_KEY = 200


class CreateJobRequest(BaseModel):
    """The envelope of POST /api/jobs; ``payload`` is checked against the type's model."""

    model_config = ConfigDict(extra="forbid")

    type: JobType
    payload: dict[str, Any]
    priority: Annotated[int, Field(ge=0, le=10, strict=True)] = 0


class JobService:
    def __init__(self, queue: JobQueue, library: StudyLibrary, metrics: Metrics) -> None:
        self.queue = queue
        self.library = library
        self.metrics = metrics

    async def create(
        self, user_id: UUID, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Enqueued:
        """Validate a job request (envelope, the type's payload, references) and enqueue it.

        Raises ValidationFailed, RateLimited or IdempotencyKeyReused; nothing is written
        unless every check passed.
        """
        envelope, payload = await self.validate(user_id, body)
        if idempotency_key is not None and not (
            0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY and idempotency_key.isprintable()
        ):
            raise ValidationFailed(
                "The Idempotency-Key header must be 1 to 200 printable characters.",
                details=[{"field": "Idempotency-Key", "message": "invalid"}],
            )
        return await self._counted(
            self.queue.enqueue(
                user_id,
                envelope.type.value,
                payload.model_dump(mode="json", by_alias=True, exclude_none=True),
                priority=envelope.priority,
                idempotency_key=idempotency_key,
            )
        )

    async def retry(self, user_id: UUID, job_id: UUID) -> Enqueued:
        """A failed or cancelled job again, as a new job counted like any other."""
        return await self._counted(self.queue.retry(user_id, job_id))

    async def validate(
        self, user_id: UUID, body: Mapping[str, Any]
    ) -> tuple[CreateJobRequest, WireModel]:
        """The envelope and its typed payload, or ValidationFailed."""
        try:
            envelope = CreateJobRequest.model_validate(body)
        except ValidationError as err:
            raise ValidationFailed.from_pydantic("The job request is not valid.", err) from None
        try:
            payload = PAYLOAD_MODELS[envelope.type].model_validate(envelope.payload)
        except ValidationError as err:
            raise ValidationFailed.from_pydantic(
                f"The request to {job_action(envelope.type)} is not valid.", err, ("payload",)
            ) from None
        await self._check_references(user_id, payload)
        return envelope, payload

    async def _check_references(self, user_id: UUID, payload: WireModel) -> None:
        """A card or deck a payload names must be the user's: else 422, as for a bad field."""
        card_id = getattr(payload, "flashcard_id", None)
        if isinstance(payload, DistractorPayload) and card_id is not None and not (
            await self.library.flashcard_exists(user_id, card_id)
        ):
            raise ValidationFailed(
                "The flashcard does not exist.",
                details=[{"field": "payload.flashcardId", "message": "no such flashcard"}],
            )
        deck_id = getattr(payload, "deck_id", None)
        if deck_id is not None and not await self.library.deck_exists(user_id, deck_id):
            raise ValidationFailed(
                "The deck does not exist.",
                details=[{"field": "payload.deckId", "message": "no such deck"}],
            )

    async def _counted(self, enqueue: Awaitable[Enqueued]) -> Enqueued:
        try:
            enqueued = await enqueue
        except RateLimited as refused:
            self.metrics.jobs_rate_limited.labels(refused.job_type).inc()
            raise
        if enqueued.created:  # an idempotent replay created nothing
            self.metrics.jobs_enqueued.labels(enqueued.job.type.value).inc()
        return enqueued
