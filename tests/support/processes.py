"""Real server processes (``tests.faults.scripted_server``) for the fault tests: started,
signalled, killed and restarted."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.jobs import wait_for
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """``tests.faults.scripted_server`` in a subprocess, on a real socket; with
    ``serve=True`` the real ``cardforge serve`` (the real job handlers) instead. ``env`` adds
    variables that are not ``CARDFORGE_`` settings (``ANTHROPIC_BASE_URL``, ...)."""

    def __init__(
        self, database_url: str, *, serve: bool = False, env: dict[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CARDFORGE_WORKERS": "2",
            "CARDFORGE_LEASE_SECONDS": "1",
            "CARDFORGE_RETRY_BASE_SECONDS": "0.05",
            "CARDFORGE_RETRY_MAX_SECONDS": "0.2",
            "CARDFORGE_POLL_SECONDS": "0.5",
            "CARDFORGE_SHUTDOWN_GRACE_SECONDS": "1",
            "CARDFORGE_LLM_PROVIDER": "offline",
            "CARDFORGE_USER_CONCURRENCY": "100",
            **{f"CARDFORGE_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.env.pop("ANTHROPIC_API_KEY", None)
        self.env.update(env or {})
        self.serve = serve
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close(), after the process

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    async def start(self) -> None:
        command = (["-m", "server.cli", "serve", "--port", str(self.port)] if self.serve
                   else ["-m", "tests.faults.scripted_server", str(self.port)])
        self.proc = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{self.url}/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(healthy, timeout_s=30, interval_s=0.1)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.log.close()


async def post_job(server: ServerProcess, headers: dict[str, str], content: str) -> str:
    async with aiohttp.ClientSession(headers=headers) as s, s.post(
        f"{server.url}/api/jobs",
        json={"type": "flashcard_generation", "payload": {"content": content}},
    ) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])
