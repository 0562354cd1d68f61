"""Moving in, losing nothing: a class's data folder brought into the configured class database.

    python -m model_store migrate [--dry-run] [--data DIR] [--models DIR] [--runs DIR]

What a release before the school database kept on one machine's disk: the SQLite class database
(`drawings.sqlite3`, schema 1 or 2: drawings, names, sign-ins), `class-limits.json`, the models
folder and the runs folder. Each kind's rows are added to the configured database (a school's
PostgreSQL, or the data folder's own SQLite file, brought up to date in place), none twice: run it
again and it adds nothing. The report gives each kind's count before and after; `--dry-run` does
all of it in a transaction it then rolls back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select

from model_store.database import Database, count_rows, drawings, insert_new, people, settings, teachers

KINDS = (("drawings", drawings), ("people", people), ("teacher browsers", teachers), ("settings", settings))


@dataclass
class Report:
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind: (before, after)
    notes: list[str] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would have" if dry_run else "has"
        rows = [
            f"{kind}: {before:,} before, {after:,} after (+{after - before:,})" for kind, (before, after) in self.counts.items()
        ]
        return [*rows, *self.notes, f"the class database {verb} everything the folder held"]


def migrate(data: Path, target: Database, dry_run: bool = False) -> Report:
    """The data folder's class database and limits into `target`; what it added."""
    report = Report()
    source_file = data / "drawings.sqlite3"
    same = target.sqlite and source_file.resolve() == target.path.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        source = None
        if source_file.is_file() and not same:
            copy = Path(tmp) / "source.sqlite3"  # brought to this release's schema on a copy: the folder stays as it was
            shutil.copy2(source_file, copy)
            source = Database(copy)
        with target.write(lock="migrate") as writing:
            before = {kind: count_rows(writing, table) for kind, table in KINDS}
            if source is not None:
                with source.read() as reading:
                    _rows(reading, writing)
            _limits(data, writing, report)
            report.counts = {kind: (before[kind], count_rows(writing, table)) for kind, table in KINDS}
            if dry_run:
                writing.rollback()
    if same:
        report.notes.append(f"{source_file} is the class database itself: brought to this release's schema in place")
    return report


def _rows(reading: Connection, writing: Connection) -> None:
    """Names and sign-in browsers by their browser, drawings by when and by whom: each row once."""
    insert_new(writing, people, [r._asdict() for r in reading.execute(select(people))], ("browser",))
    insert_new(writing, teachers, [r._asdict() for r in reading.execute(select(teachers))], ("browser",))
    key = (drawings.c.created, drawings.c.writer, drawings.c.label)
    have = set(writing.execute(select(*key)).tuples())
    new = []
    for row in reading.execute(select(drawings)):
        if (row.created, row.writer, row.label) not in have:  # ids are the school's own: each class's start at 1
            new.append({k: v for k, v in row._asdict().items() if k != "id"})
    for start in range(0, len(new), 500):
        writing.execute(drawings.insert(), new[start : start + 500])


def _limits(data: Path, writing: Connection, report: Report) -> None:
    """class-limits.json becomes the "limits" setting (checked where it is read, as it was),
    unless the database has limits already."""
    path = data / "class-limits.json"
    if not path.is_file():
        return
    try:
        limits = json.loads(path.read_text())
        if not isinstance(limits, dict):
            raise ValueError("not a table of figures")
    except (OSError, ValueError) as err:
        report.notes.append(f"{path} was not brought in: it cannot be read ({err})")
        return
    insert_new(writing, settings, [{"key": "limits", "value": json.dumps(limits)}], ("key",))
