"""Building blocks shared by the server's wire models (the Job in server.queue.jobs, the
study material in server.store.models, the envelopes in server.http.schemas).

Models of rows the database already constrained are built with ``model_validate`` on plain
Python values: pydantic-core checks them faster than ``model_construct`` assembles them in
Python, and the serializer then has nothing to coerce or warn about.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from handlers.models import WireModel


def _iso(value: datetime) -> str:
    return value.isoformat()


# ``datetime.isoformat()`` on the wire (``+00:00``), as clients have always received it;
# pydantic's own JSON form would write ``Z`` instead.
IsoTime = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class DocumentedAs:
    """Annotate a plain ``dict`` field with the models it holds, for the JSON Schema only.

    A job's payload and result are stored as JSON and served back as they are: validating
    them again into the type's model on every read would cost time and could change what a
    client sees (an older row, a scripted test result). The document still names the
    models, generated from them, so it cannot drift from them.
    """

    def __init__(self, *models: type[BaseModel]) -> None:
        self.models = models

    def __get_pydantic_json_schema__(
        self, _schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        choices = [model.__pydantic_core_schema__ for model in self.models]
        return handler(core_schema.union_schema([*choices, core_schema.dict_schema()]))


class RowModel(WireModel):
    """A wire model read from the database: camelCase out, like every WireModel, but a
    column the model does not name is ignored, so widening a SELECT never breaks a read."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls.model_validate(dict(row))


def wire(model: BaseModel) -> dict[str, Any]:
    """The JSON object a client receives, as Python data (for templates and comparisons)."""
    return model.model_dump(mode="json", by_alias=True)
