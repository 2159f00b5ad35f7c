"""``TRANSITIONS`` is the state machine written down once; these tests hold the queue's SQL
to it. Every statement in server/queue/queries.py that sets a job's status must guard the
status it leaves in its WHERE clause, and every (from, to) pair it can write must be an
edge of TRANSITIONS: a new statement that, say, revived a completed job would fail here
before it could fail in production."""

from __future__ import annotations

import re

from server.queue import queries as q
from server.queue.jobs import TERMINAL, TRANSITIONS, JobStatus

# statement: (the status it requires, the statuses it may write). A statement that sets
# status but is missing here fails test_every_status_write_is_listed.
STATUS_WRITES: dict[str, tuple[JobStatus, frozenset[JobStatus]]] = {
    "CLAIM_JOB": (JobStatus.PENDING, frozenset({JobStatus.PROCESSING})),
    "COMPLETE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.COMPLETED})),
    "REQUEUE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.PENDING})),
    "RELEASE_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.PENDING})),
    "FAIL_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.FAILED})),
    "CANCEL_RUNNING_JOB": (JobStatus.PROCESSING, frozenset({JobStatus.CANCELLED})),
    "REAP_EXPIRED": (
        JobStatus.PROCESSING,
        frozenset({JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED}),
    ),
    "CANCEL_PENDING": (JobStatus.PENDING, frozenset({JobStatus.CANCELLED})),
}

OWN_WHERE = re.compile(r"\sWHERE\s")
SET_STATUS = re.compile(r"\bstatus\s*=\s*(CASE\b.*?\bEND|'[a-z]+')", re.DOTALL)


def job_updates() -> dict[str, str]:
    return {
        name: sql for name, sql in vars(q).items()
        if name.isupper() and isinstance(sql, str)
        and re.match(r"\s*UPDATE background_jobs\b", sql)
    }


def set_clause(sql: str) -> str:
    """From SET to the statement's own WHERE (its subqueries come after that)."""
    return OWN_WHERE.split(sql.split(" SET", 1)[1], 1)[0]


def where_clause(sql: str) -> str:
    return OWN_WHERE.split(sql, 1)[1]


def written_statuses(sql: str) -> set[str]:
    match = SET_STATUS.search(set_clause(sql))
    return set(re.findall(r"'([a-z]+)'", match.group(1))) if match else set()


def test_every_status_write_is_listed() -> None:
    writers = {name for name, sql in job_updates().items() if written_statuses(sql)}
    assert writers == set(STATUS_WRITES)


def test_each_status_write_guards_its_source_and_writes_only_what_is_listed() -> None:
    updates = job_updates()
    for name, (source, targets) in STATUS_WRITES.items():
        sql = updates[name]
        assert written_statuses(sql) == {t.value for t in targets}, name
        guard = rf"(?<![\w.])(\w+\.)?status\s*=\s*'{source.value}'"
        assert re.search(guard, where_clause(sql)), f"{name} does not require {source}"


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
