"""The shipped migrations are well formed, and schema.sql stays the frozen baseline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.database import Migration, MigrationError, check_sequence, load_migrations, schema_sql

ROOT = Path(__file__).resolve().parents[2]


def _statements(sql: str) -> str:
    """SQL without comments and with whitespace collapsed: what the server runs."""
    return " ".join(re.sub(r"--[^\n]*", "", sql).split())


def test_schema_sql_is_still_release_824352e_so_upgrades_match_fresh_installs() -> None:
    """A statement added to schema.sql would reach fresh installs only: changes go into a
    new migration. Comments may be reworded."""
    release = (ROOT / "tests" / "fixtures" / "schema_824352e.sql").read_text()
    assert _statements(schema_sql()) == _statements(release)


def test_shipped_migrations_are_numbered_from_zero_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(len(migrations)))
    assert migrations[0].name == "baseline" and migrations[0].sql == schema_sql()


def test_no_migration_manages_its_own_transaction() -> None:
    for migration in load_migrations()[1:]:
        body = _statements(migration.sql).upper()
        assert not re.search(r"\b(BEGIN|COMMIT|ROLLBACK)\s*;", body), migration.label
        assert "CONCURRENTLY" not in body, migration.label


@pytest.mark.parametrize("versions", [[0, 2], [0, 1, 1], [1], []])
def test_two_branches_adding_the_same_number_or_a_gap_are_refused(versions: list[int]) -> None:
    with pytest.raises(MigrationError, match="without gaps or repeats"):
        check_sequence([Migration(v, f"m{v}", "") for v in versions])
