"""``pip install .`` (not editable) must run from any directory, so everything the server
reads at run time has to be inside the wheel: schema.sql and the migrations, templates,
static files, prompts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_schema_migrations_templates_static_files_and_prompts(
    tmp_path: Path,
) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("cardforge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "server/schema.sql" in names
    migrations = {f"server/migrations/{p.name}" for p in (ROOT / "server/migrations").glob("*.sql")}
    assert migrations <= names
    assert {"web/templates/base.html", "web/templates/job.html", "web/static/app.js",
            "web/static/app.css", "web/templates/fragments/job.html",
            "web/static/js/live.js"} <= names
    assert {"handlers/prompts/flashcards.md", "handlers/prompts/distractors.md",
            "handlers/prompts/skill_tree.md"} <= names
    assert not any(name.startswith("tests/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cardforge = server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    packaged = zipfile.ZipFile(wheel).read("server/schema.sql").decode()
    assert packaged == (ROOT / "schema.sql").read_text()
