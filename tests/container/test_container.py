"""The image an operator runs, built from the top-level Dockerfile and run for real.

Built with podman and run with ``buildah run --isolation chroot`` (what works on a machine
without user namespaces for an OCI runtime, see tools/container-base.sh). chroot isolation
shares the host's network, so the server gets a free port on 127.0.0.1: the test swaps
``8080`` in the image's CMD and HEALTHCHECK for it and runs them otherwise exactly as the
image declares them.

One test, in the order an operator meets things: build, start, health check, create a user
with the CLI inside the container, generate flashcards over HTTP, ``docker stop`` (SIGTERM
to the server, which is PID 1 of a real container), start a fresh container on the same
volume and find the cards again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/cardforge:test"
DEFAULT_BASE = "localhost/cardforge-base:bookworm"
DECLARED_PORT = "8080"
STORAGE = ["--storage-driver", "vfs"]
BUILD_TIMEOUT_S = 420
START_TIMEOUT_S = 90
CONTENT = (ROOT / "tests/unit/corpus/photosynthesis.md").read_text()

pytestmark = [pytest.mark.container, pytest.mark.timeout(600)]


def _why_no_containers() -> str | None:
    missing = [tool for tool in ("podman", "buildah") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed: run `bash tools/container-base.sh` as "
                "root (or .ci/run) to install them and build the base image")
    if os.geteuid() != 0:
        return ("needs root: images are built and run with chroot isolation, since this kind of "
                "machine has no user namespaces for podman's OCI runtime")
    return None


def _run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args[:4])} … exited {result.returncode}:\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return result


def _base_image() -> str:
    """The local Debian base .ci/run prepared, or build it now (podman is there by now)."""
    given = os.environ.get("CARDFORGE_CONTAINER_BASE")
    if given:
        return given
    if _run("podman", *STORAGE, "image", "exists", DEFAULT_BASE, check=False).returncode == 0:
        return DEFAULT_BASE
    return _run("bash", str(ROOT / "tools/container-base.sh"), timeout=400).stdout.strip()


def _image_id(name: str) -> str | None:
    found = _run("podman", *STORAGE, "image", "inspect", "--format", "{{.Id}}", name, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


@dataclass
class Built:
    config: dict[str, Any]
    size_bytes: int
    build_s: float


@pytest.fixture(scope="module")
def image() -> Iterator[Built]:
    reason = _why_no_containers()
    if reason:
        pytest.skip(reason)
    base = _base_image()
    previous = _image_id(IMAGE)
    started = time.monotonic()
    # --format docker: the OCI image format has no HEALTHCHECK, podman would drop it
    # --layers=false: with the vfs driver every cached layer is a full copy of the file
    # system, which made a fully cached build take minutes; one commit per stage is ~1 min
    _run("podman", *STORAGE, "build", "--layers=false", "--format", "docker",
         "--isolation", "chroot",
         "-v", "/etc/ssl/certs:/etc/ssl/certs:ro", "--build-arg", f"BASE_IMAGE={base}",
         "-t", IMAGE, str(ROOT), timeout=BUILD_TIMEOUT_S)
    build_s = time.monotonic() - started
    current = _image_id(IMAGE)
    if previous and previous != current:
        # each rebuild would otherwise leave a full vfs copy of the old image behind
        _run("podman", *STORAGE, "rmi", previous, check=False)
    inspected = json.loads(_run("podman", *STORAGE, "image", "inspect", IMAGE).stdout)[0]
    # podman reports the health check beside Config, docker inside it: keep one shape
    config = {**inspected["Config"], "Healthcheck": inspected.get("Healthcheck")
              or inspected["Config"].get("Healthcheck")}
    built = Built(config, int(inspected["Size"]), build_s)
    print(f"\nimage {IMAGE}: {built.size_bytes / 1e6:.0f} MB, built in {build_s:.0f} s")
    yield built


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name in parentheses may hold spaces: the ppid follows the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Container:
    """One ``buildah from`` container with a host directory mounted as its /data volume."""

    def __init__(self, volume: Path, port: int) -> None:
        self.volume, self.port = volume, port
        self.name = _run("buildah", *STORAGE, "from", IMAGE).stdout.strip()
        # buildah mounts the image's own VOLUME over a `-v` bind of the same path, so writes
        # would land in a container-private directory and vanish with the container. Drop
        # the declaration from this working container (the image keeps it, the test above
        # checks that) so /data is the host directory, as `docker run -v DIR:/data` makes it.
        _run("buildah", *STORAGE, "config", "--volume", "/data-", self.name)
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 - closed in remove()

    def _run_args(self, user: str) -> list[str]:
        return ["buildah", *STORAGE, "run", "--isolation", "chroot", "--user", user,
                "-v", f"{self.volume}:/data", self.name, "--"]

    def start(self, config: dict[str, Any]) -> None:
        command = [*config["Entrypoint"], *config["Cmd"]]
        command = [self.port_for(arg) for arg in command]
        self.proc = subprocess.Popen(
            self._run_args(config["User"]) + command, stdout=self.log, stderr=subprocess.STDOUT
        )

    def port_for(self, arg: str) -> str:
        return arg.replace(DECLARED_PORT, str(self.port))

    def exec(self, config: dict[str, Any], *command: str) -> subprocess.CompletedProcess[str]:
        return _run(*self._run_args(config["User"]), *command, check=False, timeout=120)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"/healthz never answered:\n{self.output()}")

    def server_pid(self) -> int:
        """The server process: what PID 1 would be in a real container runtime. buildah run
        answers SIGTERM with SIGKILL to its child, so the signal goes to the server itself,
        exactly as `docker stop` delivers it."""
        assert self.proc is not None
        pending = [self.proc.pid]
        while pending:
            pid = pending.pop()
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmdline and any(b"python" in part for part in cmdline[:1]):
                return pid
            pending.extend(_children(pid))
        raise AssertionError("the server process was not found under buildah run")

    def stop(self) -> int:
        assert self.proc is not None
        os.kill(self.server_pid(), signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def remove(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.server_pid(), signal.SIGKILL)
            except AssertionError:
                self.proc.kill()
            self.proc.wait(timeout=30)
        _run("buildah", *STORAGE, "rm", self.name, check=False)
        self.log.close()


def _api(url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_finished(url: str, token: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = _api(f"{url}/api/jobs/{job_id}", token)
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_image_declares_a_non_root_user_a_data_volume_and_exec_form_commands(
    image: Built,
) -> None:
    config = image.config
    assert config["User"] and not config["User"].startswith(("0", "root"))
    assert "/data" in config["Volumes"]
    assert "CARDFORGE_DATA_DIR=/data" in config["Env"]
    # exec form: no shell between the runtime and the server, or SIGTERM stops at the shell
    assert config["Entrypoint"][0].startswith("/") and config["Entrypoint"][:2] != ["/bin/sh", "-c"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert any("/healthz" in part for part in config["Healthcheck"]["Test"])


def test_container_serves_generates_stops_cleanly_and_keeps_the_cards_on_its_volume(
    image: Built, tmp_path: Path,
) -> None:
    config = image.config
    volume = tmp_path / "data"
    volume.mkdir()
    uid, gid = (int(part) for part in config["User"].split(":"))
    os.chown(volume, uid, gid)  # what a named volume gets from the image's /data

    first = Container(volume, free_port())
    try:
        first.start(config)
        first.wait_healthy()
        health = first.exec(config, *map(first.port_for, config["Healthcheck"]["Test"][1:]))
        assert health.returncode == 0, health.stderr

        created = first.exec(config, "cardforge", "user", "create", "operator", "--json")
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout.strip().splitlines()[-1])["token"]

        job = _api(f"{first.url}/api/jobs", token,
                   {"type": "flashcard_generation", "payload": {"content": CONTENT}})
        finished = _wait_finished(first.url, token, job["id"])
        assert finished["status"] == "completed", finished
        cards = _api(f"{first.url}/api/flashcards?jobId={job['id']}", token)
        assert cards["flashcards"], cards

        assert first.stop() == 0, first.output()
        assert not (volume / "pgdata" / "postmaster.pid").exists(), "PostgreSQL left running"
        # the container's log is JSON lines (no terminal): the job is findable by its id
        lines = [json.loads(line) for line in first.output().splitlines()
                 if line.startswith("{")]
        about_job = [line["msg"] for line in lines if line.get("job_id") == job["id"]]
        assert about_job == ["job started", "job completed"], first.output()
        assert lines[-1]["msg"] == "shutdown complete", first.output()
        assert token not in first.output()
    finally:
        first.remove()

    second = Container(volume, free_port())
    try:
        second.start(config)
        second.wait_healthy()
        again = _api(f"{second.url}/api/flashcards?jobId={job['id']}", token)
        assert [c["id"] for c in again["flashcards"]] == [c["id"] for c in cards["flashcards"]]
        assert second.stop() == 0, second.output()
    finally:
        second.remove()
