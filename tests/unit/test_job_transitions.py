"""``TRANSITIONS`` is the state machine written down once; these tests hold the queue's SQL
to it. Every statement in server/queue/queries.py, and every function a migration defines,
that sets a job's status must guard the status it leaves in its WHERE clause, and every
(from, to) pair it can write must be an edge of TRANSITIONS: a new statement that, say,
revived a completed job would fail here before it could fail in production."""

from __future__ import annotations

import re

from server.database import load_migrations
from server.queue import queries as q
from server.queue.jobs import TERMINAL, TRANSITIONS, JobStatus

# statement: (the status it requires, the statuses it may write). A statement that sets
# status but is missing here fails test_every_status_write_is_listed.
STATUS_WRITES: dict[str, tuple[JobStatus, frozenset[JobStatus]]] = {
    "cardforge_claim": (JobStatus.PENDING, frozenset({JobStatus.PROCESSING})),
    "COMPLETE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.COMPLETED})),
    "cardforge_complete": (JobStatus.PROCESSING, frozenset({JobStatus.COMPLETED})),
    "REQUEUE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.PENDING})),
    "RELEASE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.PENDING})),
    "RELEASE_ALL_OF_WORKER": (JobStatus.PROCESSING, frozenset({JobStatus.PENDING})),
    "FAIL_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.FAILED})),
    "CANCEL_RUNNING_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.CANCELLED})),
    "REAP_EXPIRED": (
        JobStatus.PROCESSING,
        frozenset({JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED}),
    ),
    "CANCEL": (JobStatus.PENDING, frozenset({JobStatus.CANCELLED})),
}

# Writes whose guard is an earlier statement of the same transaction: it selects the rows
# in the source status FOR UPDATE, so they cannot change before the write. A function's
# guard is its own first step.
GUARDED_BY = {"cardforge_claim": "cardforge_claim", "cardforge_complete": "cardforge_complete"}
FUNCTION = re.compile(
    r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\(.*?\$\$(.*?)\$\$", re.DOTALL
)

OWN_WHERE = re.compile(r"\sWHERE\s")
SET_STATUS = re.compile(r"(?<![\w.=])status\s*=\s*(CASE\b.*?\bEND|'[a-z]+')", re.DOTALL)
# in a CASE, what is written follows THEN or ELSE; ``ELSE status`` leaves the row as it is
WRITTEN = re.compile(r"(?:THEN|ELSE|^)\s*'([a-z]+)'")


def statements() -> dict[str, str]:
    named = {name: sql for name, sql in vars(q).items() if name.isupper() and isinstance(sql, str)}
    for migration in load_migrations()[1:]:
        named.update(FUNCTION.findall(migration.sql))
    return named


def job_updates() -> dict[str, str]:
    """Every UPDATE of background_jobs, CTEs before it or not."""
    return {
        name: sql for name, sql in statements().items()
        if re.search(r"^UPDATE background_jobs\b", sql, re.MULTILINE)
    }


def update_part(sql: str) -> str:
    return sql[re.search(r"^UPDATE background_jobs\b", sql, re.MULTILINE).start():]  # type: ignore[union-attr]


def set_clause(sql: str) -> str:
    """From SET to the UPDATE's own WHERE (its subqueries come after that)."""
    return OWN_WHERE.split(update_part(sql).split(" SET", 1)[1], 1)[0]


def where_clause(sql: str) -> str:
    return OWN_WHERE.split(update_part(sql), 1)[1]


def written_statuses(sql: str) -> set[str]:
    match = SET_STATUS.search(set_clause(sql))
    return set(WRITTEN.findall(match.group(1))) if match else set()


def test_every_status_write_is_listed() -> None:
    writers = {name for name, sql in job_updates().items() if written_statuses(sql)}
    assert writers == set(STATUS_WRITES)


def test_each_status_write_guards_its_source_and_writes_only_what_is_listed() -> None:
    updates = job_updates()
    for name, (source, targets) in STATUS_WRITES.items():
        sql = updates[name]
        assert written_statuses(sql) == {t.value for t in targets}, name
        guard = rf"(?<![\w.])(\w+\.)?status\s*(=\s*|IN\s*\([^)]*)'{source.value}'"
        guarded = statements()[GUARDED_BY[name]] if name in GUARDED_BY else where_clause(sql)
        if name in GUARDED_BY:
            assert "FOR UPDATE" in guarded, f"{GUARDED_BY[name]} must lock the rows it guards"
        assert re.search(guard, guarded), f"{name} does not require {source}"


def test_every_written_change_is_an_edge_of_the_state_machine() -> None:
    for name, (source, targets) in STATUS_WRITES.items():
        assert targets <= TRANSITIONS[source], name


def test_updates_that_leave_status_alone_never_touch_a_finished_job_s_state() -> None:
    # heartbeat, progress and cancel-request update a row in place: each is fenced on an
    # active status, so a terminal job's row is never changed after the fact
    for name, sql in job_updates().items():
        if name in STATUS_WRITES:
            continue
        guards = set(re.findall(r"status\s*=\s*'([a-z]+)'", where_clause(sql)))
        assert guards and not guards & {s.value for s in TERMINAL}, name
