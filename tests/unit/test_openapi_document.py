"""The OpenAPI components are generated from the models, so enums cannot be copied twice."""

from __future__ import annotations

from handlers.models import JobType
from server.http.openapi import openapi_document
from server.queue.jobs import JobStatus


def test_status_and_type_enums_in_the_document_are_the_python_enums() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["JobStatus"]["enum"] == [s.value for s in JobStatus]
    assert schemas["JobType"]["enum"] == [t.value for t in JobType]
    list_jobs = openapi_document()["paths"]["/api/jobs"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in list_jobs}
    assert by_name["status"] == {"$ref": "#/components/schemas/JobStatus"}


def test_every_component_reference_resolves() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    names = {ref.removeprefix("#/components/schemas/") for ref in refs(document)}
    assert names and names <= set(schemas)
