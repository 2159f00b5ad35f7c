"""X-Request-ID: taken when sane, generated otherwise, echoed on every kind of response."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.conftest import MakeClient


@pytest.mark.parametrize("path", ["/healthz", "/api/jobs", "/no-such-page"])
async def test_a_sane_request_id_is_echoed_on_any_answer(make_client: MakeClient,
                                                         path: str) -> None:
    client = await make_client(workers=0)
    resp = await client.get(path, headers={"X-Request-ID": "edge-7f3a.1"})
    assert resp.headers["X-Request-ID"] == "edge-7f3a.1"


@pytest.mark.parametrize("given", ["", "a b", "x" * 200, '{"forged": "line"}', "-leading"])
async def test_an_unusable_request_id_is_replaced_by_a_fresh_one(make_client: MakeClient,
                                                                 given: str) -> None:
    """A header with spaces, quotes or 200 characters would forge or bloat log lines."""
    client = await make_client(workers=0)
    resp = await client.get("/healthz", headers={"X-Request-ID": given})
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])


async def test_a_streamed_answer_carries_the_request_id_too(
    make_client: MakeClient, new_user: Any,
) -> None:
    client = await make_client(workers=0)
    user = await new_user()
    resp = await client.get("/api/events", headers={
        "Authorization": user["Authorization"], "X-Request-ID": "sse-1"})
    assert resp.status == 200 and resp.headers["X-Request-ID"] == "sse-1"
    resp.close()
