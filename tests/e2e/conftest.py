"""A real browser (Debian's Chromium) against a real server process.

Each test gets its own database (``database_url``), its own ``cardforge serve`` subprocess
on a free 127.0.0.1 port and a user made with ``cardforge user create``. Generation is real:
the offline provider, or the real Anthropic SDK talking to the fake Anthropic server
(tests/fakes), which runs on its own event loop in a thread so the tests stay synchronous
(Playwright's sync API refuses to run inside a running asyncio loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from server.database import dsn_for_database
from tests.conftest import _admin
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support.net import free_port

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
STARTUP_TIMEOUT_S = 30.0
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark (and without Chromium, skip) the browser tests, and run them last: Playwright's
    session-wide sync driver leaves a running event loop in the main thread until the
    session ends, which would break every async test scheduled after it."""
    skip = pytest.mark.skip(reason=f"Debian's Chromium is not installed at {CHROMIUM}")
    browser_tests = []
    for item in items:
        if E2E_DIR not in Path(str(item.fspath)).resolve().parents:
            continue
        browser_tests.append(item)
        item.add_marker(pytest.mark.e2e)
        if not CHROMIUM.exists():
            item.add_marker(skip)
    chosen = set(browser_tests)
    items[:] = [item for item in items if item not in chosen] + browser_tests


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


# ---------------------------------------------------------------- databases

# Once Playwright's sync API has started, this thread reports a running event loop (its
# loop runs in a greenlet), so asyncio.run() and pytest-asyncio's runner refuse to start.
# The session's template database is therefore made before the browser (an autouse
# fixture runs first), and each test's clone is made by a thread of its own.


def _run_in_thread(coro: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


@pytest.fixture(scope="session", autouse=True)
def _template_before_browser(template_database: str) -> str:
    return template_database


@pytest.fixture
def database_url(pg_server_dsn: str, template_database: str) -> Iterator[str]:
    """tests/conftest.py's per-test clone of the template, made without this thread's loop."""
    name = f"cf_e2e_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await _admin(pg_server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_in_thread(admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield dsn_for_database(pg_server_dsn, name)
    _run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------- the fake Anthropic API


class ThreadedFakeAnthropic:
    """tests.fakes.FakeAnthropic on a private event loop in a daemon thread."""

    def __init__(self) -> None:
        self.fake = FakeAnthropic()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base_url = self._call(self.fake.start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def do(self, action: Callable[[FakeAnthropic], None]) -> None:
        """Script the fake from the test thread, on the fake's own loop."""

        async def run() -> None:
            action(self.fake)

        self._call(run())

    def close(self) -> None:
        self._call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def fake_llm() -> Iterator[ThreadedFakeAnthropic]:
    fake = ThreadedFakeAnthropic()
    try:
        yield fake
    finally:
        fake.close()


# ---------------------------------------------------------------- the server process


@dataclass
class LiveServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON API with the user's token (for setup and checks, not the flows tested)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def sign_in(self, page: Page) -> None:
        """Through the login form, as a person pasting their token would."""
        page.goto(self.url + "/login")
        page.get_by_label("API token").fill(self.token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.url + "/")


def _server_env(database_url: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("CARDFORGE_", "ANTHROPIC_")) and key != "DATABASE_URL"
    }
    env.update({
        "DATABASE_URL": database_url,
        "CARDFORGE_DATA_DIR": str(data_dir),
        "CARDFORGE_WORKERS": "2",
        "CARDFORGE_POLL_SECONDS": "0.5",
        "CARDFORGE_RETRY_BASE_SECONDS": "0.2",
        "CARDFORGE_SHUTDOWN_GRACE_SECONDS": "1",
        "CARDFORGE_USER_CONCURRENCY": "4",
        "PYTHONUNBUFFERED": "1",
        **extra,
    })
    return env


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not become ready:\n{log.read_text()}")


def _create_user(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "user", "create", "e2e-student", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    token: str = json.loads(done.stdout.strip().splitlines()[-1])["token"]
    return token


StartServer = Callable[..., LiveServer]


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(llm=fake_llm or None, **CARDFORGE_env)`` → a LiveServer, stopped with
    SIGTERM (and its exit checked) after the test."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(llm: ThreadedFakeAnthropic | None = None, **settings: str) -> LiveServer:
        extra = {f"CARDFORGE_{name.upper()}": value for name, value in settings.items()}
        if llm is not None:
            extra.update({"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": llm.base_url})
        env = _server_env(database_url, tmp_path / "data", extra)
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        token = _create_user(env)
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, process, log_path)
        return LiveServer(url=url, token=token, process=process, log=log_path)

    yield start
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.fixture
def screenshot(page: Page) -> Callable[[str], None]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-picture
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
