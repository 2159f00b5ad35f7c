"""The Python enums and schema.sql's CHECK constraints describe the same sets: a status or
type added on one side only would be refused by the database at run time."""

from __future__ import annotations

import re

from handlers.models import JobType
from server.database import schema_sql
from server.queue.jobs import TERMINAL, TRANSITIONS, JobStatus


def check_values(column: str) -> set[str]:
    match = re.search(rf"{column}\s+text NOT NULL[^,]*?CHECK \({column} IN\s*\(([^)]*)\)\)",
                      schema_sql(), re.DOTALL)
    assert match, f"no CHECK constraint found for {column}"
    return set(re.findall(r"'([a-z_]+)'", match.group(1)))


def test_job_status_enum_mirrors_the_status_check_constraint() -> None:
    assert check_values("status") == {s.value for s in JobStatus}


def test_job_type_enum_mirrors_the_type_check_constraint() -> None:
    assert check_values("type") == {t.value for t in JobType}


def test_the_state_machine_covers_every_status_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
    assert all(not TRANSITIONS[s] for s in TERMINAL)
    assert all(TRANSITIONS[s] for s in set(JobStatus) - TERMINAL)
