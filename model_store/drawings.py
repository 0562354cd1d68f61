"""The class's own handwriting: labelled drawings in one SQLite file.

    $MNIST_LAB_DB, default `drawings.sqlite3` in the class's data folder (`files.data_root`)

One row a drawing: the canvas (or file) as PNG, the prepared 28x28 as MNIST keeps its images
(uint8, white on black, 784 bytes), the label its writer gave, who (their name and their browser's
id), when, and which model answered what. The same file holds the class's register of names and
teacher sign-ins (`model_store.people`), so one backup keeps the whole lesson. WAL mode lets many
readers work beside one writer; each change is one transaction; a busy file is waited for
(BUSY_SECONDS) before it is reported. The schema carries its version (`PRAGMA user_version`), and
an older file is upgraded in place when first opened.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from model_store.files import data_root
from model_store.preprocess import prepare
from model_store.roles import TERMINAL, Person, require

SCHEMA_VERSION = 2
BUSY_SECONDS = 5.0
SOURCES = ("canvas", "upload", "import")
MAX_IMPORT = 100_000  # drawings in one imported file
SAVES_PER_MINUTE = 30  # from one browser: a digit every 2 s is quick drawing; more is a flood
SCHEMA = """
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: (count, last id) tells any change
    created TEXT NOT NULL,                 -- UTC, ISO 8601
    writer TEXT NOT NULL,                  -- the display name of who drew it
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image BLOB NOT NULL CHECK (length(image) = 784),  -- the prepared 28x28, uint8, row by row
    original BLOB,                         -- the canvas or the file, as PNG
    source TEXT NOT NULL,                  -- canvas, upload or import
    model TEXT,                            -- the model that answered when it was saved
    probabilities TEXT,                    -- that model's ten probabilities, JSON
    browser TEXT                           -- the writer's browser (NULL for imports and older rows)
);
CREATE INDEX IF NOT EXISTS drawings_writer ON drawings (writer);
"""
# Version 2: who drew it from which browser, the register of names, the teacher's sign-ins.
SCHEMA_2 = """
CREATE INDEX IF NOT EXISTS drawings_browser ON drawings (browser, created);
CREATE TABLE IF NOT EXISTS people (
    browser TEXT PRIMARY KEY,  -- the browser's id: a person is their browser
    name TEXT NOT NULL,        -- shown everywhere (two browsers share one only after a merge)
    since TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS people_name ON people (name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS wrong_passwords (
    scope TEXT PRIMARY KEY,    -- a browser's id, or "app" for every browser at once
    wrong INTEGER NOT NULL,    -- wrong passwords in a row
    last REAL NOT NULL         -- the last one, Unix time
);
CREATE TABLE IF NOT EXISTS teachers (
    browser TEXT PRIMARY KEY,  -- a browser the teacher signed in from (kept after sign-out)
    until REAL NOT NULL,       -- the sign-in holds until then (0 after Sign out)
    seen REAL NOT NULL         -- its last page run, for the idle rule
);
"""


class DrawingsError(RuntimeError):
    """The database cannot be read or written; the message says why, for a person."""


@dataclass
class Drawing:
    id: int
    created: str
    writer: str
    label: int
    image: np.ndarray  # (28, 28) uint8
    source: str
    model: str | None
    probabilities: list[float] | None
    original: bytes | None
    browser: str | None

    @property
    def owner(self) -> dict:
        return {"name": self.writer, "browser": self.browser}


class TooManySaves(DrawingsError):
    """More than SAVES_PER_MINUTE drawings from one browser in a minute."""


def default_path() -> Path:
    return Path(os.environ.get("MNIST_LAB_DB") or data_root() / "drawings.sqlite3")


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A prepared 28x28 (floats in [0, 1], or uint8) as MNIST keeps its images."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise ValueError(f"a prepared image is 28x28 (got {a.shape})")
    return a.astype(np.uint8) if a.dtype == np.uint8 else np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def _explain(err: sqlite3.Error, path: Path) -> DrawingsError:
    text = str(err).lower()
    if "locked" in text or "busy" in text:
        why = f"is busy (another program holds a lock on it for over {BUSY_SECONDS:.0f} s)"
    elif "readonly" in text or "read-only" in text:
        why = "is read-only"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = "is damaged (not a readable SQLite database)"
    elif "unable to open" in text:
        why = "cannot be opened (check that its folder exists and may be written)"
    else:
        why = f"failed: {err}"
    return DrawingsError(f"the class drawings database {path} {why}")


def _wal(connection: sqlite3.Connection) -> None:
    """WAL mode, kept in the file. Switching to it needs the other connections out of a new file,
    and SQLite answers "database is locked" at once instead of waiting its busy timeout (1 time in
    20 with 20 sessions saving into a fresh file): so it is tried again until BUSY_SECONDS."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _upgrade(connection: sqlite3.Connection, version: int) -> None:
    """A new file made, or a version 1 file brought to version 2, in one transaction. Two
    processes may both get here: the version is read again under the write lock."""
    if version == 0:
        _wal(connection)
    connection.execute("BEGIN IMMEDIATE")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == 1:
        connection.execute("ALTER TABLE drawings ADD COLUMN browser TEXT")
    if version < SCHEMA_VERSION:
        for statement in (SCHEMA + SCHEMA_2).split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    connection.commit()


class Drawings:
    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_path()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one piece of work (so every thread has its own), the schema made or
        checked; any SQLite failure becomes a DrawingsError naming the file and the reason."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
        except (OSError, sqlite3.Error) as err:
            raise DrawingsError(f"the class drawings database {self.path} cannot be opened ({err})") from None
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                _upgrade(connection, version)
            elif version > SCHEMA_VERSION:
                raise DrawingsError(f"the class drawings database {self.path} is from a newer release (schema {version})")
            yield connection
        except sqlite3.Error as err:
            raise _explain(err, self.path) from None
        finally:
            connection.close()

    # ------------------------------------------------------------ adding

    def add(
        self,
        image: np.ndarray,
        label: int,
        writer: str,
        source: str = "canvas",
        original: bytes | None = None,
        model: str | None = None,
        probabilities: np.ndarray | None = None,
        browser: str | None = None,
    ) -> int:
        """Save one prepared drawing with its label; its id. A browser saving more than
        SAVES_PER_MINUTE in a minute is refused (TooManySaves), counted in the same transaction,
        so several app processes cannot exceed it together."""
        row = (*self._row(image, label, writer, source, original, model, probabilities), browser)
        with self.connect() as db, db:
            db.execute("BEGIN IMMEDIATE")
            if browser is not None:
                self._check_rate(db, browser, row[0])
            return db.execute(
                "INSERT INTO drawings (created, writer, label, image, original, source, model, probabilities, browser) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ).lastrowid

    def _check_rate(self, db: sqlite3.Connection, browser: str, now: str) -> None:
        minute_ago = (datetime.fromisoformat(now) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
        recent = db.execute(
            "SELECT created FROM drawings WHERE browser = ? AND created > ? ORDER BY created", (browser, minute_ago)
        ).fetchall()
        if len(recent) >= SAVES_PER_MINUTE:
            oldest = datetime.fromisoformat(recent[-SAVES_PER_MINUTE][0])
            wait = 60 - (datetime.fromisoformat(now) - oldest).total_seconds()
            raise TooManySaves(
                f"you saved {len(recent)} drawings in the last minute, the class's limit is {SAVES_PER_MINUTE}: "
                f"wait {max(wait, 1):.0f} s (a flood of drawings would crowd everyone else's out of the next teach run)"
            )

    def _row(self, image, label, writer, source, original, model, probabilities) -> tuple:
        if not isinstance(label, int | np.integer) or not 0 <= int(label) <= 9:
            raise ValueError(f"a label is a digit from 0 to 9 (got {label!r})")
        if source not in SOURCES:
            raise ValueError(f"source is one of {', '.join(SOURCES)} (got {source!r})")
        probs = None if probabilities is None else json.dumps([round(float(p), 6) for p in probabilities])
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        return (created, writer.strip() or "?", int(label), as_uint8(image).tobytes(), original, source, model, probs)

    def import_npz(self, data: bytes | Path, writer: str, by: Person) -> int:
        """Add every drawing of an .npz file: `x` uint8 images (n, h, w) of any size, light ink on
        dark or dark on light, each prepared by the project's pipeline; `y` the labels 0-9. All or
        nothing: a bad file, label or blank image refuses the whole file, naming it. How many.
        The teacher's: one file can hold thousands of drawings that are not the class's."""
        require(by, "import_drawings")
        images, labels = read_npz(data)
        prepared = []
        for i, image in enumerate(images):
            p = prepare(image)
            if p.image is None:
                raise ValueError(f"image {i} (labelled {labels[i]}) has no digit to read: {p.blank_reason}")
            prepared.append(p.image)
        rows = [self._row(img, int(label), writer, "import", None, None, None) for img, label in zip(prepared, labels)]
        with self.connect() as db, db:
            db.executemany(
                "INSERT INTO drawings (created, writer, label, image, original, source, model, probabilities) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    # ------------------------------------------------------------ reading

    def counts(self) -> list[tuple[str, int, int]]:
        """(writer, label, drawings) for every writer and digit that has any."""
        with self.connect() as db:
            return db.execute(
                "SELECT writer, label, count(*) FROM drawings GROUP BY writer, label ORDER BY writer, label"
            ).fetchall()

    def count(self, writer: str | None = None) -> int:
        return self.tally(writer or "")[1 if writer is None else 0]

    def tally(self, writer: str) -> tuple[int, int]:
        """(this writer's drawings, the whole class's), in one query."""
        with self.connect() as db:
            mine, everyone = db.execute("SELECT coalesce(sum(writer = ?), 0), count(*) FROM drawings", (writer,)).fetchone()
            return mine, everyone

    def version(self) -> tuple[int, int]:
        """(how many, the last id): changes whenever a drawing is added or deleted. A cache key."""
        with self.connect() as db:
            count, last = db.execute("SELECT count(*), coalesce(max(id), 0) FROM drawings").fetchone()
            return count, last

    def writers(self) -> list[str]:
        with self.connect() as db:
            return [w for (w,) in db.execute("SELECT DISTINCT writer FROM drawings ORDER BY writer")]

    def arrays(self, writer: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, images uint8 (n, 28, 28), labels uint8 (n,)), oldest first; one writer's, or all."""
        ids, images, labels, _ = self.rows(writer)
        return ids, images, labels

    def rows(self, writer: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """As `arrays`, and who drew each."""
        return self._select(*_of_writer(writer))[:4]

    def _select(self, where: str, args: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
        """(ids, images uint8 (n, 28, 28), labels uint8 (n,), writers, times created) of the rows
        `where` picks, oldest first."""
        with self.connect() as db:
            rows = db.execute(f"SELECT id, image, label, writer, created FROM drawings {where} ORDER BY id", args).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        images = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(-1, 28, 28)
        return ids, images, np.array([r[2] for r in rows], np.uint8), [r[3] for r in rows], [r[4] for r in rows]

    def get(self, drawing_id: int) -> Drawing:
        with self.connect() as db:
            row = db.execute(
                "SELECT id, created, writer, label, image, source, model, probabilities, original, browser "
                "FROM drawings WHERE id = ?",
                (int(drawing_id),),
            ).fetchone()
        if row is None:
            raise KeyError(f"no drawing {drawing_id}")
        image = np.frombuffer(row[4], np.uint8).reshape(28, 28)
        return Drawing(*row[:4], image, row[5], row[6], json.loads(row[7]) if row[7] else None, row[8], row[9])

    def npz(self, by: Person, writer: str | None = None) -> bytes:
        """An .npz file's bytes: the prepared images as `x` uint8 (n, 28, 28) and `y` uint8 (n,),
        the shape `keras.datasets.mnist` gives. A student gets their own drawings only; the
        teacher gets everyone's or one writer's, with `writer` and `created` (UTC) for each."""
        if not by.teacher:  # made from their browsers: imports and older rows carry none, and are not theirs
            browsers = tuple(sorted(by.browsers))
            _, x, y, _, _ = self._select(f"WHERE browser IN ({', '.join('?' * len(browsers))})", browsers)
            return _npz(x, y)
        _, x, y, writers, created = self._select(*_of_writer(writer))
        return _npz(x, y, writer=np.array(writers, dtype=str), created=np.array(created, dtype=str))

    def export_npz(self, path: Path, writer: str | None = None) -> int:
        """The teacher's export (`npz`) written to a file, for the command line; how many."""
        Path(path).write_bytes(self.npz(TERMINAL, writer))
        return self.count(writer)

    # ------------------------------------------------------------ deleting

    def delete(self, drawing_id: int, by: Person) -> None:
        """A drawing goes: its writer's (from their browser) or the teacher's to delete."""
        require(by, "delete_drawings", owner=self.get(drawing_id).owner)
        with self.connect() as db, db:
            if db.execute("DELETE FROM drawings WHERE id = ?", (int(drawing_id),)).rowcount == 0:
                raise KeyError(f"no drawing {drawing_id}")

    def delete_all(self, by: Person, writer: str | None = None) -> int:
        """Every drawing, or one writer's; how many went. A student may delete all of their own:
        those made from their browsers (imports under their name are not theirs)."""
        if by.teacher:
            with self.connect() as db, db:
                if writer is None:
                    return db.execute("DELETE FROM drawings").rowcount
                return db.execute("DELETE FROM drawings WHERE writer = ?", (writer,)).rowcount
        if writer != by.name:
            require(by, "delete_drawings", f" ({'everyone' if writer is None else writer}'s)")
        browsers = sorted(by.browsers)
        with self.connect() as db, db:
            return db.execute(f"DELETE FROM drawings WHERE browser IN ({', '.join('?' * len(browsers))})", browsers).rowcount


def _of_writer(writer: str | None) -> tuple[str, tuple]:
    """The WHERE clause and its argument picking one writer's rows; everyone's for None."""
    return ("WHERE writer = ?", (writer,)) if writer is not None else ("", ())


def _npz(x: np.ndarray, y: np.ndarray, **more: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=y, **more)
    return buffer.getvalue()


def read_npz(data: bytes | Path) -> tuple[np.ndarray, np.ndarray]:
    """`x` and `y` of an .npz file, checked: ValueError saying what is wrong."""
    data = data if isinstance(data, bytes) else Path(data).read_bytes()  # OSError: no such file, say
    if not data.startswith(b"PK"):
        raise ValueError("not an .npz file (one is a zip archive of arrays, as numpy.savez writes it)")
    from model_store.archives import check_npz  # here: this module's other parts are being rewritten

    check_npz(data)  # before anything is unpacked: a zip bomb of a few kB can hold gigabytes
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files if name in ("x", "y")} | {"files": f.files}
    except Exception as err:  # truncated, pickled objects
        raise ValueError(f"not a readable .npz file of arrays ({type(err).__name__}: {err})") from None
    if "x" not in arrays or "y" not in arrays:
        raise ValueError(f"the file must hold arrays named x and y (it holds: {', '.join(arrays['files']) or 'nothing'})")
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"x must be uint8 images, shape (n, height, width) (got {x.dtype}, shape {x.shape})")
    if min(x.shape[1:], default=0) < 8:
        raise ValueError(f"the images are {x.shape[1]}x{x.shape[2]} pixels, too small to hold a digit")
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one label per image: shape ({len(x)},) (got {y.shape})")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() > 9)):
        bad = y if not np.issubdtype(y.dtype, np.integer) else y[(y < 0) | (y > 9)]
        raise ValueError(f"y must hold whole-number labels from 0 to 9 (found {bad.ravel()[:1].tolist()[0]!r})")
    if not len(x):
        raise ValueError("the file holds no images")
    if len(x) > MAX_IMPORT:
        raise ValueError(f"at most {MAX_IMPORT:,} images in one file (this one has {len(x):,})")
    return x, y.astype(np.uint8)
