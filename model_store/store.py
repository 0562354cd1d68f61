"""The model store: the school's models in the class database, each its class's (or shared with
every class: `StoredModel.seen_in`), beside the bundled model, which is every class's.

In the class database (`model_store.database`), shared by every app machine of a school:

    models        a row a model: its name, its record (JSON: architecture, training options,
                  metrics, history, owner, and "files": each file's SHA-256) and when it was saved
    model_files   a row a file of a model: "model" (the .keras), "test_probabilities" (the test
                  set's probabilities, .npz), "map" (its map of the digits, .map.npz, once made:
                  `attach`); its checksum, size and bytes
    settings      "default_model" (`database.class_key`: each class's own): the default model's name

A save, a rename and a delete are each one transaction (a save under the database's lock on its
name): a crash or a kill at any point leaves the whole model or none of it. Listing reads the
records only, never the bytes. Keras reads a model from a file, so a model's files are written,
the first time they are needed on a machine, into its local cache (`.cache/` in the local models
folder: $MNIST_LAB_MODELS, default `models/` beside app.py), named by their checksum and checked
against it.

The bundled model ships read-only in `model_store/bundled/` as files, in the layout the store had
before the class database (`import_folder` brings a folder of it into the database):

    NAME.json                 the record; its "files" names the files beside it
    NAME.<token>.keras        the model
    NAME.<token>.npz          the test-set probabilities
    NAME.<token>.map.npz      its map of MNIST's test images
    default.txt               the name of the default model

A store opened on the bundled folder itself (`--store model_store/bundled`) reads and writes that
folder's files: that is how the bundled model is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, delete, insert, select, update

from model_store.database import CLASS_SETTINGS, MAIN, Database, DatabaseError, class_key, model_files, models, settings, upsert
from model_store.files import FULL, PROJECT_ROOT, free_bytes, in_mb, short_of_space, write_atomic
from model_store.roles import Person, require

if TYPE_CHECKING:
    import keras

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME_LENGTH = 64
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # as server.maxUploadSize in .streamlit/config.toml
UNSURE = 0.6  # "Not sure" below this confidence, for a model without a calibration (`training.calibration`)
SUFFIXES = {"model": ".keras", "test_probabilities": ".npz", "map": ".map.npz"}  # the kinds of file a model has
CHECKSUM = re.compile(r"[0-9a-f]{64}")
CACHE = ".cache"  # in the local models folder: the class database's files, named by checksum
DEFAULT_KEY = CLASS_SETTINGS[1]


def default_key(class_id: str) -> str:
    """The setting a class's default model is kept in."""
    return class_key(DEFAULT_KEY, class_id)


def _of_class(entry: StoredModel, by: Person) -> None:
    """A model is changed from its own class only (shared ones too: another class only uses it)."""
    if entry.record.get("class_id", MAIN) != by.class_id:
        raise StoreError(f"{entry.name!r} is another class's model: only its own class renames or deletes it")


class StoreError(ValueError):
    """A store operation refused, with a message for a person."""


def default_root() -> Path:
    return Path(os.environ.get("MNIST_LAB_MODELS") or PROJECT_ROOT / "models")


def validate_name(name: str) -> str:
    """A model name is also a file name: letters, digits, '.', '_' and '-', nothing else."""
    if not isinstance(name, str) or not name.strip():
        raise StoreError("a model name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise StoreError(f"a model name can have at most {MAX_NAME_LENGTH} characters (this one has {len(name)})")
    if ".." in name or not NAME_PATTERN.fullmatch(name):
        raise StoreError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no spaces, slashes, '..' or control characters), starting with a letter or digit"
        )
    return name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class StoredModel:
    name: str
    record: dict[str, Any]  # the JSON record; empty when broken
    directory: Path  # a folder's model: that folder; the class database's: this machine's cache of its files
    bundled: bool = False
    error: str | None = None  # why the entry is broken; None when it is whole
    db: Database | None = field(default=None, repr=False, compare=False)  # where its files are; None in a folder

    @property
    def broken(self) -> bool:
        return self.error is not None

    def seen_in(self, class_id: str) -> bool:
        """Whether the class may use it: the bundled model and those shared with the school are
        every class's; any other is its class's (one from before classes: the install's own)."""
        return self.bundled or bool(self.record.get("shared")) or self.record.get("class_id", MAIN) == class_id

    def file(self, kind: str) -> Path | None:
        """Its file of `kind` (SUFFIXES) on this machine's disk; None when it has none. One in the
        class database is fetched into the local cache the first time, and checked."""
        name = self.record.get("files", {}).get(kind)
        if not name:
            return None
        return self.directory / name if self.db is None else _cached(self, kind)

    @property
    def model_path(self) -> Path:
        return self.file("model")

    @property
    def probabilities_path(self) -> Path | None:
        return self.file("test_probabilities")

    @property
    def map_path(self) -> Path | None:
        """Its map of the digits (`model_store.explain`), once made and attached."""
        return self.file("map")

    @property
    def calibration(self) -> dict | None:
        """Its calibration (`training.calibration`), once made: temperature, "Not sure" threshold,
        each set's ECE and reliability bins."""
        return self.record.get("calibration")

    @property
    def temperature(self) -> float:
        return (self.calibration or {}).get("temperature", 1.0)

    @property
    def unsure_below(self) -> float:
        """The confidence under which its answers are called unsure: its calibration's, else 60%."""
        return (self.calibration or {}).get("unsure_below", UNSURE)

    @property
    def normalization(self) -> str:
        return self.record.get("normalization", "scale")


def _cached(entry: StoredModel, kind: str) -> Path:
    """A class database model's file in the local cache, named by its checksum: written (whole, or
    not at all) the first time it is needed, from bytes checked against that checksum."""
    checksum = entry.record["files"][kind]
    path = entry.directory / f"{checksum}{SUFFIXES[kind]}"
    if path.is_file():
        return path
    with entry.db.read() as c:
        where = (model_files.c.model == entry.name) & (model_files.c.kind == kind)
        row = c.execute(select(model_files.c.sha256, model_files.c.data).where(where)).first()
    if row is None:
        raise StoreError(f"model {entry.name!r} is broken: its {kind} file is missing from the class database")
    if row.sha256 != checksum:
        raise StoreError(f"model {entry.name!r} was replaced since it was read; read it again")
    if _sha256(row.data) != checksum:
        raise StoreError(f"model {entry.name!r} is broken: its {kind} file is corrupt (checksum differs from the record)")
    _keep(entry.directory, checksum, kind, row.data)
    return path


def _keep(cache: Path, checksum: str, kind: str, data: bytes) -> None:
    path = cache / f"{checksum}{SUFFIXES[kind]}"
    if path.is_file():
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda p: p.write_bytes(data))
    except OSError as err:  # the disk filled since the check (another program): said in words, not as errno 28
        if err.errno not in FULL:
            raise
        raise StoreError(
            f"the models folder's cache {cache} cannot be written: the disk it is on is full "
            f"({in_mb(free_bytes(cache))} free); free some space on it (old backups, runs or files), then try again"
        ) from None


def _written(write: Callable[[Path], Any], suffix: str) -> bytes:
    """The bytes `write(path)` puts in a file (Keras and NumPy write files), from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="mnist-lab-") as folder:
        path = Path(folder) / f"file{suffix}"
        write(path)
        return path.read_bytes()


def _probabilities_file(probabilities: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, probabilities=np.asarray(probabilities, np.float16))
    return buffer.getvalue()


# ------------------------------------------------------------ models as files in a folder


def _own_files(name: str, record: dict[str, Any]) -> dict[str, str]:
    """The record's files, each checked to be a plain file of this model beside the record.

    A record is read from disk, so it is not trusted: a name like "../x" or "/etc/x", or another
    model's file, would let loading, deleting or renaming reach outside the model.
    """
    files = record["files"]
    for kind, file_name in files.items():
        if kind not in SUFFIXES:
            raise ValueError(f"the record names a kind of file a model does not have: {kind!r}")
        if not (isinstance(file_name, str) and Path(file_name).name == file_name and file_name.startswith(f"{name}.")):
            raise ValueError(f"the record names a file that is not this model's own: {file_name!r}")
    return files


_records: dict[Path, tuple[tuple, dict]] = {}  # each record file read: (its identity, its content)


def _record(path: Path) -> dict:
    """A record file's content, parsed again only when the file changed (a save replaces it)."""
    found = path.stat()
    identity = (found.st_mtime_ns, found.st_ino, found.st_size)
    kept = _records.get(path)
    if kept is None or kept[0] != identity:
        kept = (identity, json.loads(path.read_text()))
        _records[path] = kept
    return kept[1]


class _Folder:
    """Models as files in a folder: the bundled model's, and the layout before the class database."""

    def __init__(self, directory: Path, bundled: bool):
        self.directory, self.bundled = Path(directory), bundled

    def _entry(self, record_path: Path) -> StoredModel:
        """An entry as the listing sees it: its record (parsed once per version of the file) and its
        model file there, of the size the record gives. The checksum is compared on load."""
        name = record_path.stem
        try:
            record = _record(record_path)
            model_file = self.directory / _own_files(name, record)["model"]
            if not model_file.is_file():
                raise FileNotFoundError(f"model file {model_file.name} is missing")
            if record.get("model_bytes") not in (None, model_file.stat().st_size):
                raise ValueError(f"model file {model_file.name} is corrupt (its size differs from the record)")
        except (OSError, ValueError, KeyError, TypeError) as err:
            return StoredModel(name, {}, self.directory, self.bundled, error=str(err) or type(err).__name__)
        return StoredModel(name, record, self.directory, self.bundled)

    def entries(self) -> list[StoredModel]:
        if not self.directory.is_dir():
            return []
        paths = sorted(p for p in self.directory.glob("*.json") if NAME_PATTERN.fullmatch(p.stem))
        return [self._entry(p) for p in paths]

    def entry(self, name: str) -> StoredModel | None:
        path = self.directory / f"{name}.json"
        return self._entry(path) if path.is_file() else None

    def taken(self, name: str, _connection: Connection | None = None) -> bool:
        return (self.directory / f"{name}.json").exists()

    def default_name(self, class_id: str = MAIN) -> str | None:
        chosen = self.directory / "default.txt"
        return chosen.read_text().strip() if chosen.is_file() else None

    def set_default_name(self, name: str, class_id: str = MAIN) -> None:  # a folder is one class's
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.directory / "default.txt", lambda p: p.write_text(name))

    def save(self, name: str, blobs: dict[str, bytes], record: dict, overwrite: bool, check: Callable) -> StoredModel:
        """The files under a fresh token, then the record in one atomic rename: a crash leaves the
        old record with its old files or the new one. (One person rebuilds the bundled model.)"""
        self.directory.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(4)
        files = {kind: f"{name}.{token}{SUFFIXES[kind]}" for kind in blobs}
        for kind, data in blobs.items():
            write_atomic(self.directory / files[kind], lambda p, d=data: p.write_bytes(d))
        record = {**record, "files": files, "model_sha256": _sha256(blobs["model"]), "model_bytes": len(blobs["model"])}
        old = self.entry(name)
        self._write(name, record)
        for file_name in set(old.record.get("files", {}).values() if old else ()) - set(files.values()):
            (self.directory / file_name).unlink(missing_ok=True)
        return self.entry(name)

    def amend(self, entry: StoredModel, what: str, change: Callable[[dict], dict], blob: tuple | None) -> StoredModel:
        current = self.entry(entry.name)
        _unchanged(entry, current, what)
        record = change(current.record)
        if blob is not None:
            kind, data = blob
            file_name = Path(record["files"]["model"]).stem + SUFFIXES[kind]  # "name.3f2a.map.npz"
            write_atomic(self.directory / file_name, lambda p: p.write_bytes(data))
            record = {**record, "files": {**record["files"], kind: file_name}}
        self._write(entry.name, record)
        return self.entry(entry.name)

    def _write(self, name: str, record: dict) -> None:
        write_atomic(self.directory / f"{name}.json", lambda p: p.write_text(json.dumps(record, indent=1)))


def _unchanged(entry: StoredModel, current: StoredModel | None, what: str) -> None:
    """Refused when the model was replaced since `entry` was read: what was made belongs to the old one."""
    if current is None or current.broken or current.record.get("model_sha256") != entry.record.get("model_sha256"):
        raise StoreError(f"{entry.name!r} changed while its {what} was made; make it again")


# ------------------------------------------------------------ models in the class database


def _checked(name: str, text: str) -> dict:
    """A record from the database, checked: it comes from outside (any program may write there),
    and its checksums become file names in the cache."""
    record = json.loads(text)
    files = record["files"]
    if not isinstance(files, dict) or "model" not in files:
        raise ValueError("the record names no model file")
    for kind, checksum in files.items():
        if kind not in SUFFIXES:
            raise ValueError(f"the record names a kind of file a model does not have: {kind!r}")
        if not (isinstance(checksum, str) and CHECKSUM.fullmatch(checksum)):
            raise ValueError(f"the record's {kind} checksum is not a SHA-256: {checksum!r}")
    if record.get("model_sha256") != files["model"]:
        raise ValueError("the record's model checksum differs from its model file's")
    return record


_parsed: dict[tuple[str, str], tuple[str, dict | None, str | None]] = {}  # (database, name): (saved, record, error)
_last: dict[tuple[str, str], Any] = {}  # (database, "entries" or "default"): as last read, while it does not answer


class _Tables:
    """Models in the class database: `models` and `model_files`, the default in `settings`."""

    def __init__(self, db: Database, cache: Path):
        self.db, self.cache = db, cache

    def _entry(self, name: str, saved: str, text: str | None = None) -> StoredModel:
        """An entry, its record parsed and checked once per save (`saved` tells a new one)."""
        key = (self.db.where, name)
        kept = _parsed.get(key)
        if kept is None or kept[0] != saved:
            try:
                kept = (saved, _checked(name, text), None)
            except (ValueError, KeyError, TypeError) as err:
                kept = (saved, None, str(err) or type(err).__name__)
            _parsed[key] = kept
        record, error = kept[1], kept[2]
        return StoredModel(name, record or {}, self.cache, error=error, db=self.db)

    def _or_last(self, what: str, read: Callable[[], Any]) -> Any:
        """`read()`, kept; while the database does not answer, what it gave last in this process
        (so a page reads digits on through an outage); its error when it never answered."""
        try:
            _last[self.db.where, what] = read()
        except DatabaseError:
            if (self.db.where, what) not in _last:
                raise
        return _last[self.db.where, what]

    def entries(self) -> list[StoredModel]:
        return self._or_last("entries", self._read_entries)

    def _read_entries(self) -> list[StoredModel]:
        """Every model, from the records alone: a record read before is not read again."""
        with self.db.read() as c:
            rows = sorted(r for r in c.execute(select(models.c.name, models.c.saved)) if NAME_PATTERN.fullmatch(r.name))
            stale = [name for name, saved in rows if _parsed.get((self.db.where, name), ("",))[0] != saved]
            texts = {}
            if stale:
                query = select(models.c.name, models.c.saved, models.c.record).where(models.c.name.in_(stale))
                texts = {r.name: (r.saved, r.record) for r in c.execute(query)}
        fresh = [(name, *texts.get(name, (saved, None))) for name, saved in rows]
        return [self._entry(name, saved, text) for name, saved, text in fresh if text is not None or name not in stale]

    def entry(self, name: str, connection: Connection | None = None) -> StoredModel | None:
        query = select(models.c.saved, models.c.record).where(models.c.name == name)
        if connection is not None:
            row = connection.execute(query.with_for_update()).first()
        else:
            try:
                with self.db.read() as c:
                    row = c.execute(query).first()
            except DatabaseError:  # not answering: the model as last listed, if it was
                if (self.db.where, "entries") not in _last:
                    raise
                return next((m for m in _last[self.db.where, "entries"] if m.name == name), None)
        return None if row is None else self._entry(name, row.saved, row.record)

    def taken(self, name: str, connection: Connection | None = None) -> bool:
        query = select(models.c.name).where(models.c.name == name)
        if connection is not None:
            return connection.execute(query).first() is not None
        with self.db.read() as c:
            return c.execute(query).first() is not None

    def default_name(self, class_id: str = MAIN) -> str | None:
        return self._or_last(f"default:{class_id}", lambda: self._read_default(class_id))

    def _read_default(self, class_id: str) -> str | None:
        with self.db.read() as c:
            value = c.execute(select(settings.c.value).where(settings.c.key == default_key(class_id))).scalar()
        try:
            name = json.loads(value) if value is not None else None
        except ValueError:
            return None
        return name if isinstance(name, str) else None

    def set_default_name(self, name: str, class_id: str = MAIN) -> None:
        with self.db.write() as c:
            upsert(c, settings, {"key": default_key(class_id), "value": json.dumps(name)}, ("key",), ("value",))

    def set_shared(self, name: str, shared: bool) -> None:
        with self.db.write() as c:
            text = c.execute(select(models.c.record).where(models.c.name == name)).scalar()
            if text is None:
                raise StoreError(f"no model named {name!r}")
            record = {**json.loads(text), "shared": shared}
            c.execute(update(models).where(models.c.name == name).values(record=json.dumps(record), saved=_now()))

    def save(self, name: str, blobs: dict[str, bytes], record: dict, overwrite: bool, check: Callable) -> StoredModel:
        """One transaction under the lock on the name: checked free, the files' rows, the record."""
        files = {kind: _sha256(data) for kind, data in blobs.items()}
        record = {**record, "files": files, "model_sha256": files["model"], "model_bytes": len(blobs["model"])}
        text, saved = json.dumps(record), _now()
        rows = [{"model": name, "kind": k, "sha256": files[k], "size": len(d), "data": d} for k, d in blobs.items()]
        self._check_room(name, sum(len(d) for d in blobs.values()))
        # Cached first: a cache that cannot be written refuses the save before anything is stored,
        # so the caller may try again under the same name (a file named by its checksum is harmless).
        for kind, data in blobs.items():
            _keep(self.cache, files[kind], kind, data)
        with self.db.write(lock=f"model:{name}") as c:
            check(name, overwrite, c)  # again, now that no other save of this name can run
            c.execute(delete(model_files).where(model_files.c.model == name))
            c.execute(insert(model_files), rows)
            upsert(c, models, {"name": name, "record": text, "saved": saved}, ("name",), ("record", "saved"))
        return self._entry(name, saved, text)

    def _check_room(self, name: str, needed: int) -> None:
        """Refused before anything is written when the bytes would leave the cache's disk or the
        database's under the floor (`files.short_of_space`): the class's work stays readable."""
        if why := short_of_space(self.cache, needed):
            raise StoreError(f"{name!r} not saved: the models folder {self.cache.parent} {why}")
        try:
            self.db.check_room(needed)
        except DatabaseError as err:
            raise StoreError(f"{name!r} not saved: {err}") from None

    def amend(self, entry: StoredModel, what: str, change: Callable[[dict], dict], blob: tuple | None) -> StoredModel:
        if blob is not None:
            self._check_room(entry.name, len(blob[1]))
        saved = _now()
        with self.db.write(lock=f"model:{entry.name}") as c:
            current = self.entry(entry.name, c)
            _unchanged(entry, current, what)
            record = change(current.record)
            if blob is not None:
                kind, data = blob
                row = {"model": entry.name, "kind": kind, "sha256": _sha256(data), "size": len(data), "data": data}
                upsert(c, model_files, row, ("model", "kind"), ("sha256", "size", "data"))
                record = {**record, "files": {**record["files"], kind: row["sha256"]}}
            text = json.dumps(record)
            c.execute(update(models).where(models.c.name == entry.name).values(record=text, saved=saved))
        if blob is not None:
            _keep(self.cache, row["sha256"], kind, data)
        return self._entry(entry.name, saved, text)

    def rename(self, name: str, new_name: str, check: Callable) -> None:
        """One transaction: the record and its files' rows take the new name; the default follows."""
        with self.db.write(lock=f"model:{new_name}") as c:
            check(new_name, False, c)
            current = self.entry(name, c)
            if current is None or current.broken:
                raise StoreError(f"{name!r} was deleted or broke meanwhile")
            text = json.dumps({**current.record, "name": new_name})
            c.execute(update(models).where(models.c.name == name).values(name=new_name, record=text, saved=_now()))
            c.execute(update(model_files).where(model_files.c.model == name).values(model=new_name))
            chosen = settings.c.key.startswith(DEFAULT_KEY) & (settings.c.value == json.dumps(name))  # every class's
            c.execute(update(settings).where(chosen).values(value=json.dumps(new_name)))

    def delete(self, name: str) -> None:
        with self.db.write(lock=f"model:{name}") as c:
            c.execute(delete(models).where(models.c.name == name))
            c.execute(delete(model_files).where(model_files.c.model == name))

    def rename_owner(self, people: set[str], new: str) -> int:
        changed = 0
        with self.db.write() as c:
            for name, saved, text in c.execute(select(models.c.name, models.c.saved, models.c.record).with_for_update()).all():
                entry = self._entry(name, saved, text)
                owner = entry.record.get("owner") or {}
                if entry.broken or owner.get("browser") not in people:
                    continue
                record = {**entry.record, "owner": {**owner, "name": new}}
                c.execute(update(models).where(models.c.name == name).values(record=json.dumps(record), saved=_now()))
                changed += 1
        return changed


class ModelStore:
    """The class's models: the class database's (`db`, default the configured one), with the
    bundled ones beside them (from `bundled_dir`). `root` is this machine's models folder
    ($MNIST_LAB_MODELS, default `models/`), which holds the cache of the database's files; opened
    on the bundled folder itself, the store is that folder's files (how the bundled model is rebuilt)."""

    def __init__(self, root: Path | str | None = None, bundled_dir: Path | None = BUNDLED_DIR, db: Database | None = None):
        self.root = Path(root) if root is not None else default_root()
        same = bundled_dir is not None and self.root.resolve() == Path(bundled_dir).resolve()
        self.bundled_dir = None if same else bundled_dir
        self.db = None if same else (db or Database())
        self._own = _Folder(self.root, False) if same else _Tables(self.db, self.root / CACHE)
        self._bundled = _Folder(Path(bundled_dir), True) if self.bundled_dir is not None else None
        self.where = str(self.root) if same else f"the class database {self.db.where}"

    # ------------------------------------------------------------ reading

    def list(self, class_id: str | None = None) -> list[StoredModel]:
        """Every model, the bundled ones first; broken entries are listed with their error. With
        `class_id`, those that class may use (`StoredModel.seen_in`)."""
        found = (self._bundled.entries() if self._bundled else []) + self._own.entries()
        return found if class_id is None else [m for m in found if m.broken or m.seen_in(class_id)]

    def get(self, name: str) -> StoredModel:
        validate_name(name)
        for place in (self._bundled, self._own):
            if place is not None and (entry := place.entry(name)) is not None:
                return entry
        raise StoreError(f"no model named {name!r}; {self._looked_in()}")

    def _looked_in(self) -> str:
        """Where models were looked for, and the names found: for a person who mistyped one."""
        places = [f"{self.bundled_dir} (the bundled model)"] if self.bundled_dir is not None else []
        places.append(self.where)
        names = [m.name for m in self.list()]
        return f"looked in {' and '.join(places)}; the models are: {', '.join(names) if names else 'none'}"

    def load(self, name: str | None = None) -> tuple[keras.Model, StoredModel]:
        """The Keras model and its entry, loaded in safe mode (no arbitrary code from the file),
        from a file checked against the record's checksum."""
        entry = self.get(name) if name else self.default()
        if entry.broken:
            raise StoreError(f"model {entry.name!r} is broken: {entry.error}")
        path = entry.model_path
        if entry.record.get("model_sha256") and sha256_of(path) != entry.record["model_sha256"]:
            if entry.db is None:
                raise StoreError(f"model {entry.name!r} is broken: its file is corrupt (checksum differs from the record)")
            path.unlink(missing_ok=True)  # this machine's cached copy was damaged: fetched (and checked) again
            path = entry.model_path
        from model_store.backend import keras  # TensorFlow only once a model is loaded

        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as err:
            raise StoreError(f"model {entry.name!r} cannot be loaded: {err}") from None
        return model, entry

    def test_probabilities(self, entry: StoredModel) -> np.ndarray | None:
        """The stored (10000, 10) test-set probabilities, or None when it has none (or they are lost)."""
        try:
            path = entry.probabilities_path
        except StoreError:
            return None
        if path is None or not path.is_file():
            return None
        with np.load(path) as f:
            return f["probabilities"].astype(np.float32)

    # ------------------------------------------------------------ the default model

    def default(self, class_id: str = MAIN) -> StoredModel:
        """The class's chosen default if it is whole and the class's to use, else the bundled
        model, else the first whole one the class may use."""
        chosen = self._own.default_name(class_id)
        if chosen:
            try:
                entry = self.get(chosen)
                if not entry.broken and entry.seen_in(class_id):
                    return entry
            except StoreError:
                pass  # a default that was deleted or renamed falls back below
        whole = [m for m in self.list(class_id) if not m.broken]
        if not whole:
            raise StoreError(f"no usable model: train one with `python -m training` (store: {self.where})")
        return whole[0]

    def set_default(self, name: str, by: Person) -> None:
        """The model the Draw page and the gallery start with, for everyone of `by`'s class: its teacher's choice."""
        require(by, "set_default")
        entry = self.get(name)
        if entry.broken:
            raise StoreError(f"model {name!r} is broken and cannot be the default: {entry.error}")
        if not entry.seen_in(by.class_id):
            raise StoreError(f"model {name!r} is another class's (its teacher may share it with the school)")
        self._own.set_default_name(name, by.class_id)

    def set_shared(self, name: str, shared: bool, by: Person) -> None:
        """A model of `by`'s class shared with every class of the school, or taken back (its class's teacher's)."""
        require(by, "share_model", f" ({name})")
        entry = self.get(name)
        if entry.bundled or entry.broken or entry.record.get("class_id", MAIN) != by.class_id:
            raise StoreError(f"{name!r} is not a model of this class, so it is not this class's to share")
        self._tables().set_shared(name, shared)

    # ------------------------------------------------------------ writing

    def check_free(self, name: str, overwrite: bool = False, connection: Connection | None = None) -> str:
        """`name` if a model may be saved under it; a StoreError saying why not otherwise
        (`connection`: checked inside that transaction)."""
        validate_name(name)
        if self._bundled is not None and self._bundled.taken(name):
            raise StoreError(f"{name!r} is the bundled model's name; choose another")
        if not overwrite and self._own.taken(name, connection):
            raise StoreError(f"a model named {name!r} already exists; choose another name or overwrite it")
        return name

    def save(
        self,
        model: keras.Model | bytes,
        record: dict[str, Any],
        test_probabilities: np.ndarray | None = None,
        overwrite: bool = False,
    ) -> StoredModel:
        """Store `model` (a Keras model, or a `.keras` file's bytes as a training run sends them
        back) under `record["name"]`: all of it or none, so an earlier version survives any crash."""
        name = self.check_free(record["name"], overwrite)
        blobs = {"model": model if isinstance(model, bytes) else _written(model.save, SUFFIXES["model"])}
        if test_probabilities is not None:
            blobs["test_probabilities"] = _probabilities_file(test_probabilities)
        return self._own.save(name, blobs, record, overwrite, self.check_free)

    def attach(self, entry: StoredModel, kind: str, write: Callable[[Path], Any]) -> StoredModel:
        """Keep a file made from a model with it (`kind` "map": its map of the digits), named in
        its record, so renaming and deleting take it along. `write(path)` writes it."""
        if kind not in SUFFIXES or kind == "model":
            raise StoreError(f"a model keeps no file of kind {kind!r}")
        return self._amend(entry, kind, lambda record: record, (kind, _written(write, SUFFIXES[kind])))

    def annotate(self, entry: StoredModel, key: str, value: Any) -> StoredModel:
        """Add what was learnt about a model to its record (`key` "calibration")."""
        return self._amend(entry, key, lambda record: {**record, key: value})

    def _amend(self, entry: StoredModel, what: str, change: Callable[[dict], dict], blob: tuple | None = None) -> StoredModel:
        """The record rewritten by `change` (and a file added); refused when the model was
        replaced since `entry` was read."""
        if entry.bundled and self.bundled_dir is not None:
            raise StoreError(f"{entry.name!r} is the bundled model; its files are read-only")
        return self._own.amend(entry, what, change, blob)

    def _tables(self) -> _Tables:
        if not isinstance(self._own, _Tables):
            raise StoreError(f"{self.root} holds the bundled model's files: they are rebuilt (README), not renamed or deleted")
        return self._own

    def rename(self, name: str, new_name: str, by: Person) -> StoredModel:
        """Give a model a new name, in one transaction; the default follows it. Its owner's or the
        teacher's to do."""
        entry = self.get(name)
        require(by, "rename_model", f" ({name})", owner=entry.record.get("owner"))
        if entry.bundled:
            raise StoreError(f"{name!r} is the bundled model; it cannot be renamed")
        _of_class(entry, by)
        if entry.broken:
            raise StoreError(f"{name!r} is broken ({entry.error}); delete it instead")
        self.check_free(new_name)
        self._tables().rename(name, new_name, self.check_free)
        return self.get(new_name)

    def rename_owner(self, people: set[str], new: str) -> int:
        """Every record these people (their ids) own now says `new` (a person renamed:
        `training.runs.rename_person`, which checks who may); how many records changed."""
        return self._tables().rename_owner(people, new)

    def read_upload(self, data: bytes, by: Person) -> keras.Model:
        """A `.keras` file from outside, loaded in safe mode and checked to read 28x28 digits."""
        require(by, "upload_model")
        from model_store.backend import keras

        if len(data) > MAX_UPLOAD_BYTES:
            raise StoreError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
        if not data.startswith(b"PK"):
            raise StoreError("not a .keras model file (a .keras file is a zip archive)")
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".upload-", suffix=".keras") as tmp:
            tmp.write(data)
            tmp.flush()
            try:
                model = keras.saving.load_model(tmp.name, compile=False, safe_mode=True)
            except Exception as err:  # corrupt, or code that safe mode refuses to run
                raise StoreError(f"the model cannot be loaded safely: {err}") from None
        inputs = int(np.prod(model.input_shape[1:])) if isinstance(model.input_shape, tuple) else None
        if inputs != 784:
            raise StoreError(f"the model takes input {model.input_shape}; it must take one 28x28 image (784 values)")
        if tuple(model.output_shape) not in ((None, 10), (None, 11)):
            raise StoreError(
                f"the model gives output {model.output_shape}; it must give 10 values, one per digit "
                "(or 11: the digits, then 'not a digit')"
            )
        return model

    def delete(self, name: str, by: Person) -> None:
        """A model's record and files go, in one transaction: its owner's or the teacher's to do."""
        entry = self.get(name)
        require(by, "delete_model", f" ({name})", owner=entry.record.get("owner"))
        if entry.bundled:
            raise StoreError(f"{name!r} is the bundled model; it cannot be deleted")
        _of_class(entry, by)
        self._tables().delete(name)

    # ------------------------------------------------------------ the store before the class database

    def import_folder(self, path: Path | str) -> tuple[int, int]:
        """Every whole model of a folder of the old layout (NAME.json beside its files) into the
        class database, with its files; its default.txt becomes the class's default if none is
        chosen yet. A model already there under its name with the same checksum is skipped; one
        whose name another model has comes in as NAME-2 (NAME-3...). (models found, imported)"""
        tables, folder = self._tables(), _Folder(Path(path), False)
        found, imported = folder.entries(), 0
        for entry in found:
            if entry.broken:
                continue
            blobs = {kind: (folder.directory / file_name).read_bytes() for kind, file_name in entry.record["files"].items()}
            if _sha256(blobs["model"]) != entry.record.get("model_sha256", _sha256(blobs["model"])):
                continue  # corrupt: left where it is
            if (name := self._import_name(entry.name, _sha256(blobs["model"]))) is not None:
                tables.save(name, blobs, {**entry.record, "name": name}, False, self.check_free)
                imported += 1
        chosen = folder.default_name()
        if chosen and tables.default_name() is None and tables.taken(chosen):
            tables.set_default_name(chosen)
        return len(found), imported

    def _import_name(self, name: str, checksum: str) -> str | None:
        """The name an imported model is stored under; None when it is there already."""
        for candidate in [name] + [f"{name}-{n}" for n in range(2, 100)]:
            there = self._own.entry(candidate)
            if there is not None and there.record.get("model_sha256") == checksum:
                return None
            if there is None and not (self._bundled and self._bundled.taken(candidate)) and len(candidate) <= MAX_NAME_LENGTH:
                return candidate
        raise StoreError(f"no free name for {name!r} (tried {name}-2 to {name}-99)")
