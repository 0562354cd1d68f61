"""A save on a nearly full disk, on a real small filesystem (a tmpfs holding the class database and
the models folder): refused with a message saying which disk is full, nothing half-written, every
earlier model and drawing still readable, and the same save working once space is freed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest
from sqlalchemy import select

from model_store import ModelStore, StoreError
from model_store.database import DatabaseError, model_files, models
from model_store.drawings import Drawings
from model_store.networks import dense_128

pytestmark = pytest.mark.mount

KB = 1024
FLOOR_MB = "1"  # the floor saves keep free here: a few MB is the whole disk


@pytest.fixture
def disk(tmp_path, monkeypatch) -> Path:
    """An 8 MB tmpfs with the class data folder (its SQLite database) and the models folder on it;
    unmounted after the test. Skipped where mounting is not permitted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    top = tmp_path / "disk"
    top.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(top)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {(mounted.stderr.strip() or 'mount failed').splitlines()[0]}")
    monkeypatch.setenv("MNIST_LAB_DATA", str(top / "data"))
    monkeypatch.setenv("MNIST_LAB_FREE_MB", FLOOR_MB)
    yield top
    subprocess.run(["umount", str(top)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """A file of filler bytes that leaves about `leave` bytes free (tmpfs counts whole pages)."""
    filler = disk / "filler"
    with open(filler, "ab") as f:
        f.write(b"\0" * max(shutil.disk_usage(disk).free - leave, 0))
    return filler


@pytest.fixture(scope="module")
def keras_files() -> list[bytes]:
    """Two different small models as .keras files' bytes (about 420 KB each)."""
    files = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "m.keras"
            dense_128().save(path)
            files.append(path.read_bytes())
    return files


def record(name: str) -> dict:
    return {"name": name, "architecture": "dense-128", "normalization": "scale"}


def state(store: ModelStore) -> tuple:
    """What a person and the disk see: the listing, the database's rows, the cache's files."""
    with store.db.read() as c:
        rows = sorted(c.execute(select(models.c.name)).scalars()), sorted(c.execute(select(model_files.c.model)).scalars())
    cached = sorted(p.name for p in (store.root / ".cache").iterdir())  # a half-written file would show here
    return [(m.name, m.broken) for m in store.list()], rows, cached


def first_layer(store: ModelStore, name: str) -> np.ndarray:
    return store.load(name)[0].get_weights()[0]


def saved_drawings(drawings: Drawings, n: int) -> list[np.ndarray]:
    images = [np.full((28, 28), 10 * i, np.uint8) for i in range(n)]
    for i, image in enumerate(images):
        drawings.add(image, i % 10, "ada", original=b"\x89PNG" + bytes(2000), browser="ada-browser")
    return images


def assert_readable(drawings: Drawings, images: list[np.ndarray]) -> None:
    ids, kept, labels = drawings.arrays()
    assert len(ids) == len(images) and labels.tolist() == [i % 10 for i in range(len(images))]
    np.testing.assert_array_equal(kept, np.stack(images))


def test_a_model_save_on_a_nearly_full_disk_is_refused_naming_it_and_the_same_name_saves_once_space_is_freed(disk, keras_files):
    store = ModelStore(disk / "models", bundled_dir=None)
    store.save(keras_files[0], record("first"))
    before, weights = state(store), first_layer(store, "first")
    filler = fill(disk, leave=512 * KB)  # under the 1 MB floor, though the 420 KB model would still fit
    with pytest.raises(StoreError) as refused:
        store.save(keras_files[1], record("second"))
    message = str(refused.value)
    assert message.startswith(f"'second' not saved: the models folder {disk / 'models'} is on a disk that is nearly full")
    assert "free some space on it" in message
    assert state(store) == before  # checked before anything was written: no row, no cached file
    np.testing.assert_array_equal(first_layer(store, "first"), weights)

    filler.unlink()
    store.save(keras_files[1], record("second"))
    assert [m.name for m in store.list()] == ["first", "second"]
    assert not np.array_equal(first_layer(store, "second"), weights)


def test_a_drawing_saved_on_a_nearly_full_disk_is_refused_naming_the_database_and_earlier_ones_stay_readable(disk):
    drawings = Drawings()
    images = saved_drawings(drawings, 12)
    filler = fill(disk, leave=512 * KB)
    with pytest.raises(DatabaseError) as refused:
        drawings.add(np.full((28, 28), 255, np.uint8), 3, "ada", browser="ada-browser")
    assert str(refused.value).startswith(
        f"the class database {disk / 'data' / 'drawings.sqlite3'} is on a disk that is nearly full ("
    )
    assert_readable(drawings, images)  # while the disk is still full: the floor keeps reading possible

    filler.unlink()
    images += saved_drawings(drawings, 1)
    assert drawings.count() == 13


def test_a_disk_another_program_fills_after_the_check_gets_a_message_saying_it_is_full(disk, keras_files, monkeypatch):
    """The disk filled between the floor's check and the write: each place that stops a save says
    so in words (errno 28 and SQLite's "database or disk is full" and "disk I/O error" were shown
    as they came)."""
    store, drawings = ModelStore(disk / "models", bundled_dir=None), Drawings()
    store.save(keras_files[0], record("first"))
    images = saved_drawings(drawings, 5)
    before = state(store)
    database = re.escape(str(disk / "data" / "drawings.sqlite3"))
    for module in ("model_store.store", "model_store.database"):
        monkeypatch.setattr(f"{module}.short_of_space", lambda *_: None)  # the check as it passed a moment before

    filler = fill(disk, leave=100 * KB)  # the model's file does not fit in the cache
    cache = re.escape(str(disk / "models" / ".cache"))
    with pytest.raises(
        StoreError, match=rf"^the models folder's cache {cache} cannot be written: the disk it is on is full \(0\.\d MB free\)"
    ):
        store.save(keras_files[1], record("second"))
    assert state(store) == before  # the cache's half-written file removed
    filler.unlink()

    filler = fill(disk, leave=600 * KB)  # the cache's file fits, the database's copy does not
    with pytest.raises(DatabaseError, match=rf"^the class database {database} cannot be written: the disk it is on is full"):
        store.save(keras_files[1], record("second"))
    assert state(store)[:2] == before[:2]  # no row: the transaction is all or nothing
    filler.unlink()

    filler = fill(disk, leave=0)  # to the last byte: even reading fails, and says why
    full = rf"^the class database {database} cannot be read or written: the disk it is on is full \(0\.0 MB free\)"
    with pytest.raises(DatabaseError, match=full):
        drawings.add(np.full((28, 28), 255, np.uint8), 3, "ada")
    with pytest.raises(DatabaseError, match=full):
        drawings.arrays()
    filler.unlink()

    assert_readable(drawings, images)
    store.save(keras_files[1], record("second"))
    assert [m.name for m in store.list()] == ["first", "second"] and first_layer(store, "second").shape == (784, 128)


def test_a_new_run_and_an_import_on_a_nearly_full_disk_are_refused_before_anything_starts(disk):
    import io

    from model_store.database import DatabaseError
    from tests.people import STUDENT, TEACHER
    from training.config import TrainConfig
    from training.runs import list_runs, submit_run

    store = ModelStore(disk / "models", bundled_dir=None)
    drawings = Drawings()
    saved_drawings(drawings, 3)
    fill(disk, leave=512 * KB)
    with pytest.raises(DatabaseError, match="is on a disk that is nearly full"):
        submit_run(TrainConfig(name="hopeful", epochs=1), store, STUDENT)
    assert list_runs() == []  # refused before a record was written (and before Ray was asked)
    buffer = io.BytesIO()
    ones = np.zeros((5, 28, 28), np.uint8)
    ones[:, 6:22, 12:16] = 255  # a stroke each: a 1
    np.savez(buffer, x=ones, y=np.ones(5, np.uint8))
    with pytest.raises(DatabaseError, match="is on a disk that is nearly full"):
        drawings.import_npz(buffer.getvalue(), "ada", TEACHER)
    assert drawings.count() == 3
