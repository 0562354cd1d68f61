"""A class's lesson kept whole: back it up, put it back, start the next one. No Streamlit here.

A backup is a folder:

    class.sqlite3     the class's rows of the class database (`model_store.database`: its
                      drawings, people, limits, runs and their progress) and the school's models
                      with their files; not the accounts (teachers' passwords, students' secret
                      words: a download must not carry a hash a laptop can crack), sign-ins,
                      sessions, wrong-password counts or join codes, which are the school's. Read in one snapshot
                      while the class goes on, written as an SQLite file: the same on either
                      engine, so a backup made on PostgreSQL restores into SQLite and back
    lesson.json       when, which class, and how many of each

A restore replaces the class's rows with the backup's (into the class it was made in, or another:
a backup made before classes is the install's own class's) and puts its models back beside the
school's others, replacing those of the same name; nothing of another class is touched.

An earlier release's backup also held `models/` and `runs/` folders (models and runs were files
then): restoring it brings them into the class database.

A backup comes from outside (a teacher's download, a folder on a stick), so `restore` trusts none
of it until it is checked: nothing but plain files inside the folder (no symlinks, devices or
paths leading out), a readable database of a schema this release knows. It then backs up the
class as it is, and puts the backup's rows in place of the class's in one transaction: a restore
that fails halfway leaves the class as it was.

`python -m model_store backup DIR` and `restore DIR` (or `restore FILE.zip`); the Class page's "Download the lesson" is
the same folder as a zip, and its "Start a new lesson" backs up into the data folder's
`lessons/` first, then clears only what that backup holds.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select, update

from model_store.database import (
    CLASS_SETTINGS,
    KNOWN_VERSIONS,
    MAIN,
    RENAMES,
    Database,
    bump,
    class_key,
    metadata,
    model_files,
    models,
    people,
    run_events,
    run_files,
    runs,
    settings,
)
from model_store.database import drawings as drawings_table
from model_store.drawings import Drawings
from model_store.files import data_root
from model_store.migrate import import_runs
from model_store.roles import Person, require
from model_store.status import FINISHED, Status
from model_store.store import ModelStore

DATABASE = "class.sqlite3"
BATCH = 200  # rows copied at a time: a table of model files need not fit in memory twice
# A lesson is these rows of its class (each row is one class's: its class_id), its limits, its
# runs and the models. The accounts, sign-ins, sessions, classes and wrong-password counts are the
# school's: a download must not carry a password hash or secret words (16 bits: a laptop cracks
# them), nor a join code; a restore must neither bring back a removed teacher, an old password or
# old words, nor revive a sign-in or a session that has ended since the backup.
CLASS_TABLES = (drawings_table, people)


def backup(into: Path, by: Person, db: Database | None = None) -> dict:
    """The lesson of `by`'s class as it is now, into the new folder `into`; what it holds (lesson.json)."""
    require(by, "lesson")
    db = db or Database()
    into = Path(into)
    into.mkdir(parents=True)
    target = Database(into / DATABASE)
    counts = copy_class(db, target, by.class_id, by.class_id, backing_up=True)
    last = Drawings(target, by.class_id).version()[1]
    made = datetime.now(UTC).isoformat(timespec="seconds")
    summary = {"made": made, "class_id": by.class_id, "drawings": counts["drawings"], "last_drawing": last}
    summary |= {"models": counts["models"], "runs": counts["runs"]}
    (into / "lesson.json").write_text(json.dumps(summary, indent=1))
    return summary


def copy_class(
    source: Database, target: Database, class_id: str, into: str, backing_up: bool = False, settle=None
) -> dict[str, int]:
    """Class `class_id`'s rows of `source` in place of class `into`'s in `target` (CLASS_TABLES,
    its limits, its runs with their progress and files), and every model of `source` put in or
    replaced by name (`backing_up`: into a new backup's file, whose own rows count for nothing). One snapshot read,
    one transaction written; `settle` has the last word on the runs put in. How many of each."""
    with source.snapshot() as reading, target.write() as writing:
        counts = {}
        for table in CLASS_TABLES:
            writing.execute(delete(table).where(table.c.class_id == into))
            counts[table.name] = _copy_class_rows(reading, writing, table, class_id, into, backing_up)
        copied = _copy_runs(reading, writing, class_id, into)
        counts["runs"] = len(copied)
        _copy_settings(reading, writing, class_id, into)
        counts["models"] = _copy_models(reading, writing, class_id, into)
        if settle is not None:
            settle(writing, copied)
        bump(writing, RENAMES)  # every process's copies of the drawings are read again
        _next_drawing_id(target, writing)
    return counts


def _next_drawing_id(target: Database, writing: Connection) -> None:
    """Ids were copied as they were: on PostgreSQL the next drawing's id is set to come after them."""
    if not target.sqlite:
        writing.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('drawings', 'id'), coalesce(max(id), 0) + 1, false) FROM drawings"
        )


def _copy(reading: Connection, writing: Connection, table, where, keep=lambda row: True, columns=None, **values) -> int:
    """The rows of `table` that `where` picks and `keep` keeps (their `columns`, default all),
    from one database into the other (with `values` in place of theirs); how many."""
    copied = 0
    rows = reading.execution_options(yield_per=BATCH).execute(select(*(columns or table.c)).where(where))
    for batch in rows.partitions():
        if kept := [row._asdict() | values for row in batch if keep(row)]:
            writing.execute(insert(table), kept)
        copied += len(kept)
    return copied


def _copy_class_rows(reading: Connection, writing: Connection, table, class_id: str, into: str, backing_up: bool) -> int:
    """A class's rows of a CLASS_TABLES table. A restore keeps the drawings' ids, unless another
    class of the target holds one of them (a backup from another school, or of another class):
    then they get new ones. It leaves out a person that another class of the target holds now (a
    student who moved class keeps their place)."""
    where = table.c.class_id == class_id
    if backing_up:
        return _copy(reading, writing, table, where, class_id=into)
    if table is drawings_table and _ids_taken(reading, writing, class_id, into):
        return _copy(reading, writing, table, where, columns=[c for c in table.c if c.name != "id"], class_id=into)
    key = next(iter(table.primary_key.columns))
    elsewhere = set(writing.execute(select(key).where(table.c.class_id != into)).scalars())
    return _copy(reading, writing, table, where, keep=lambda row: row._mapping[key.name] not in elsewhere, class_id=into)


def class_runs(connection: Connection, class_id: str) -> list[str]:
    """The ids of the class's runs (a run from before classes is the install's own class's)."""
    return [run_id for run_id, config in connection.execute(select(runs.c.id, runs.c.config)) if _class_of(config) == class_id]


def _ids_taken(reading: Connection, writing: Connection, class_id: str, into: str) -> bool:
    ids = list(reading.execute(select(drawings_table.c.id).where(drawings_table.c.class_id == class_id)).scalars())
    others = drawings_table.c.class_id != into
    return any(
        writing.execute(select(drawings_table.c.id).where(others, drawings_table.c.id.in_(chunk)).limit(1)).first()
        for chunk in _chunks(ids)
    )


def _copy_runs(reading: Connection, writing: Connection, class_id: str, into: str) -> list[str]:
    for chunk in _chunks(class_runs(writing, into)):
        for table, column in ((run_events, run_events.c.run), (run_files, run_files.c.run), (runs, runs.c.id)):
            writing.execute(delete(table).where(column.in_(chunk)))
    copied = class_runs(reading, class_id)
    for chunk in _chunks(copied):
        for row in reading.execute(select(runs).where(runs.c.id.in_(chunk))):
            config = json.dumps({**json.loads(row.config), "class_id": into})
            writing.execute(insert(runs).values(**(row._asdict() | {"config": config})))
        _copy(reading, writing, run_events, run_events.c.run.in_(chunk))
        _copy(reading, writing, run_files, run_files.c.run.in_(chunk))
    return copied


def _copy_settings(reading: Connection, writing: Connection, class_id: str, into: str) -> None:
    """The class's own settings (CLASS_SETTINGS: its limits, its default model), and no other's."""
    for base in CLASS_SETTINGS:
        writing.execute(delete(settings).where(settings.c.key == class_key(base, into)))
        found = reading.execute(select(settings.c.value).where(settings.c.key == class_key(base, class_id))).scalar()
        if found is not None:
            writing.execute(insert(settings).values(key=class_key(base, into), value=found))


def _copy_models(reading: Connection, writing: Connection, class_id: str, into: str) -> int:
    """The class's models (a model from before classes: the install's own class's), put in as
    class `into`'s, each in place of the one of the same name unless that is another class's."""
    mine = [
        (name, record)
        for name, record in reading.execute(select(models.c.name, models.c.record))
        if _class_of(record) == class_id
    ]
    theirs = {name for name, record in writing.execute(select(models.c.name, models.c.record)) if _class_of(record) != into}
    kept = [(name, record) for name, record in mine if name not in theirs]
    for chunk in _chunks([name for name, _ in kept]):
        writing.execute(delete(model_files).where(model_files.c.model.in_(chunk)))
        writing.execute(delete(models).where(models.c.name.in_(chunk)))
        _copy(reading, writing, model_files, model_files.c.model.in_(chunk))
    for name, record in kept:
        saved = reading.execute(select(models.c.saved).where(models.c.name == name)).scalar()
        writing.execute(
            insert(models).values(name=name, saved=saved, record=json.dumps({**json.loads(record), "class_id": into}))
        )
    return len(kept)


def _class_of(config: str) -> str | None:
    """The class a run's config or a model's record (JSON) belongs to; None for a damaged one
    (nobody's: `training.records` passes such a row over too)."""
    try:
        found = json.loads(config)
        return found.get("class_id", MAIN) if isinstance(found, dict) else None
    except ValueError:
        return None


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def copy_rows(source: Database, target: Database) -> dict[str, int]:
    """Every row of every table from `source` into `target` (whose tables are emptied first): a
    whole database moved to another engine (`benchmarks.term`). Read in one snapshot and written
    in one transaction; how many rows of each table."""
    counts = {}
    with source.snapshot() as reading, target.write() as writing:
        for table in metadata.sorted_tables:
            writing.execute(delete(table))
            counts[table.name] = _copy(reading, writing, table, True)
        _next_drawing_id(target, writing)
    return counts


def zipped(folder: Path) -> bytes:
    """A backup folder as one zip file (stored, not compressed: models are zips already)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


class BadBackup(ValueError):
    """A backup refused before anything of the class was touched; the message says why."""


def check_backup(source: Path) -> dict:
    """The backup's lesson.json, once every part of it is checked; BadBackup saying what is wrong."""
    source = Path(source)
    if not (source / "lesson.json").is_file() or not (source / DATABASE).is_file():
        raise BadBackup(f"{source} is not a lesson backup (it needs lesson.json and {DATABASE})")
    for path in [source, *source.rglob("*")]:
        _plain(path, source)
    try:
        summary = json.loads((source / "lesson.json").read_text())
    except ValueError as err:
        raise BadBackup(f"the backup's lesson.json is not readable ({err})") from None
    _readable(source / DATABASE)
    _runs_whole(source / DATABASE)
    _own_files(source / "models")
    return summary


def _plain(path: Path, root: Path) -> None:
    """Refuse a symlink, a device or a pipe: a backup holds plain files and folders only, inside it."""
    found = os.lstat(path)
    if stat.S_ISLNK(found.st_mode):
        raise BadBackup(f"the backup holds a symbolic link ({path.relative_to(root)}): refused, nothing restored")
    if not (stat.S_ISREG(found.st_mode) or stat.S_ISDIR(found.st_mode)):
        raise BadBackup(f"the backup holds something that is not a file ({path.relative_to(root)}): refused")
    if not path.resolve().is_relative_to(root.resolve()):
        raise BadBackup(f"the backup names a path outside itself ({path}): refused")


def _readable(path: Path) -> None:
    """The backup's database opens read-only, is whole, and has a schema this release knows."""
    try:
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if raw.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BadBackup("the backup's database is damaged (SQLite's check fails)")
            version = raw.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            raw.close()
    except sqlite3.Error as err:
        raise BadBackup(f"the backup's database is not readable ({err})") from None
    if version is None or version[0] not in KNOWN_VERSIONS:
        raise BadBackup(f"the backup's database has a schema this release does not know ({version and version[0]})")


def _runs_whole(path: Path) -> None:
    """Each run of the backup has a config and a status that are JSON objects, its status named."""
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = raw.execute("SELECT id, config, status FROM runs").fetchall()
    except sqlite3.OperationalError:
        return  # a schema before runs were rows
    finally:
        raw.close()
    for run_id, config, status in rows:
        try:
            config, status = json.loads(config), json.loads(status)
            if not (isinstance(config, dict) and isinstance(status, dict) and isinstance(status.get("status"), str)):
                raise ValueError("not a record")
        except (ValueError, TypeError) as err:
            raise BadBackup(f"the backup's run {str(run_id)[:40]!r} is not whole ({err})") from None


def _settle_runs(writing: Connection, run_ids: list[str]) -> None:
    """A restored lesson's unfinished runs are cancelled, not queued again: they would train with
    whatever a backup file says, past the class limits."""
    said = "restored from a backup: not queued again"
    unfinished = writing.execute(
        select(runs.c.id, runs.c.status).where(runs.c.state.not_in([*FINISHED, Status.ARCHIVED]), runs.c.id.in_(run_ids))
    )
    for run_id, status in unfinished.all():
        settled = {**json.loads(status), "status": Status.CANCELLED, "error": said}
        writing.execute(update(runs).where(runs.c.id == run_id).values(state=Status.CANCELLED, status=json.dumps(settled)))


def _own_files(models: Path) -> None:
    """Each model record of the backup names only its own files, beside it."""
    from model_store.store import NAME_PATTERN, _own_files

    for record in sorted(models.glob("*.json")) if models.is_dir() else []:
        if not NAME_PATTERN.fullmatch(record.stem):
            raise BadBackup(f"the backup holds a model record with a bad name ({record.name})")
        try:
            _own_files(record.stem, json.loads(record.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise BadBackup(f"the backup's model {record.stem} is not whole ({err})") from None


MOST_MEMBERS = 100_000  # files in a zipped backup
MOST_BYTES = 4 * 2**30  # a zipped backup's files, unpacked
MOST_RATIO = 100  # unpacked to packed, per file: a backup's files are stored, not compressed (`zipped`)


def unzip(data: Path, into: Path) -> Path:
    """A zipped backup unpacked into `into`, each member checked before a byte of it is written:
    a plain file inside the folder, the sizes within MOST_BYTES and MOST_RATIO (no zip bombs), and
    no more written than its header declared. The folder; BadBackup saying why not."""
    try:
        archive = zipfile.ZipFile(data)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadBackup(f"not a zipped lesson backup ({err})") from None
    with archive:
        members = archive.infolist()
        _check_members(members)
        for member in members:
            target = into / member.filename
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as packed, open(target, "wb") as out:
                shutil.copyfileobj(_bounded(packed, member.file_size), out)
    return into


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MOST_MEMBERS:
        raise BadBackup(f"the zip holds {len(members):,} files; a backup has at most {MOST_MEMBERS:,}")
    total = 0
    for member in members:
        name = member.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise BadBackup(f"the zip names a path outside itself ({name}): refused, nothing restored")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BadBackup(f"the zip holds a symbolic link ({name}): refused, nothing restored")
        if member.file_size > MOST_RATIO * max(member.compress_size, 1) and member.file_size > 2**20:
            raise BadBackup(f"{name} unpacks to {member.file_size:,} bytes from {member.compress_size:,}: a zip bomb, refused")
        total += member.file_size
    if total > MOST_BYTES:
        raise BadBackup(f"the zip unpacks to {total / 2**30:.1f} GiB; a backup is at most {MOST_BYTES / 2**30:.0f} GiB")


def _bounded(stream, size: int):
    """`stream`, ending with BadBackup once it gives more than `size` bytes (a header that lied)."""

    class Bounded(io.RawIOBase):
        given = 0

        def readinto(self, buffer) -> int:
            chunk = stream.read(len(buffer))
            self.given += len(chunk)
            if self.given > size:
                raise BadBackup("a file of the zip unpacks to more than its header says: refused")
            buffer[: len(chunk)] = chunk
            return len(chunk)

        def readable(self) -> bool:
            return True

    return Bounded()


def restore(source: Path, by: Person, db: Database | None = None, store: ModelStore | None = None) -> dict:
    """Put a backup (a folder, or `zipped` one) back into `by`'s class, once it is checked
    (`check_backup`): the class as it is first backed up into `lessons/`, then its rows replaced
    by the backup's in one transaction (app processes see the old lesson or the new one, never a
    mix). What it held."""
    require(by, "lesson")
    db, store, source = db or Database(), store or ModelStore(), Path(source)
    if source.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            return restore(unzip(source, Path(tmp) / "lesson"), by, db, store)
    summary = check_backup(source)
    backup(lessons_root() / datetime.now().strftime("before-restore-%Y%m%d-%H%M%S-%f"), by, db)
    copy_class(Database(source / DATABASE), db, summary.get("class_id", MAIN), by.class_id, settle=_settle_runs)
    _restore_files(source, store, db, by.class_id)
    return summary


def _restore_files(source: Path, store: ModelStore, db: Database, class_id: str) -> None:
    """An earlier release's backup, whose models and runs are files beside its database, has them
    imported into the class database, as class `class_id`'s."""
    with db.read() as reading:
        had = set(reading.execute(select(models.c.name)).scalars()) | set(reading.execute(select(runs.c.id)).scalars())
    if (source / "models").is_dir():
        store.import_folder(source / "models")
    with db.write(lock="migrate") as writing:
        if (source / "runs").is_dir():
            import_runs(source / "runs", writing)
        for table, key, column in ((models, models.c.name, models.c.record), (runs, runs.c.id, runs.c.config)):
            for name, text in writing.execute(select(key, column)).all():
                if name not in had:  # imported just now: the class's
                    writing.execute(
                        update(table)
                        .where(key == name)
                        .values({column.name: json.dumps({**json.loads(text), "class_id": class_id})})
                    )
        _settle_runs(writing, [r for r in class_runs(writing, class_id) if r not in had])


def lessons_root() -> Path:
    return data_root() / "lessons"


def new_lesson(by: Person, archive_runs) -> tuple[Path, int, int]:
    """Back the lesson of `by`'s class up into `lessons/`, then clear the class's drawings that
    backup holds and move its finished runs out of every list (`archive_runs(0, class)`, from
    `training.runs`); models, names and the drawings saved while the backup was made stay. (the
    backup's folder, drawings cleared, runs archived)."""
    require(by, "lesson")
    folder = lessons_root() / datetime.now().strftime("lesson-%Y%m%d-%H%M%S")
    held = backup(folder, by)
    return folder, clear_drawings_up_to(held["last_drawing"], by.class_id), archive_runs(0, by.class_id)


def clear_drawings_up_to(last: int, class_id: str = MAIN) -> int:
    """Delete the class's drawings whose id is at most `last` (ids are never reused: those are the
    ones a backup holds); how many went."""
    mine = drawings_table.c.class_id == class_id
    with Database().write() as db:
        return db.execute(delete(drawings_table).where(mine, drawings_table.c.id <= last)).rowcount
