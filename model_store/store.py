"""The model store: a directory of trained models, each a `.keras` file plus a JSON record.

Layout of a store directory (default `models/` beside `app.py`, or $MNIST_LAB_MODELS):

    NAME.json                 the record: architecture, training options, metrics, history...
    NAME.<token>.keras        the model, named in the record's "files"
    NAME.<token>.npz          the test-set probabilities (the gallery reads them)
    NAME.<token>.map.npz      its map of MNIST's test images, once made (`attach`)
    default.txt               the name of the default model

A save writes the new files under a fresh token, then replaces `NAME.json` in one atomic rename:
a crash at any point leaves either the old record with its old files or the new one, never a mix.
The bundled model ships read-only in `model_store/bundled/` and is listed beside the user's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model_store.files import PROJECT_ROOT, write_atomic
from model_store.roles import Person, require

if TYPE_CHECKING:
    import keras

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME_LENGTH = 64
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # as server.maxUploadSize in .streamlit/config.toml
UNSURE = 0.6  # "Not sure" below this confidence, for a model without a calibration (`training.calibration`)
STALE_LOCK_SECONDS = 120  # a save takes seconds; an older lock belongs to a dead process


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


@dataclass(frozen=True)
class StoredModel:
    name: str
    record: dict[str, Any]  # the JSON record; empty when broken
    directory: Path
    bundled: bool = False
    error: str | None = None  # why the entry is broken; None when it is whole

    @property
    def broken(self) -> bool:
        return self.error is not None

    @property
    def model_path(self) -> Path:
        return self.directory / self.record["files"]["model"]

    @property
    def probabilities_path(self) -> Path | None:
        name = self.record.get("files", {}).get("test_probabilities")
        return self.directory / name if name else None

    @property
    def map_path(self) -> Path | None:
        """Its map of the digits (`model_store.explain`), once made and attached."""
        name = self.record.get("files", {}).get("map")
        return self.directory / name if name else None

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


def _own_files(name: str, record: dict[str, Any]) -> dict[str, str]:
    """The record's files, each checked to be a plain file of this model beside the record.

    A record is read from disk, so it is not trusted: a name like "../x" or "/etc/x", or another
    model's file, would let loading, deleting or renaming reach outside the model.
    """
    files = record["files"]
    for file_name in files.values():
        if not (isinstance(file_name, str) and Path(file_name).name == file_name and file_name.startswith(f"{name}.")):
            raise ValueError(f"the record names a file that is not this model's own: {file_name!r}")
    return files


@contextlib.contextmanager
def _save_lock(lock: Path, name: str):
    """One save per name at a time: a second concurrent save is refused, never interleaved."""
    if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
        lock.unlink(missing_ok=True)  # left by a process that died mid-save
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise StoreError(f"another save of {name!r} is in progress; wait for it or choose another name") from None
    try:
        yield
    finally:
        os.close(fd)
        lock.unlink(missing_ok=True)


class ModelStore:
    def __init__(self, root: Path | str | None = None, bundled_dir: Path | None = BUNDLED_DIR):
        self.root = Path(root) if root is not None else default_root()
        # A store opened on the bundled directory itself is how the bundled model is rebuilt.
        same = bundled_dir is not None and self.root.resolve() == Path(bundled_dir).resolve()
        self.bundled_dir = None if same else bundled_dir

    # ------------------------------------------------------------ reading

    def _entry(self, record_path: Path, bundled: bool) -> StoredModel:
        """An entry as the listing sees it: its record (parsed once per version of the file) and its
        model file there, of the size the record gives. The checksum is compared when the model
        is loaded, not here: a listing of hundreds of models reads no model file."""
        name = record_path.stem
        try:
            record = _record(record_path)
            model_file = record_path.parent / _own_files(name, record)["model"]
            if not model_file.is_file():
                raise FileNotFoundError(f"model file {model_file.name} is missing")
            if record.get("model_bytes") not in (None, model_file.stat().st_size):
                raise ValueError(f"model file {model_file.name} is corrupt (its size differs from the record)")
        except (OSError, ValueError, KeyError, TypeError) as err:
            return StoredModel(name, {}, record_path.parent, bundled, error=str(err) or type(err).__name__)
        return StoredModel(name, record, record_path.parent, bundled)

    def _record_paths(self, directory: Path | None) -> list[Path]:
        if directory is None or not directory.is_dir():
            return []
        return sorted(p for p in directory.glob("*.json") if NAME_PATTERN.fullmatch(p.stem))

    def list(self) -> list[StoredModel]:
        """Every model, the bundled ones first; broken entries are listed with their error."""
        bundled = [self._entry(p, True) for p in self._record_paths(self.bundled_dir)]
        own = [self._entry(p, False) for p in self._record_paths(self.root)]
        return bundled + own

    def get(self, name: str) -> StoredModel:
        validate_name(name)
        for directory, bundled in ((self.bundled_dir, True), (self.root, False)):
            if directory is not None and (directory / f"{name}.json").is_file():
                return self._entry(directory / f"{name}.json", bundled)
        raise StoreError(f"no model named {name!r}; {self._where()}")

    def _where(self) -> str:
        """Where models were looked for, and the names found: for a person who mistyped one."""
        places = [f"{self.bundled_dir} (the bundled model)"] if self.bundled_dir is not None else []
        places.append(f"{self.root}" + ("" if self.root.is_dir() else " (does not exist yet)"))
        names = [m.name for m in self.list()]
        return f"looked in {' and '.join(places)}; the models are: {', '.join(names) if names else 'none'}"

    def load(self, name: str | None = None) -> tuple[keras.Model, StoredModel]:
        """The Keras model and its entry, loaded in safe mode (no arbitrary code from the file)."""
        entry = self.get(name) if name else self.default()
        if entry.broken:
            raise StoreError(f"model {entry.name!r} is broken: {entry.error}")
        if entry.record.get("model_sha256") and sha256_of(entry.model_path) != entry.record["model_sha256"]:
            raise StoreError(f"model {entry.name!r} is broken: its file is corrupt (checksum differs from the record)")
        from model_store.backend import keras  # TensorFlow only once a model is loaded

        try:
            model = keras.saving.load_model(entry.model_path, compile=False, safe_mode=True)
        except Exception as err:
            raise StoreError(f"model {entry.name!r} cannot be loaded: {err}") from None
        return model, entry

    def test_probabilities(self, entry: StoredModel) -> np.ndarray | None:
        """The stored (10000, 10) test-set probabilities, or None when the record has none."""
        path = entry.probabilities_path
        if path is None or not path.is_file():
            return None
        with np.load(path) as f:
            return f["probabilities"].astype(np.float32)

    # ------------------------------------------------------------ the default model

    def default(self) -> StoredModel:
        """The chosen default if it is whole, else the bundled model, else the first whole one."""
        chosen = self.root / "default.txt"
        if chosen.is_file():
            try:
                entry = self.get(chosen.read_text().strip())
                if not entry.broken:
                    return entry
            except StoreError:
                pass  # a default that was deleted or renamed falls back below
        whole = [m for m in self.list() if not m.broken]
        if not whole:
            raise StoreError(f"no usable model: train one with `python -m training` (store: {self.root})")
        return whole[0]

    def set_default(self, name: str, by: Person) -> None:
        """The model the Draw page and the gallery start with, for everyone: the teacher's choice."""
        require(by, "set_default")
        entry = self.get(name)
        if entry.broken:
            raise StoreError(f"model {name!r} is broken and cannot be the default: {entry.error}")
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / "default.txt", lambda p: p.write_text(name))

    # ------------------------------------------------------------ writing

    def check_free(self, name: str, overwrite: bool = False) -> str:
        """`name` if a model may be saved under it; a StoreError saying why not otherwise."""
        validate_name(name)
        if self.bundled_dir is not None and (self.bundled_dir / f"{name}.json").exists():
            raise StoreError(f"{name!r} is the bundled model's name; choose another")
        if (self.root / f"{name}.json").exists() and not overwrite:
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
        back) under `record["name"]`; atomic, so an earlier version survives any crash."""
        name = self.check_free(record["name"], overwrite)
        record_path = self.root / f"{name}.json"
        self.root.mkdir(parents=True, exist_ok=True)
        with _save_lock(self.root / f".{name}.lock", name):
            self.check_free(name, overwrite)  # again: a save that held the lock just before may have taken it
            token = secrets.token_hex(4)
            files = {"model": f"{name}.{token}.keras"}
            write_atomic(self.root / files["model"], (lambda p: p.write_bytes(model)) if isinstance(model, bytes) else model.save)
            if test_probabilities is not None:
                files["test_probabilities"] = f"{name}.{token}.npz"
                probs = np.asarray(test_probabilities, np.float16)
                write_atomic(self.root / files["test_probabilities"], lambda p: np.savez_compressed(p, probabilities=probs))
            model_file = self.root / files["model"]
            record = {**record, "files": files, "model_sha256": sha256_of(model_file), "model_bytes": model_file.stat().st_size}
            old = self._files_of(record_path)
            write_atomic(record_path, lambda p: p.write_text(json.dumps(record, indent=1)))
            self._remove(old - set(files.values()))
        return self._entry(record_path, False)

    def attach(self, entry: StoredModel, kind: str, write: Callable[[Path], Any]) -> StoredModel:
        """Keep a file made from a model beside it (`kind` "map": its map of the digits), named in
        its record, so renaming and deleting take it along. `write(path)` writes it."""

        def add_file(record: dict) -> dict:
            file_name = f"{Path(record['files']['model']).stem}.{kind}.npz"  # "name.3f2a.map.npz": renamed as the rest
            write_atomic(self.root / file_name, write)
            return {**record, "files": {**record["files"], kind: file_name}}

        return self._amend(entry, kind, add_file)

    def annotate(self, entry: StoredModel, key: str, value: Any) -> StoredModel:
        """Add what was learnt about a model to its record (`key` "calibration")."""
        return self._amend(entry, key, lambda record: {**record, key: value})

    def _amend(self, entry: StoredModel, what: str, change: Callable[[dict], dict]) -> StoredModel:
        """The record rewritten by `change`, under the save lock; refused when the model was
        replaced since `entry` was read (what was made belongs to the old model)."""
        if entry.bundled and self.bundled_dir is not None:
            raise StoreError(f"{entry.name!r} is the bundled model; its files are read-only")
        with _save_lock(self.root / f".{entry.name}.lock", entry.name):
            current = self.get(entry.name)
            if current.broken or current.record.get("model_sha256") != entry.record.get("model_sha256"):
                raise StoreError(f"{entry.name!r} changed while its {what} was made; make it again")
            record = change(current.record)
            write_atomic(self.root / f"{entry.name}.json", lambda p: p.write_text(json.dumps(record, indent=1)))
        return self.get(entry.name)

    def rename(self, name: str, new_name: str, by: Person) -> StoredModel:
        """Give a model a new name; the default follows it. Crash-safe: the files are linked under
        the new name and the new record written before the old one goes. Its owner's or the
        teacher's to do."""
        entry = self.get(name)
        require(by, "rename_model", f" ({name})", owner=entry.record.get("owner"))
        if entry.bundled:
            raise StoreError(f"{name!r} is the bundled model; it cannot be renamed")
        if entry.broken:
            raise StoreError(f"{name!r} is broken ({entry.error}); delete it instead")
        self.check_free(new_name)
        with _save_lock(self.root / f".{new_name}.lock", new_name):
            self.check_free(new_name)
            # "old.3f2a.keras" -> "new.3f2a.keras": the token part stays.
            files = {key: new_name + file_name[len(name) :] for key, file_name in entry.record["files"].items()}
            for key, file_name in files.items():
                os.link(self.root / entry.record["files"][key], self.root / file_name)
            record = {**entry.record, "name": new_name, "files": files}
            write_atomic(self.root / f"{new_name}.json", lambda p: p.write_text(json.dumps(record, indent=1)))
            chosen = self.root / "default.txt"
            was_default = chosen.is_file() and chosen.read_text().strip() == name
            self.delete(name, by)
            if was_default:  # the class's default follows, whoever renamed it
                write_atomic(chosen, lambda p: p.write_text(new_name))
        return self.get(new_name)

    def rename_owner(self, old: str, new: str) -> int:
        """Every record owned by `old` now says `new` (a person renamed: `training.runs.rename_person`,
        which checks who may); how many records changed."""
        changed = 0
        for entry in self.list():
            owner = entry.record.get("owner") or {}
            if entry.bundled or entry.broken or owner.get("name") != old:
                continue
            record = {**entry.record, "owner": {**owner, "name": new}}
            write_atomic(self.root / f"{entry.name}.json", lambda p, r=record: p.write_text(json.dumps(r, indent=1)))
            changed += 1
        return changed

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
        """A model's record and files go: its owner's or the teacher's to do."""
        entry = self.get(name)
        require(by, "delete_model", f" ({name})", owner=entry.record.get("owner"))
        if entry.bundled:
            raise StoreError(f"{name!r} is the bundled model; it cannot be deleted")
        record_path = self.root / f"{name}.json"
        files = self._files_of(record_path)
        record_path.unlink()  # the record goes first: a crash after it leaves no half entry
        self._remove(files)

    def _files_of(self, record_path: Path) -> set[str]:
        """The files a record owns; none when it is unreadable or names files not its own."""
        try:
            return set(_own_files(record_path.stem, json.loads(record_path.read_text())).values())
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def _remove(self, file_names: set[str]) -> None:
        for file_name in file_names:
            (self.root / Path(file_name).name).unlink(missing_ok=True)
