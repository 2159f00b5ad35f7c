"""The README's two commands, as a newcomer pastes them, must not step on each other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command_under(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL)
    assert found, f"no sh block under {heading}"
    return found.group(1).strip()


def venvs(command: str) -> set[str]:
    return set(re.findall(r"python3 -m venv (\S+)", command))


def test_test_command_does_not_reinstall_into_the_run_commands_venv() -> None:
    """The failure: "Test it" re-installed the package in editable mode into the `.venv` that
    "Run it" made, and the server still running from it answered 500 (templates not found)
    and 404 for its static files."""
    run, test = command_under("Run it"), command_under("Test it")
    assert venvs(run) and venvs(test)
    assert venvs(run).isdisjoint(venvs(test))
    for venv in venvs(run):
        assert f"{venv}/" not in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert command_under("Test it") in (ROOT / ".ci/run").read_text().splitlines()
