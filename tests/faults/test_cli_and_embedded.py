"""The ``cardforge`` command as a user runs it: fail-fast settings, migrate, user create, and
the zero-config embedded PostgreSQL surviving a holder killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.jobs import wait_for
from tests.support.net import free_port
from tests.support.processes import ROOT

pytestmark = pytest.mark.faults


def cardforge(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout, check=False,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CARDFORGE_") and k not in ("DATABASE_URL", "ANTHROPIC_API_KEY")}
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("name", "value", "mentions"),
    [
        ("CARDFORGE_WORKERS", "many", "CARDFORGE_WORKERS"),
        ("CARDFORGE_RATE_LIMIT", "0", "CARDFORGE_RATE_LIMIT"),
        ("CARDFORGE_LEASE_SECONDS", "-1", "CARDFORGE_LEASE_SECONDS"),
        ("CARDFORGE_LLM_PROVIDER", "gpt", "CARDFORGE_LLM_PROVIDER"),
    ],
)
def test_an_invalid_setting_fails_fast_with_one_line(name: str, value: str, mentions: str) -> None:
    result = cardforge("serve", env=base_env(**{name: value}), timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and mentions in lines[0] and "Traceback" not in result.stderr


def test_anthropic_provider_without_a_key_fails_fast() -> None:
    result = cardforge("serve", env=base_env(CARDFORGE_LLM_PROVIDER="anthropic"), timeout=30)
    assert result.returncode == 2
    assert "ANTHROPIC_API_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def test_migrate_and_user_create_print_a_working_token(database_url: str) -> None:
    env = base_env(DATABASE_URL=database_url)
    assert cardforge("migrate", env=env).returncode == 0
    result = cardforge("user", "create", "carol", "--json", env=env)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout.strip().splitlines()[-1])
    plain = cardforge("user", "create", "dave", env=env)
    token = plain.stdout.strip().splitlines()[-1]
    assert token.startswith("cf_") and created["token"].startswith("cf_")
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch("SELECT name, token_hash FROM users ORDER BY name")
    finally:
        await conn.close()
    assert [r["name"] for r in stored] == ["carol", "dave"]
    assert all(created["token"].encode() not in bytes(r["token_hash"]) for r in stored)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(f"/tmp/cardforge-cli-test-{os.getuid()}-{uuid.uuid4().hex[:6]}")
    path.mkdir()
    yield path
    pgdata = path / "pgdata"
    if (pgdata / "postmaster.pid").exists():  # never leave a server behind
        subprocess.run(["pkill", "-KILL", "-f", str(pgdata)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def postmaster_running(data_dir: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", f"postgres.*{data_dir}/pgdata"],
                           capture_output=True, check=False)
    return found.returncode == 0


async def test_embedded_postgres_survives_a_sigkilled_holder_and_stops_on_clean_exit(
    data_dir: Path,
) -> None:
    env = base_env(CARDFORGE_DATA_DIR=str(data_dir), CARDFORGE_LLM_PROVIDER="offline")

    async def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/readyz"

        async def ready() -> bool:
            assert proc.poll() is None, "server exited during startup"
            try:
                async with aiohttp.ClientSession() as s, s.get(url) as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, timeout_s=90, interval_s=0.2)
        return proc, url

    first, _ = await start()
    first.send_signal(signal.SIGKILL)
    first.wait()
    pids = json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text())
    assert first.pid in pids and postmaster_running(data_dir)  # what SIGKILL leaves behind

    second, _ = await start()  # adopts the orphaned postmaster, prunes the dead pid
    second.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(second.wait, 60) == 0

    async def stopped() -> bool:
        return not postmaster_running(data_dir)

    await wait_for(stopped, timeout_s=30)
    assert json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text()) == []


async def test_demo_link_signs_in_and_its_token_never_reaches_the_log(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = base_env(DATABASE_URL=database_url, CARDFORGE_LLM_PROVIDER="offline")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--demo", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            async def link_printed() -> bool:
                assert proc.poll() is None, log_path.read_text()
                return "/login?token=" in log_path.read_text()

            await wait_for(link_printed, timeout_s=60)
            link = next(word for word in log_path.read_text().split() if "/login?token=" in word)
            token = link.split("token=", 1)[1]
            async with aiohttp.ClientSession() as session, session.get(
                link.replace("localhost", "127.0.0.1"), allow_redirects=False
            ) as resp:
                assert resp.status == 303 and "cardforge_session" in resp.headers["Set-Cookie"]
        finally:
            proc.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(proc.wait, 60)
    assert exit_code == 0
    assert log_path.read_text().count(token) == 1  # printed once for the user, never logged
