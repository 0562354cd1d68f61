"""Teaching the default model a numeral system it has never seen (printed, never asserted).

    python -m benchmarks.teach [--per-digit 20] [--seeds 3] [--write FILE.npz]

A class writes the Chinese numerals 〇 一 二 三 四 五 六 七 八 九 for 0-9 on the canvas, each person
in their own hand: the strokes of each numeral, wobbled, slanted, sheared, large or small, with a
thin or thick brush. The default model reads most of them as something else (一 as 2, 八 as 1).
For each seed: that many drawings a digit go into a fresh class database, `lab-default` is taught
them with the Train page's "teach" recipe (a queued run does the same), and the held-back
drawings' and MNIST's test accuracy before and after are printed, then the medians and one JSON
line. `--write` saves one seed's drawings as an .npz that `python -m model_store drawings import`
takes, to try teaching in the app.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from model_store import ModelStore
from model_store.drawings import Drawings
from model_store.roles import TERMINAL
from training.config import PRESETS
from training.engine import train
from training.teach import teaching_of

# Each numeral's pen strokes in a unit box (x right, y down), in the order they are written.
STROKES = {
    0: [[(0.5 + 0.42 * np.cos(t), 0.5 + 0.45 * np.sin(t)) for t in np.linspace(-2.0, 4.4, 28)]],
    1: [[(0.05, 0.52), (0.95, 0.47)]],
    2: [[(0.22, 0.3), (0.78, 0.27)], [(0.05, 0.75), (0.95, 0.72)]],
    3: [[(0.18, 0.18), (0.82, 0.16)], [(0.28, 0.5), (0.72, 0.48)], [(0.05, 0.85), (0.95, 0.82)]],
    4: [
        [(0.1, 0.2), (0.1, 0.9)],
        [(0.1, 0.2), (0.9, 0.2), (0.9, 0.9)],
        [(0.1, 0.88), (0.9, 0.88)],
        [(0.4, 0.2), (0.37, 0.55), (0.25, 0.68)],
        [(0.6, 0.2), (0.6, 0.6), (0.78, 0.62)],
    ],
    5: [
        [(0.15, 0.12), (0.85, 0.12)],
        [(0.47, 0.12), (0.35, 0.85)],
        [(0.2, 0.45), (0.75, 0.45), (0.7, 0.85)],
        [(0.05, 0.86), (0.95, 0.86)],
    ],
    6: [[(0.48, 0.04), (0.55, 0.16)], [(0.08, 0.35), (0.92, 0.35)], [(0.38, 0.55), (0.15, 0.92)], [(0.62, 0.55), (0.86, 0.9)]],
    7: [[(0.05, 0.45), (0.95, 0.33)], [(0.38, 0.05), (0.38, 0.78), (0.5, 0.9), (0.9, 0.9), (0.92, 0.75)]],
    8: [[(0.42, 0.12), (0.34, 0.55), (0.08, 0.9)], [(0.6, 0.2), (0.7, 0.6), (0.95, 0.9)]],
    9: [
        [(0.42, 0.05), (0.4, 0.5), (0.08, 0.92)],
        [(0.1, 0.33), (0.7, 0.33), (0.7, 0.84), (0.8, 0.9), (0.95, 0.9), (0.95, 0.74)],
    ],
}
CANVAS = 280  # the Draw page's canvas, white strokes on black


def write_numeral(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One person's numeral for `digit` on a blank canvas."""
    w = rng.uniform(110, 240)
    h = w * rng.uniform(0.8, 1.1)
    turn, shear = np.deg2rad(rng.uniform(-10, 10)), rng.uniform(-0.2, 0.2)
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    left, top = rng.uniform(20, CANVAS - 20 - w), rng.uniform(20, max(21, CANVAS - 20 - h))
    brush = max(4, int(h * rng.uniform(0.05, 0.1)))
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    for stroke in STROKES[digit]:
        p = np.array(stroke) + rng.normal(0, 0.025, (len(stroke), 2)) - 0.5  # a hand's wobble
        p[:, 0] += shear * p[:, 1]
        p = p @ rotate.T + 0.5
        points = np.column_stack([left + p[:, 0] * w, top + p[:, 1] * h]).round().astype(np.int32)
        cv2.polylines(canvas, [points], False, 255, brush, cv2.LINE_AA)
    return canvas


def class_numerals(per_digit: int, seed: int) -> bytes:
    """A class's drawings as an .npz (x: the canvases, y: the digits), shuffled."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), per_digit))
    x = np.stack([write_numeral(int(d), rng) for d in y])
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def teach_once(per_digit: int, seed: int, store: ModelStore, folder: Path) -> dict:
    db = Drawings(folder / f"class-{seed}.sqlite3")
    db.import_npz(class_numerals(per_digit, seed), "class", TERMINAL)
    config = dataclasses.replace(PRESETS["teach"], name=f"numerals-{seed}")
    config, teaching = teaching_of(config, store, db)
    started = time.perf_counter()
    record = train(config, store, teaching=teaching).entry.record
    return {**record["teach"], "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-digit", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--write", type=Path, help="save the first seed's drawings as this .npz, and teach nothing")
    args = parser.parse_args()
    if args.write:
        args.write.write_bytes(class_numerals(args.per_digit, 0))
        print(f"{args.per_digit * 10} numerals written to {args.write}")
        return
    c = PRESETS["teach"]
    print(
        f"Teaching lab-default {args.per_digit} numerals a digit: every layer trains, {c.optimizer} at {c.learning_rate}, "
        f"batch {c.batch_size}, {c.epochs} epochs of {c.train_limit:,} MNIST images and the taught drawings repeated "
        f"to about a quarter of each epoch; 20% of each digit held back."
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "models")  # the bundled lab-default is in every store
        runs = [teach_once(args.per_digit, seed, store, Path(tmp)) for seed in range(args.seeds)]
    for seed, r in enumerate(runs):
        print(
            f"seed {seed}: {r['drawings_taught']} taught, {r['drawings_held_back']} held back; held-back "
            f"{r['held_back_accuracy_before']:.2%} -> {r['held_back_accuracy_after']:.2%}; MNIST test "
            f"{r['mnist_accuracy_before']:.2%} -> {r['mnist_accuracy_after']:.2%}; {r['seconds']} s"
        )

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 6)

    keys = ("held_back_accuracy_before", "held_back_accuracy_after", "mnist_accuracy_before", "mnist_accuracy_after", "seconds")
    print(json.dumps({"per_digit": args.per_digit, "seeds": args.seeds, **{k: median(k) for k in keys}}))


if __name__ == "__main__":
    main()
