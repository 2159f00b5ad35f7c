"""Bad input never causes a 5xx: schemathesis generates requests from our own OpenAPI
document (valid, invalid and edge-case bodies, ids and query strings, plus stateful
sequences following the document's links) against a real server on a real socket."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from tests.support.jobs import ScriptedJobs, app_settings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.skipif(not SCHEMATHESIS.exists() and not shutil.which("schemathesis"),
                    reason="schemathesis is not installed (pip install -e '.[dev]')")
async def test_no_generated_request_gets_a_server_error(
    database_url: str, new_user: Any, tmp_path: Path
) -> None:
    app = create_app(app_settings(database_url, rate_limit=100_000),
                     registry=ScriptedJobs().registry())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        token = (await new_user("fuzzer"))["token"]
        proc = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS) if SCHEMATHESIS.exists() else "schemathesis", "run",
            str(server.make_url("/api/openapi.json")),
            "-H", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error",
            "--exclude-path-regex", "events",  # streams never end by design
            "--max-examples", "30", "--request-timeout", "10", "--seed", "20261129",
            "--workers", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=100)
    finally:
        await server.close()
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-4000:]
    assert " passed" in report and "failed" not in report.split("SUMMARY")[-1]
