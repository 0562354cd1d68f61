"""A lesson kept whole: back it up, put it back, start the next one. No Streamlit here.

A backup is a folder:

    class.sqlite3     the class database (drawings, names, sign-ins), copied with SQLite's online
                      backup API: complete and consistent even while the class draws
    models/           every stored model's record and files
    runs/             every run's records (config, status, progress); not its checkpoints
    lesson.json       when, and how many of each

`python -m model_store backup DIR` and `restore DIR`; the Class page's "Download the lesson" is
the same folder as a zip, and its "Start a new lesson" backs up into the data folder's
`lessons/` first.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from model_store.drawings import Drawings, DrawingsError
from model_store.files import data_root, runs_root
from model_store.roles import Person, require
from model_store.store import ModelStore

DATABASE = "class.sqlite3"
RUN_FILES = ("config.json", "status.json", "events.jsonl")  # a run's record; checkpoints stay out


def backup(into: Path, by: Person, db: Drawings | None = None, store: ModelStore | None = None) -> dict:
    """The lesson as it is now, into the new folder `into`; what it holds (lesson.json)."""
    require(by, "lesson")
    db, store = db or Drawings(), store or ModelStore()
    into = Path(into)
    into.mkdir(parents=True)
    with db.connect() as source:  # made or upgraded first, so a backup is always the current schema
        target = sqlite3.connect(into / DATABASE)
        try:
            source.backup(target)  # pages of the file copied under SQLite's own locking
        finally:
            target.close()
    models = _copy_models(store.root, into / "models")
    runs = _copy_runs(runs_root(), into / "runs")
    drawings = Drawings(into / DATABASE).count()
    summary = {"made": datetime.now(UTC).isoformat(timespec="seconds"), "drawings": drawings, "models": models, "runs": runs}
    (into / "lesson.json").write_text(json.dumps(summary, indent=1))
    return summary


def _copy_models(root: Path, into: Path) -> int:
    """Each whole model's record and its files (not half-written temporaries, which start with a dot)."""
    into.mkdir()
    copied = 0
    for entry in ModelStore(root, bundled_dir=None).list():
        if entry.broken:
            continue
        for name in [*entry.record["files"].values()]:
            shutil.copy2(root / name, into / name)
        shutil.copy2(root / f"{entry.name}.json", into / f"{entry.name}.json")
        copied += 1
    if (root / "default.txt").is_file():
        shutil.copy2(root / "default.txt", into / "default.txt")
    return copied


def _copy_runs(root: Path, into: Path) -> int:
    into.mkdir()
    copied = 0
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and (folder / "config.json").is_file():
            (into / folder.name).mkdir()
            for name in RUN_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, into / folder.name / name)
            copied += 1
    return copied


def zipped(folder: Path) -> bytes:
    """A backup folder as one zip file (stored, not compressed: models are zips already)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def restore(source: Path, by: Person, db: Drawings | None = None, store: ModelStore | None = None) -> dict:
    """Put a backup back: the class database replaced by the backup's (through the backup API,
    so app processes reading it see the old one or the new one), its models and runs copied in
    (models and runs of the same name are replaced; others stay). What it held."""
    require(by, "lesson")
    db, store, source = db or Drawings(), store or ModelStore(), Path(source)
    if not (source / "lesson.json").is_file() or not (source / DATABASE).is_file():
        raise ValueError(f"{source} is not a lesson backup (it needs lesson.json and {DATABASE})")
    Drawings(source / DATABASE).count()  # readable, and of a schema this release knows, or DrawingsError
    backed_up = sqlite3.connect(source / DATABASE)
    try:
        with db.connect() as target:
            backed_up.backup(target)
    except sqlite3.Error as err:
        raise DrawingsError(f"the backup's database could not be put back: {err}") from None
    finally:
        backed_up.close()
    store.root.mkdir(parents=True, exist_ok=True)
    for path in sorted((source / "models").iterdir()):
        if path.suffix != ".json":  # the files first, the records that name them last
            shutil.copy2(path, store.root / path.name)
    for path in sorted((source / "models").glob("*.json")):
        shutil.copy2(path, store.root / path.name)
    for folder in sorted((source / "runs").iterdir()):
        shutil.copytree(folder, runs_root() / folder.name, dirs_exist_ok=True)
    return json.loads((source / "lesson.json").read_text())


def lessons_root() -> Path:
    return data_root() / "lessons"


def new_lesson(by: Person, archive_runs) -> tuple[Path, int, int]:
    """Back the lesson up into `lessons/`, then clear the class drawings and move the finished
    runs out of every list (`archive_runs(0)`, from `training.runs`); models and names stay.
    (the backup's folder, drawings cleared, runs archived)."""
    require(by, "lesson")
    folder = lessons_root() / datetime.now().strftime("lesson-%Y%m%d-%H%M%S")
    backup(folder, by)
    return folder, Drawings().delete_all(by), archive_runs(0)
