"""Teaching a model the class's handwriting: fine-tune a stored model on the class drawings.

The drawings are split, per digit and with a fixed seed, into a teaching part and a held-back
part (80/20 by default). The teaching part is mixed with MNIST training images, so that the model
does not forget MNIST; the held-back part is never trained on and measures what the teaching did.
The new model's record keeps, under "teach": the base model, how many drawings taught it and how
many were held back, and its accuracy on the held-back drawings and on MNIST's test set before
and after. A teaching run is a training run like any other (`TrainConfig.teach` names the base),
queued from the Train page or run by `python -m training --teach BASE --name NEW`.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass

import numpy as np

from model_store import ModelStore, StoreError, load_mnist
from model_store.drawings import Drawings
from training.config import ConfigError, TrainConfig

MIN_DRAWINGS = 10  # fewer teach nothing that can be measured
SHARE = 0.25  # the drawings' share of each epoch: repeated up to this, never more than MAX_REPEAT times
MAX_REPEAT = 20


@dataclass
class Teaching:
    """What a teaching run needs besides its config; sent whole to the Ray worker, which has no
    access to the app's store or database."""

    base: str  # the base model's name
    model: bytes  # its .keras file
    normalization: str
    architecture: str
    mnist_before: float | None  # its MNIST test accuracy, from its record
    x: np.ndarray  # every class drawing, uint8 (n, 28, 28)
    y: np.ndarray  # their labels, uint8 (n,)

    def to_bytes(self) -> bytes:
        """As one .npz (kept in the run's folder, so a restart can queue the run again)."""
        meta = {k: getattr(self, k) for k in ("base", "normalization", "architecture", "mnist_before")}
        buffer = io.BytesIO()
        np.savez(buffer, x=self.x, y=self.y, model=np.frombuffer(self.model, np.uint8), meta=np.array(json.dumps(meta)))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Teaching:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            return cls(**json.loads(str(f["meta"])), model=f["model"].tobytes(), x=f["x"], y=f["y"])


def split(labels: np.ndarray, held_back: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(teaching indices, held-back indices): each digit split on its own, so both parts hold every
    digit in the same proportions; a digit drawn once is only taught."""
    rng = np.random.default_rng(seed)
    teach, held = [], []
    for digit in range(10):
        mine = rng.permutation(np.flatnonzero(labels == digit))
        cut = int(round(len(mine) * held_back)) if len(mine) > 1 else 0
        held.extend(mine[:cut])
        teach.extend(mine[cut:])
    return np.sort(np.array(teach, np.int64)), np.sort(np.array(held, np.int64))


def teaching_of(config: TrainConfig, store: ModelStore, drawings: Drawings | None = None) -> tuple[TrainConfig, Teaching]:
    """The base model and the class drawings for a teaching config, and the config made to fit the
    base (its input scaling; integer labels; no best-epoch choice, which would peek at the held-back
    drawings). Raises StoreError or ConfigError saying what is missing."""
    entry = store.get(config.teach)
    if entry.broken:
        raise StoreError(f"model {entry.name!r} is broken and cannot be taught: {entry.error}")
    _, x, y = (drawings or Drawings()).arrays()
    if len(y) < MIN_DRAWINGS:
        raise ConfigError(
            "teach", f"teaching needs at least {MIN_DRAWINGS} class drawings (there are {len(y)}): save some on the Draw page"
        )
    c = dataclasses.replace(
        config, normalization=entry.normalization, loss="sparse", label_smoothing=0.0, checkpoint_best=False, early_stopping=False
    )
    c.augment = c.augment and c.normalization == "scale"
    metrics = entry.record.get("metrics", {})
    teaching = Teaching(
        entry.name,
        entry.model_path.read_bytes(),
        entry.normalization,
        entry.record.get("architecture", "?"),
        metrics.get("test_accuracy"),
        x,
        y,
    )
    return c.resolved(), teaching


def teaching_data(c: TrainConfig, teaching: Teaching) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y) to train on, MNIST's first images and the teaching drawings repeated to about SHARE
    of the mix, and (x, y) held back; images as floats in [0, 1]."""
    teach, held = split(teaching.y, c.held_back, c.seed)
    (mnist_x, mnist_y), _ = load_mnist()
    mnist_x, mnist_y = mnist_x[: c.train_size], mnist_y[: c.train_size]
    repeat = int(np.clip(round(SHARE * len(mnist_y) / max(len(teach), 1)), 1, MAX_REPEAT))
    x = np.concatenate([mnist_x, np.repeat(teaching.x[teach], repeat, axis=0)])
    y = np.concatenate([mnist_y, np.repeat(teaching.y[teach], repeat, axis=0)])
    scale = np.float32(1 / 255)
    return x * scale, y, teaching.x[held] * scale, teaching.y[held]


def figures(teaching: Teaching, c: TrainConfig, held_before: np.ndarray, held_after: np.ndarray, mnist_after: float) -> dict:
    """The record's "teach" part; `held_before`/`after`: the base's and the new model's
    probabilities on the held-back drawings."""
    teach, held = split(teaching.y, c.held_back, c.seed)
    labels = teaching.y[held]

    def accuracy(p: np.ndarray) -> float | None:
        return round(float((p.argmax(axis=1) == labels).mean()), 6) if len(labels) else None

    return {
        "base": teaching.base,
        "drawings_taught": int(len(teach)),
        "drawings_held_back": int(len(held)),
        "mnist_images": int(c.train_size),
        "held_back_accuracy_before": accuracy(held_before),
        "held_back_accuracy_after": accuracy(held_after),
        "mnist_accuracy_before": teaching.mnist_before,
        "mnist_accuracy_after": round(mnist_after, 6),
    }
