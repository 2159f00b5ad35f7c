"""The logs of a real ``cardforge serve`` whose stderr is a pipe, as under a container
runtime or systemd: every line JSON, a job findable by its id, nothing secret or private in
any line, and a clean shutdown saying so."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.faults.test_cli_and_embedded import base_env, cardforge
from tests.support.jobs import wait_for
from tests.support.net import free_port
from tests.support.processes import ROOT

STUDY_TEXT = ("Chemiosmosis is the movement of protons across a membrane down their "
              "electrochemical gradient. ATP synthase couples that flow to making ATP.")


async def test_serve_writes_json_lines_a_job_is_findable_by_id_and_shutdown_says_so(
    database_url: str, tmp_path: Path,
) -> None:
    env = base_env(DATABASE_URL=database_url, CARDFORGE_LLM_PROVIDER="offline",
                   CARDFORGE_SHUTDOWN_GRACE_SECONDS="2")
    token = json.loads(cardforge("user", "create", "ops", "--json", env=env)
                       .stdout.strip().splitlines()[-1])["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )
        try:
            headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "ops-check-1"}
            async with aiohttp.ClientSession(headers=headers) as session:
                async def healthy() -> bool:
                    assert proc.poll() is None, stderr_path.read_text()
                    try:
                        async with session.get(f"{url}/healthz") as r:
                            return r.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_for(healthy, timeout_s=60, interval_s=0.2)
                body = {"type": "flashcard_generation", "payload": {"content": STUDY_TEXT}}
                async with session.post(f"{url}/api/jobs", json=body) as r:
                    assert r.headers["X-Request-ID"] == "ops-check-1"
                    job_id = (await r.json())["id"]

                async def finished() -> bool:
                    async with session.get(f"{url}/api/jobs/{job_id}") as r:
                        return (await r.json())["status"] == "completed"

                await wait_for(finished, timeout_s=30, interval_s=0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(proc.wait, 60)
    assert exit_code == 0

    text = stderr_path.read_text()
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert [line["msg"] for line in about_job] == ["job started", "job completed"]
    for line in about_job:
        assert line["type"] == "flashcard_generation" and line["attempt"] == 1
        assert line["user_id"]
    posted = next(line for line in lines
                  if line.get("method") == "POST" and line.get("path") == "/api/jobs")
    assert posted["request_id"] == "ops-check-1" and posted["status"] == 201
    assert isinstance(posted["duration_ms"], float) and posted["user_id"] == about_job[0]["user_id"]
    assert token not in text and "Chemiosmosis" not in text and "protons" not in text
    assert lines[-1]["msg"] == "shutdown complete"
    assert sum(line["msg"] == "shutdown complete" for line in lines) == 1
