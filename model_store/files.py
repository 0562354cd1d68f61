"""Where the class's own files live, and writing a file so that readers see the old version or the
new one, never half of either."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOOR_VARIABLE = "MNIST_LAB_FREE_MB"
FLOOR_MB = 50.0  # free space a save never goes below, unless $MNIST_LAB_FREE_MB says otherwise
FULL = (errno.ENOSPC, errno.EDQUOT)  # the errors of a disk (or a quota) with no room left


def data_root() -> Path:
    """The class's own files (its limits, its drawings): $MNIST_LAB_DATA, default `data/` beside
    app.py. Every app process of one class uses the same folder."""
    return Path(os.environ.get("MNIST_LAB_DATA") or PROJECT_ROOT / "data")


def runs_root() -> Path:
    """This machine's scratch for training ($MNIST_LAB_RUNS, default `runs/` beside app.py): the lock
    that says which app process runs its own Ray. The runs' records are in the class database."""
    return Path(os.environ.get("MNIST_LAB_RUNS") or PROJECT_ROOT / "runs")


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write(tmp)` for a temporary file beside `path`, flush it to disk, rename it over `path`.

    The temporary name starts with a dot, so no listing mistakes it for a finished file.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def free_floor() -> int:
    """The bytes a save leaves free on its disk: $MNIST_LAB_FREE_MB, default FLOOR_MB."""
    return int(float(os.environ.get(FLOOR_VARIABLE) or FLOOR_MB) * 2**20)


def free_bytes(path: Path) -> int:
    """The free space on the disk that holds `path` (or would: its nearest folder that exists)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def in_mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def short_of_space(path: Path, needed: int = 0) -> str | None:
    """Why `needed` bytes should not be written at `path` now, in words; None when they may.

    A disk filled to its last byte stops SQLite reading too (its shared-memory file cannot grow),
    so a save is refused while the disk still keeps the floor free, before anything is written.
    """
    free, floor = free_bytes(path), free_floor()
    if free - needed >= floor:
        return None
    return (
        f"is on a disk that is nearly full ({in_mb(free)} free; saves stop at {in_mb(floor)} so the class's "
        "work can still be read): free some space on it (old backups, runs or files), then try again"
    )
