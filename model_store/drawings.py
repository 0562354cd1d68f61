"""The class's own handwriting: labelled drawings in the class database (`model_store.database`).

One row a drawing: the canvas (or file) as PNG, the prepared 28x28 as MNIST keeps its images
(uint8, white on black, 784 bytes), the label its writer gave, who (their name and their browser's
id), when, and which model answered what. The same database holds the class's register of names
and teacher sign-ins (`model_store.people`), its models and its runs, so one backup keeps the
whole lesson. Each change is one transaction.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import case, delete, func, insert, select

from model_store.database import MAIN, RENAMES, Database, DatabaseError, settings
from model_store.database import drawings as table
from model_store.preprocess import prepare
from model_store.roles import TERMINAL, NotAllowed, Person, is_teacher, maker, require

SOURCES = ("canvas", "upload", "import")
MAX_IMPORT = 100_000  # drawings in one imported file
SAVES_PER_MINUTE = 30  # from one browser: a digit every 2 s is quick drawing; more is a flood
CLASS_SAVES_PER_MINUTE = 900  # from a whole class: 30 students at the pace above
COLUMNS = ("id", "created", "writer", "label", "image", "source", "model", "probabilities", "original", "browser")


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
        return maker(self.writer, self.browser)


class TooManySaves(DatabaseError):
    """More than SAVES_PER_MINUTE drawings from one browser in a minute."""


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A prepared 28x28 (floats in [0, 1], or uint8) as MNIST keeps its images."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise ValueError(f"a prepared image is 28x28 (got {a.shape})")
    return a.astype(np.uint8) if a.dtype == np.uint8 else np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


_read: dict = {}  # (database, writer): (its version, the rows read then); ids are never reused, so a version is a key


class Drawings:
    """The drawings of one class (`class_id`, `model_store.classes`): nothing here reads or
    changes another class's."""

    def __init__(self, db: Database | Path | str | None = None, class_id: str = MAIN):
        self.db = db if isinstance(db, Database) else Database(db)
        self.class_id = class_id
        self.mine = table.c.class_id == class_id

    def _here(self, by: Person) -> Person:
        """`by`, acting in this class: a teacher's rights are their class's, so a person of another
        class is refused here (NotAllowed) rather than checked as if it were theirs."""
        if by.class_id != self.class_id:
            raise NotAllowed("that is another class's drawings: open that class first")
        return by

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
        SAVES_PER_MINUTE in a minute is refused (TooManySaves), counted in the same transaction
        under the browser's lock, so several app processes cannot exceed it together. Refused too,
        before anything is written, when the database's disk is nearly full (`Database.check_room`)."""
        row = self._row(image, label, writer, source, original, model, probabilities) | {"browser": browser}
        self.db.check_room(len(row["image"]) + len(original or b""))
        with self.db.write(lock=f"saves:{browser}") as db:
            if browser is not None:
                self._check_rate(db, browser, row["created"])
                self._check_class_rate(db, row["created"])
            return db.execute(insert(table).values(**row).returning(table.c.id)).scalar_one()

    def _check_rate(self, db, browser: str, now: str) -> None:
        minute_ago = (datetime.fromisoformat(now) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
        recent = (
            db.execute(
                select(table.c.created).where(table.c.browser == browser, table.c.created > minute_ago).order_by(table.c.created)
            )
            .scalars()
            .all()
        )
        if len(recent) >= SAVES_PER_MINUTE:
            oldest = datetime.fromisoformat(recent[-SAVES_PER_MINUTE])
            wait = 60 - (datetime.fromisoformat(now) - oldest).total_seconds()
            raise TooManySaves(
                f"you saved {len(recent)} drawings in the last minute, the class's limit is {SAVES_PER_MINUTE}: "
                f"wait {max(wait, 1):.0f} s (a flood of drawings would crowd everyone else's out of the next teach run)"
            )

    def _check_class_rate(self, db, now: str) -> None:
        """The whole class saves at most CLASS_SAVES_PER_MINUTE (counted without the class's lock:
        saves at the same instant may pass it by a few)."""
        minute_ago = (datetime.fromisoformat(now) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
        query = select(table.c.created).where(self.mine).order_by(table.c.id.desc()).offset(CLASS_SAVES_PER_MINUTE - 1).limit(1)
        if (oldest := db.execute(query).scalar()) is not None and oldest > minute_ago:
            raise TooManySaves(
                f"the class saved {CLASS_SAVES_PER_MINUTE} drawings in the last minute, its most: wait a few seconds "
                "(this drawing is kept: press Save again)"
            )

    def _row(self, image, label, writer, source, original, model, probabilities) -> dict:
        if not isinstance(label, int | np.integer) or not 0 <= int(label) <= 9:
            raise ValueError(f"a label is a digit from 0 to 9 (got {label!r})")
        if source not in SOURCES:
            raise ValueError(f"source is one of {', '.join(SOURCES)} (got {source!r})")
        probs = None if probabilities is None else json.dumps([round(float(p), 6) for p in probabilities])
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        return {
            "class_id": self.class_id,
            "created": created,
            "writer": writer.strip() or "?",
            "label": int(label),
            "image": as_uint8(image).tobytes(),
            "original": original,
            "source": source,
            "model": model,
            "probabilities": probs,
        }

    def import_npz(self, data: bytes | Path, writer: str, by: Person) -> int:
        """Add every drawing of an .npz file: `x` uint8 images (n, h, w) of any size, light ink on
        dark or dark on light, each prepared by the project's pipeline; `y` the labels 0-9. All or
        nothing: a bad file, label or blank image refuses the whole file, naming it. How many.
        The teacher's: one file can hold thousands of drawings that are not the class's."""
        by = self._here(by)
        require(by, "import_drawings")
        images, labels = read_npz(data)
        prepared = []
        for i, image in enumerate(images):
            p = prepare(image)
            if p.image is None:
                raise ValueError(f"image {i} (labelled {labels[i]}) has no digit to read: {p.blank_reason}")
            prepared.append(p.image)
        rows = [self._row(img, int(label), writer, "import", None, None, None) for img, label in zip(prepared, labels)]
        self.db.check_room(sum(len(r["image"]) for r in rows))
        with self.db.write() as db:
            db.execute(insert(table), rows)
        return len(rows)

    # ------------------------------------------------------------ reading

    def counts(self) -> list[tuple[str, int, int]]:
        """(writer, label, drawings) for every writer and digit that has any."""
        query = (
            select(table.c.writer, table.c.label, func.count())
            .where(self.mine)
            .group_by(table.c.writer, table.c.label)
            .order_by(table.c.writer, table.c.label)
        )
        with self.db.read() as db:
            return [tuple(r) for r in db.execute(query)]

    def count(self, writer: str | None = None) -> int:
        return self.tally(writer or "")[1 if writer is None else 0]

    def tally(self, writer: str) -> tuple[int, int]:
        """(this writer's drawings, the whole class's), in one query."""
        mine = func.coalesce(func.sum(case((table.c.writer == writer, 1), else_=0)), 0)
        with self.db.read() as db:
            row = db.execute(select(mine, func.count()).select_from(table).where(self.mine)).one()
        return int(row[0]), int(row[1])

    def version(self) -> tuple[int, int, int]:
        """(how many, the last id, the renames): changes whenever a drawing is added or deleted, or
        a rename changes writers. A cache key."""
        renames = select(settings.c.value).where(settings.c.key == RENAMES).scalar_subquery()
        with self.db.read() as db:
            query = select(func.count(), func.coalesce(func.max(table.c.id), 0), renames).select_from(table).where(self.mine)
            count, last, renamed = db.execute(query).one()
        return int(count), int(last), int(renamed or 0)

    def writers(self) -> list[str]:
        with self.db.read() as db:
            return list(db.execute(select(table.c.writer).where(self.mine).distinct().order_by(table.c.writer)).scalars())

    def arrays(self, writer: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, images uint8 (n, 28, 28), labels uint8 (n,)), oldest first; one writer's, or all."""
        ids, images, labels, _ = self.rows(writer)
        return ids, images, labels

    def rows(self, writer: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """As `arrays`, and who drew each: read again only when the drawings changed (`version`), so
        a page run over a term's 20,000 drawings costs one small query, not 15 MB from the database."""
        key, version = (self.db.where, self.class_id, writer), self.version()
        kept = _read.get(key)
        if kept is None or kept[0] != version:
            kept = (version, self._select(_of_writer(writer))[:4])
            _read[key] = kept
        return kept[1]

    def _select(self, where) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
        """(ids, images uint8 (n, 28, 28), labels uint8 (n,), writers, times created) of the rows
        `where` picks (None: all), oldest first."""
        query = select(table.c.id, table.c.image, table.c.label, table.c.writer, table.c.created).where(self.mine)
        with self.db.read() as db:
            rows = db.execute((query if where is None else query.where(where)).order_by(table.c.id)).all()
        ids = np.array([r[0] for r in rows], np.int64)
        images = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(-1, 28, 28)
        return ids, images, np.array([r[2] for r in rows], np.uint8), [r[3] for r in rows], [r[4] for r in rows]

    def newest(self, limit: int) -> list[Drawing]:
        """The `limit` drawings saved last, newest first, without their originals (the class wall
        reads them every second: the PNGs would be most of the bytes)."""
        shown = [c for c in COLUMNS if c != "original"]
        query = select(*(table.c[c] for c in shown)).where(self.mine).order_by(table.c.id.desc()).limit(int(limit))
        with self.db.read() as db:
            return [_drawing(row, None) for row in db.execute(query)]

    def answered(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, the answers of the models that read them when saved) of every drawing that
        has its model's probabilities: what the class's confusion matrix counts."""
        query = (
            select(table.c.label, table.c.probabilities).where(self.mine, table.c.probabilities.is_not(None)).order_by(table.c.id)
        )
        with self.db.read() as db:
            rows = db.execute(query).all()
        answers = [int(np.argmax(json.loads(r[1]))) for r in rows]
        return np.array([r[0] for r in rows], np.int64), np.array(answers, np.int64)

    def get(self, drawing_id: int) -> Drawing:
        with self.db.read() as db:
            row = db.execute(select(*(table.c[c] for c in COLUMNS)).where(self.mine, table.c.id == int(drawing_id))).first()
        if row is None:
            raise KeyError(f"no drawing {drawing_id}")
        return _drawing(row, row.original)

    def npz(self, by: Person, writer: str | None = None) -> bytes:
        """An .npz file's bytes: the prepared images as `x` uint8 (n, 28, 28) and `y` uint8 (n,),
        the shape `keras.datasets.mnist` gives. A student gets their own drawings only; the
        teacher gets everyone's or one writer's, with `writer` and `created` (UTC) for each."""
        by = self._here(by)
        if not is_teacher(by):  # made from their browsers: imports and older rows carry none, and are not theirs
            _, x, y, _, _ = self._select(table.c.browser.in_(sorted(by.browsers)))
            return _npz(x, y)
        _, x, y, writers, created = self._select(_of_writer(writer))
        return _npz(x, y, writer=np.array(writers, dtype=str), created=np.array(created, dtype=str))

    def export_npz(self, path: Path, writer: str | None = None) -> int:
        """The teacher's export (`npz`) written to a file, for the command line; how many."""
        Path(path).write_bytes(self.npz(replace(TERMINAL, class_id=self.class_id), writer))
        return self.count(writer)

    # ------------------------------------------------------------ deleting

    def delete(self, drawing_id: int, by: Person) -> None:
        """A drawing goes: its writer's (from their browser) or the teacher's to delete."""
        by = self._here(by)
        require(by, "delete_drawings", owner=self.get(drawing_id).owner)
        with self.db.write() as db:
            if db.execute(delete(table).where(self.mine, table.c.id == int(drawing_id))).rowcount == 0:
                raise KeyError(f"no drawing {drawing_id}")

    def delete_all(self, by: Person, writer: str | None = None) -> int:
        """Every drawing, or one writer's; how many went. A student may delete all of their own:
        those made from their browsers (imports under their name are not theirs)."""
        by = self._here(by)
        if is_teacher(by):  # checked now: a tab left open after its Sign out deletes nothing of others'
            where = _of_writer(writer)
        else:
            if writer != by.name:
                require(by, "delete_drawings", f" ({'everyone' if writer is None else writer}'s)")
            where = table.c.browser.in_(sorted(by.browsers))
        with self.db.write() as db:
            return db.execute(delete(table).where(self.mine) if where is None else delete(table).where(self.mine, where)).rowcount


def _drawing(row, original: bytes | None) -> Drawing:
    image = np.frombuffer(row.image, np.uint8).reshape(28, 28)
    probabilities = json.loads(row.probabilities) if row.probabilities else None
    return Drawing(row.id, row.created, row.writer, row.label, image, row.source, row.model, probabilities, original, row.browser)


def _of_writer(writer: str | None):
    """The condition picking one writer's rows; None (everyone's) for None."""
    return table.c.writer == writer if writer is not None else None


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
