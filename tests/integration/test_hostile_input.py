"""Hostile input at the HTTP edge: every malformed value is a clear 4xx (or, for a resume
cursor that names no version, a stream that starts normally), never a 500 or a dropped
connection, and never a half-written row. Real server, real PostgreSQL, raw bytes on the
wire where a client library would tidy the input up first."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.jobs import ScriptedJobs
from tests.support.sse import READ_CEILING_S, SseStream

FLASH = "flashcard_generation"


@pytest.fixture
async def api(make_client: Any, new_user: Any) -> Any:
    client = await make_client(ScriptedJobs().registry(), workers=0)
    alice = await new_user("alice")
    return client, {"Authorization": alice["Authorization"]}, alice


async def post_raw(client: Any, headers: dict[str, str], body: bytes,
                   content_type: str | None = "application/json") -> Any:
    send = dict(headers)
    if content_type is not None:
        send["Content-Type"] = content_type
    return await client.post("/api/jobs", data=io.BytesIO(body), headers=send)


async def assert_refused(resp: Any, status: int, code: str) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    body = json.loads(text)
    assert body["code"] == code, body
    assert "Traceback" not in text
    return body  # type: ignore[no-any-return]


# ---------------------------------------------------------------- control characters in text

CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f"]


@pytest.mark.parametrize(("job_type", "field", "payload"), [
    (FLASH, "content", {"content": "Text {c} here"}),
    (FLASH, "messageId", {"content": "ok", "messageId": "m{c}1"}),
    ("skill_tree_generation", "goal", {"goal": "Learn {c}Go"}),
    ("skill_tree_generation", "description", {"goal": "Go", "description": "a{c}b"}),
    ("skill_tree_generation", "content", {"goal": "Go", "content": "a{c}b"}),
])
async def test_a_control_character_in_any_text_field_is_a_422_naming_the_field_not_a_500(
    api: Any, db: asyncpg.Pool, job_type: str, field: str, payload: dict[str, str]
) -> None:
    """Regression: PostgreSQL refuses U+0000 in jsonb and text, so a NUL reached the insert
    and came back as a 500; the other control characters were stored and echoed to pages."""
    client, headers, _ = api
    for char in CONTROL_CHARACTERS:
        filled = {k: v.replace("{c}", char) for k, v in payload.items()}
        body = json.dumps({"type": job_type, "payload": filled}).encode()
        refused = await assert_refused(await post_raw(client, headers, body), 422,
                                       "VALIDATION_ERROR")
        assert [d["field"] for d in refused["details"]] == [f"payload.{field}"], char
        assert "control character" in refused["details"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


async def test_tabs_and_line_breaks_stay_allowed_in_study_content(api: Any) -> None:
    client, headers, _ = api
    content = "Term\tmeaning\r\nNext line\nand\rmore"
    resp = await client.post("/api/jobs", json={"type": FLASH, "payload": {"content": content}},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["payload"]["content"] == content


async def test_a_lone_surrogate_in_json_text_is_a_422_not_a_500(
    api: Any, db: asyncpg.Pool
) -> None:
    """Regression: ``"\\ud800"`` is accepted by the standard JSON decoder but is not
    encodable as UTF-8: the insert blew up. (The text policy refuses it too.)"""
    client, headers, _ = api
    body = b'{"type": "flashcard_generation", "payload": {"content": "a\\ud800b"}}'
    await assert_refused(await post_raw(client, headers, body), 400, "INVALID_JSON")
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


async def test_a_nul_in_a_dashboard_form_post_is_a_422_page_not_a_500(
    api: Any, db: asyncpg.Pool
) -> None:
    """The no-script form shares the API's models, so it refuses the same characters."""
    client, _, alice = api
    signed_in = await client.post("/login", data={"token": alice["token"]},
                                  allow_redirects=False)
    assert signed_in.status == 303
    resp = await client.post("/jobs", data={"type": FLASH, "content": "a\x00b"},
                             allow_redirects=False)
    assert resp.status == 422, await resp.text()
    assert "control character" in await resp.text()
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


# ---------------------------------------------------------------- structure and size

async def test_deeply_nested_json_is_a_400_not_a_recursion_error(api: Any) -> None:
    """Regression: the JSON decoder recursed once per bracket and raised RecursionError."""
    client, headers, _ = api
    for depth in (100_000, 5_000):
        body = b'{"type": "flashcard_generation", "payload": ' + b"[" * depth + b"]" * depth
        body += b"}"
        await assert_refused(await post_raw(client, headers, body), 400, "INVALID_JSON")


async def test_huge_numbers_are_refused_with_a_4xx(api: Any, db: asyncpg.Pool) -> None:
    client, headers, _ = api
    cases = [
        b'{"type": "flashcard_generation", "payload": {"content": "x"}, "priority": '
        + b"9" * 30 + b"}",
        b'{"type": "flashcard_generation", "payload": {"content": "x", "maxCards": '
        + b"9" * 30 + b"}}",
        b'{"type": "flashcard_generation", "payload": {"content": "x", "maxCards": 1e400}}',
        b'{"type": "flashcard_generation", "payload": {"content": "x", "maxCards": NaN}}',
        b'{"type": "skill_tree_generation", "payload": {"goal": "x", "maxDepth": -'
        + b"9" * 30 + b"}}",
        b'{"type": "flashcard_generation", "payload": {"content": "x"}, "priority": '
        + b"9" * 5000 + b"}",
    ]
    for body in cases:
        resp = await post_raw(client, headers, body)
        assert resp.status in (400, 422), (body[:120], await resp.text())
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
async def test_a_post_that_is_not_declared_json_is_415_as_the_contract_says(
    api: Any, db: asyncpg.Pool, content_type: str | None
) -> None:
    """Regression: text/plain (and a missing Content-Type) were parsed as JSON anyway."""
    client, headers, _ = api
    body = json.dumps({"type": FLASH, "payload": {"content": "x"}}).encode()
    send = dict(headers)
    if content_type is not None:
        send["Content-Type"] = content_type
    # raw bytes with no Content-Type at all: aiohttp's client would add octet-stream
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = f"POST /api/jobs HTTP/1.1\r\nHost: {client.host}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in send.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    raw = await asyncio.wait_for(reader.read(), READ_CEILING_S)
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 415"), raw[:300]
    assert b'"UNSUPPORTED_MEDIA_TYPE"' in rest
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


# ---------------------------------------------------------------- headers

@pytest.mark.parametrize("key", ["a\x00b", "a\x1bb", "a\tb", " ", "k" * 201])
async def test_a_bad_idempotency_key_is_a_422(api: Any, db: asyncpg.Pool, key: str) -> None:
    client, headers, _ = api
    body = json.dumps({"type": FLASH, "payload": {"content": "x"}}).encode()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (f"POST /api/jobs HTTP/1.1\r\nHost: {client.host}\r\nConnection: close\r\n"
            f"Authorization: {headers['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n").encode()
    writer.write(head + b"Idempotency-Key: " + key.encode() + b"\r\n\r\n" + body)
    raw = await asyncio.wait_for(reader.read(), READ_CEILING_S)
    writer.close()
    assert raw.startswith((b"HTTP/1.1 422", b"HTTP/1.1 400", b"HTTP/1.0 400")), raw[:300]
    assert await db.fetchval("SELECT count(*) FROM background_jobs") == 0


@pytest.mark.parametrize("value", [
    b"Bearer \xff\xfe", b"Bearer cf_\x01abc", b"Bearer " + b"x" * 5000, b"bearer", b"Bearer  ",
    b"\xffBearer x", b"Bearer a b c",
])
async def test_an_odd_authorization_header_is_a_401_not_a_500(
    api: Any, value: bytes
) -> None:
    """Regression: a non-UTF-8 token reached ``str.encode()`` as surrogate escapes and
    raised UnicodeEncodeError."""
    client, _, _ = api
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
                 + value + b"\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), READ_CEILING_S)
    writer.close()
    assert raw.startswith((b"HTTP/1.1 401", b"HTTP/1.1 400", b"HTTP/1.0 400")), raw[:300]


@pytest.mark.parametrize("cookie", [
    b"cardforge_session=\xff\xfe", b"cardforge_session=" + b"a" * 4000,
    b"cardforge_session=\"\\x\"", b"cardforge_session=;;;==", b"=\x01",
])
async def test_an_odd_session_cookie_is_treated_as_signed_out(api: Any, cookie: bytes) -> None:
    client, _, _ = api
    for path in (b"/api/jobs", b"/"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: "
                     + cookie + b"\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), READ_CEILING_S)
        writer.close()
        assert raw.startswith((b"HTTP/1.1 401", b"HTTP/1.1 303", b"HTTP/1.1 400",
                                b"HTTP/1.0 400")), raw[:300]


# ---------------------------------------------------------------- query strings and cursors

def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("before", [
    cursor(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}"),
    cursor(f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}"),
    cursor(f"2026-01-01T00:00:00|{uuid.uuid4()}"),
    cursor("2026-01-01T00:00:00+00:00|not-a-uuid"),
    cursor("\x00|\x00"),
    "%00", "a" * 5000, "====", "\u00e9",
])
@pytest.mark.parametrize("listing", ["/api/jobs", "/api/decks"])
async def test_an_out_of_range_or_malformed_before_cursor_is_a_422_not_a_500(
    api: Any, before: str, listing: str
) -> None:
    """Regression: a cursor at the edge of the datetime range overflowed in asyncpg when
    shifted to UTC, and came back as a 500: first for jobs, then again for decks, whose
    own copy of the cursor codec missed the fix (found probing the fuzzer's gaps)."""
    client, headers, _ = api
    resp = await client.get(listing, params={"before": before}, headers=headers)
    body = await assert_refused(resp, 422, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "before"


@pytest.mark.parametrize("query", [
    "limit=" + "9" * 30, "limit=-1", "limit=1e3", "limit=%00", "status=%00", "type=%00x",
    "limit=", "status=processing%00",
])
async def test_odd_list_queries_are_a_422(api: Any, query: str) -> None:
    client, headers, _ = api
    resp = await client.get(f"/api/jobs?{query}", headers=headers)
    await assert_refused(resp, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("query", ["jobId=%00", "goalId=" + "f" * 500, "jobId=1e30"])
async def test_odd_flashcard_filters_are_a_422(api: Any, query: str) -> None:
    client, headers, _ = api
    resp = await client.get(f"/api/flashcards?{query}", headers=headers)
    await assert_refused(resp, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("path", ["/api/jobs/%00", "/api/jobs/" + "9" * 40,
                                  "/api/jobs/%C0%80", "/jobs/%00", "/trees/%FF"])
async def test_an_odd_path_id_is_a_404(api: Any, path: str) -> None:
    client, headers, alice = api
    await client.post("/login", data={"token": alice["token"]}, allow_redirects=False)
    resp = await client.get(path, headers=headers)
    assert resp.status == 404, await resp.text()


# ---------------------------------------------------------------- SSE resume ids

ODD_RESUME_IDS = ["9" * 30, str(2**63), "-5", "\uff11\uff12", "1_000", "\x00", "0x10", ""]


@pytest.mark.parametrize("stream", ["user", "job"])
async def test_a_resume_id_that_names_no_version_starts_the_stream_normally(
    api: Any, stream: str
) -> None:
    """Regression: a 30-digit Last-Event-ID overflowed bigint in the catch-up query after the
    stream had started, so the client got a broken stream instead of its events."""
    client, headers, _ = api
    created = await client.post("/api/jobs", json={"type": FLASH, "payload": {"content": "x"}},
                                headers=headers)
    job = await created.json()
    path = "/api/events" if stream == "user" else f"/api/jobs/{job['id']}/events"
    for last_event_id in ODD_RESUME_IDS:
        # the client library will not send a NUL in a header; the query string carries it
        for how in ("header", "query") if last_event_id.isprintable() else ("query",):
            if how == "header":
                resp = await client.get(path, headers={**headers, "Last-Event-ID": last_event_id})
            else:
                resp = await client.get(path, params={"lastEventId": last_event_id},
                                        headers=headers)
            assert resp.status == 200, (last_event_id, await resp.text())
            first = await SseStream(resp).expect_event()
            assert first.job["id"] == job["id"], last_event_id
            resp.close()


# ---------------------------------------------------------------- the login redirect

@pytest.mark.parametrize("evil", [
    "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\x00", "/\\evil.example",
    "\\\\evil.example", "//evil.example", "https://evil.example", "javascript:alert(1)",
    "/%09/evil.example", " //evil.example", "/\u3000/evil.example", "evil.example",
    "/" + "a" * 5000,
])
async def test_login_never_redirects_off_site_or_to_a_path_with_control_characters(
    api: Any, evil: str
) -> None:
    """Regression: ``/\\t/evil.example`` passed the old check and browsers drop the tab, so
    the sign-in link sent the user to another site; a control character made a 500."""
    client, _, alice = api
    resp = await client.post("/login", data={"token": alice["token"], "next": evil},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    assert location == "/" or (location.startswith("/") and location.isprintable()
                               and not location.startswith(("//", "/\\")))
    page = await client.get("/login", params={"next": evil}, allow_redirects=False)
    assert page.status in (200, 303), await page.text()
    if page.status == 303:
        assert page.headers["Location"] == "/" or page.headers["Location"] == location


async def test_login_still_returns_to_a_same_site_path_with_its_query(api: Any) -> None:
    client, _, alice = api
    target = "/jobs/123?tab=cards&x=%20y"
    resp = await client.post("/login", data={"token": alice["token"], "next": target},
                             allow_redirects=False)
    assert resp.headers["Location"] == target
