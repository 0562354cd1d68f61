"""Moving in, losing nothing: a class's data folder brought into the configured class database.

    python -m model_store migrate [--dry-run] [--data DIR] [--models DIR] [--runs DIR]

What a release before the school database kept on one machine's disk: the SQLite class database
(`drawings.sqlite3`, schema 1 or 2: drawings, names, sign-ins), `class-limits.json`, the models
folder (NAME.json beside its files) and the runs folder (a folder a run: config.json,
status.json, events.jsonl, its checkpoints; runs/archive/ the archived ones). Each kind's rows
are added to the configured database (a school's PostgreSQL, or the data folder's own SQLite
file, brought up to date in place), none twice: run it again and it adds nothing. The report
gives each kind's count before and after; `--dry-run` does all of it in a transaction it then
rolls back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select

from model_store.database import (
    Database,
    count_rows,
    drawings,
    insert_new,
    models,
    people,
    run_events,
    run_files,
    runs,
    sessions,
    settings,
    teachers,
)
from model_store.status import Status
from model_store.store import ModelStore

KINDS = (
    ("drawings", drawings),
    ("people", people),
    ("teacher browsers", teachers),
    ("settings", settings),
    ("models", models),
    ("runs", runs),
    ("run events", run_events),
)
RUN_FILES = {"checkpoint": "best.weights.h5", "last": "last.keras", "teaching": "teaching.npz"}


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


def migrate(
    data: Path, target: Database, dry_run: bool = False, models_folder: Path | None = None, runs_folder: Path | None = None
) -> Report:
    """The data folder's class database and limits, the models folder's models and the runs
    folder's runs into `target`; what it added."""
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
            if runs_folder is not None:
                import_runs(runs_folder, writing, report)
            after = {kind: count_rows(writing, table) for kind, table in KINDS}
            if dry_run:
                writing.rollback()
        if models_folder is not None and not dry_run:  # each model in a transaction of its own, after the rows
            after["models"] += _models(models_folder, target, Path(tmp) / "cache", report)
    report.counts = {kind: (before[kind], after[kind]) for kind, _ in KINDS}
    if same:
        report.notes.append(f"{source_file} is the class database itself: brought to this release's schema in place")
    return report


def _rows(reading: Connection, writing: Connection) -> None:
    """Names by person, sessions by token (so each browser goes on as its person), sign-ins by
    their session, drawings by when and by whom: each row once."""
    insert_new(writing, people, [r._asdict() for r in reading.execute(select(people))], ("browser",))
    insert_new(writing, sessions, [r._asdict() for r in reading.execute(select(sessions))], ("token",))
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


def import_runs(folder: Path, writing: Connection, report: Report | None = None) -> int:
    """Each run folder of the old layout (and of runs/archive/, archived) as its rows, a run once
    (by its id); how many came in. A folder that cannot be read is named in the report and left."""
    have = set(writing.execute(select(runs.c.id)).scalars())
    archived = folder / "archive"
    found = [(p, False) for p in _run_folders(folder)] + [(p, True) for p in _run_folders(archived)]
    added = 0
    for path, is_archived in found:
        if path.name in have:
            continue
        try:
            config = json.loads((path / "config.json").read_text())
            status = json.loads((path / "status.json").read_text())
            events = _old_events(path / "events.jsonl")
        except (OSError, ValueError) as err:
            if report is not None:
                report.notes.append(f"run {path.name} was not brought in: it cannot be read ({err})")
            continue
        state = Status.ARCHIVED if is_archived else status.get("status", Status.FAILED)
        values = {"id": path.name, "config": json.dumps(config), "state": state, "status": json.dumps(status), "version": 1}
        writing.execute(runs.insert().values(**values))
        rows = [{"run": path.name, "seq": e["seq"], "event": json.dumps(e)} for e in events]
        insert_new(writing, run_events, rows, ("run", "seq"))
        kept = [(kind, path / name) for kind, name in RUN_FILES.items() if (path / name).is_file()]
        insert_new(writing, run_files, [{"run": path.name, "kind": k, "data": p.read_bytes()} for k, p in kept], ("run", "kind"))
        added += 1
    return added


def _run_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "archive" and (p / "config.json").is_file())


def _old_events(path: Path) -> list[dict]:
    """A run's events.jsonl, each numbered (`seq`: an older file's lines are numbered in order);
    a line that is not an event (a torn write's remains) is passed over."""
    events = []
    lines = path.read_bytes().splitlines() if path.is_file() else []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append({**event, "seq": event.get("seq", len(events))})
    return events


def _models(folder: Path, target: Database, cache: Path, report: Report) -> int:
    """The models folder's whole models into the class database (`ModelStore.import_folder`: a
    model once, by its name and checksum); how many came in."""
    found, imported = ModelStore(cache, bundled_dir=None, db=target).import_folder(folder)
    if found > imported:
        report.notes.append(f"models: {found - imported} of the {found} in {folder} were there already, or not whole")
    return imported
