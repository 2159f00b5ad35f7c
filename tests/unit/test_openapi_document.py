"""The OpenAPI components are generated from the models, so enums cannot be copied twice."""

from __future__ import annotations

from typing import Any

from aiohttp.web import RouteDef

from handlers.models import JobType
from server.http import api, library
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


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items() if method != "parameters"
    }


def test_every_json_api_route_is_in_the_document() -> None:
    """A route added to the API or the library without its document would never be fuzzed."""
    served = {
        (route.method, route.path)
        for table in (api.routes, library.routes) for route in table
        if isinstance(route, RouteDef) and route.method != "HEAD"
    }
    documented = set(_operations())
    assert served - documented == set()


LIBRARY_OPERATIONS = {
    ("GET", "/api/decks"): ("DeckPage", None),
    ("GET", "/api/decks/{id}"): ("DeckWithCards", None),
    ("PATCH", "/api/decks/{id}"): ("Deck", "RenameDeck"),
    ("DELETE", "/api/decks/{id}"): (None, None),
    ("GET", "/api/decks/{id}/export"): (None, None),
    ("PATCH", "/api/flashcards/{id}"): ("Flashcard", "EditCard"),
    ("DELETE", "/api/flashcards/{id}"): (None, None),
    ("POST", "/api/flashcards/{id}/reviews"): ("ReviewOutcome", "RateCard"),
    ("GET", "/api/reviews/due"): ("DueCards", None),
    ("GET", "/api/settings"): ("StudySettings", None),
    ("PUT", "/api/settings"): ("StudySettings", "SettingsUpdate"),
}


def test_the_study_library_routes_have_their_models_and_their_errors() -> None:
    operations = _operations()
    for (method, path), (answer, body) in LIBRARY_OPERATIONS.items():
        operation = operations[method, path]
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        success = next(code for code in responses if code.startswith("2"))
        if answer is not None:
            schema = responses[success]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{answer}"}, (method, path)
        if body is not None:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{body}"}, (method, path)
            assert {"400", "413", "415", "422"} <= set(responses), (method, path)
        if "{id}" in path:
            assert "404" in responses, (method, path)
        for code, response in responses.items():
            if code[0] in "45":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    assert {"204"} <= set(operations["DELETE", "/api/decks/{id}"]["responses"])


def test_the_library_documents_its_bounds_as_the_contract_states_them() -> None:
    schemas = openapi_document()["components"]["schemas"]
    title = schemas["RenameDeck"]["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (1, 200)
    assert schemas["RenameDeck"]["required"] == ["title"]
    question = schemas["EditCard"]["properties"]["question"]["anyOf"][0]
    assert (question["minLength"], question["maxLength"]) == (1, 500)
    assert schemas["RateCard"]["properties"]["rating"]["enum"] == ["again", "hard", "good", "easy"]
    retention = schemas["SettingsUpdate"]["properties"]["desiredRetention"]
    assert (retention["minimum"], retention["maximum"]) == (0.70, 0.97)
    assert schemas["SettingsUpdate"]["required"] == ["desiredRetention"]  # a PUT replaces
    operations = _operations()
    due = {p["name"]: p for p in operations["GET", "/api/reviews/due"]["parameters"]}
    assert due["limit"]["schema"] == {"default": 20, "maximum": 100, "minimum": 1,
                                      "type": "integer"}
    assert due["deckId"]["schema"] == {"format": "uuid", "type": "string"}
    export = operations["GET", "/api/decks/{id}/export"]
    (fmt,) = export["parameters"]
    assert fmt["required"] and fmt["schema"]["enum"] == ["csv", "apkg"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/apkg"}


def test_lists_link_to_their_items_for_clients_and_stateful_fuzzing() -> None:
    operations = _operations()
    ids = {op.get("operationId") for op in operations.values()}
    decks = operations["GET", "/api/decks"]["responses"]["200"]["links"]
    assert decks["GetDeck"]["parameters"] == {"id": "$response.body#/decks/0/id"}
    cards = operations["GET", "/api/decks/{id}"]["responses"]["200"]["links"]
    assert cards["ReviewFlashcard"]["parameters"] == {"id": "$response.body#/cards/0/id"}
    every_link = [
        link["operationId"]
        for op in operations.values() for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert every_link and set(every_link) <= ids
