"""Where the class's own files live, and writing a file so that readers see the old version or the
new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The class's own files (its limits, its drawings): $MNIST_LAB_DATA, default `data/` beside
    app.py. Every app process of one class uses the same folder."""
    return Path(os.environ.get("MNIST_LAB_DATA") or PROJECT_ROOT / "data")


def runs_root() -> Path:
    """The training runs' records (`training.runs`): $MNIST_LAB_RUNS, default `runs/` beside app.py."""
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
