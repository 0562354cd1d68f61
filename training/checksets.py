"""Check sets: digits as people really make them, to measure the default model beyond MNIST.

Four kinds, each generated (never taken from the MNIST training images the models learn from):

- canvas: MNIST *test* digits redrawn as strokes on a 280x280 canvas, off-centre, small or
  large, with a thin or thick brush (white on black, or black on a transparent canvas);
- printed: digits in common TrueType fonts (DejaVu, Liberation: none of them used in training,
  which sees only OpenCV's Hershey fonts) photographed on paper: uneven light, tilt, blur,
  noise and JPEG compression;
- scans: MNIST *test* digits as dark ink on grey paper, scanned at low resolution (8-16 px
  tall), blurred, noisy, sometimes binarised;
- strokes: other MNIST *test* digits drawn as the canvas ones, by an unsteady hand: slanted up to
  ~17 degrees either way and wobbling.

    python -m training.checksets [--model NAME] [--n 1000]

prints each set's accuracy with the preparation pipeline beside a naive plain resize, the share
called "not a digit", and the accuracy on the same MNIST test digits before they were redrawn.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from model_store import ModelStore, Prediction, Predictor, load_mnist, prepare
from model_store.evaluation import share_called_not_a_digit, share_turned_away
from model_store.preprocess import naive_prepare
from training.nondigits import held_out_set
from training.render import available_fonts, draw_on_canvas, print_digit, scan


@dataclass
class CheckSet:
    name: str
    images: list[np.ndarray]  # as a person hands them over: canvas RGBA, photo RGB, scan gray
    labels: np.ndarray
    undrawn: np.ndarray | None = None  # the MNIST test digits before they were redrawn (none for printed)


# ---------------------------------------------------------------- the four sets


def make_checksets(n: int = 1000, seed: int = 2024) -> list[CheckSet]:
    """n images each of canvas drawings, printed photos, low-resolution scans and unsteady strokes."""
    rng = np.random.default_rng(seed)
    _, (x_test, y_test) = load_mnist()
    picks = rng.choice(len(x_test), 2 * n, replace=False)
    canvas_idx, scan_idx = picks[:n], picks[n:]
    fonts = available_fonts()
    printed_labels = np.arange(n) % 10
    return [
        CheckSet("canvas", [draw_on_canvas(x_test[i], rng) for i in canvas_idx], y_test[canvas_idx], x_test[canvas_idx]),
        CheckSet(
            "printed", [print_digit(int(d), fonts[i % len(fonts)], rng) for i, d in enumerate(printed_labels)], printed_labels
        ),
        CheckSet("scans", [scan(x_test[i], rng) for i in scan_idx], y_test[scan_idx], x_test[scan_idx]),
        _strokes(n, seed, x_test, y_test),
    ]


def _strokes(n: int, seed: int, x_test: np.ndarray, y_test: np.ndarray) -> CheckSet:
    """MNIST test digits drawn by an unsteady, slanting hand (its own random stream: the other
    three sets stay as they were before this one was added)."""
    rng = np.random.default_rng([seed, 4])
    picks = rng.choice(len(x_test), n, replace=False)
    drawn = [draw_on_canvas(x_test[i], rng, slant=rng.uniform(-0.3, 0.3), wobble=rng.uniform(0, 3)) for i in picks]
    return CheckSet("strokes", drawn, y_test[picks], x_test[picks])


def read(predictor: Predictor, check: CheckSet) -> list[Prediction]:
    """Each image prepared by the pipeline and read once, as the pages read it."""
    return predictor.predict_prepared([prepare(img) for img in check.images])


def read_right(check: CheckSet, readings: list[Prediction]) -> np.ndarray:
    """Whether each image is read right; an image the pipeline calls blank counts as wrong."""
    return np.array([r.digit == label for r, label in zip(readings, check.labels)])


def naive_accuracy(predictor: Predictor, check: CheckSet) -> float:
    """Share read right after a plain resize instead of the pipeline (`naive_prepare`)."""
    probs = predictor.probabilities(np.stack([naive_prepare(img) for img in check.images]))
    return float((probs.argmax(1) == check.labels).mean())


def is_one_bit(image: np.ndarray) -> bool:
    """Black and white only, as 3 in 10 scans are: their thresholding can erase a thin stroke."""
    return len(np.unique(image)) <= 2


def undrawn_accuracy(predictor: Predictor, check: CheckSet) -> float:
    """Share of the same MNIST test digits read right before they were redrawn: what redrawing
    costs is the gap to what `read_right` finds, and a set cannot be expected to do much better."""
    probs = predictor.probabilities(check.undrawn.astype(np.float32) / 255)
    return float((probs.argmax(1) == check.labels).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.checksets", description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a stored model's name (default: the default model)")
    parser.add_argument("--n", type=int, default=1000, help="images per set")
    parser.add_argument("--save", type=Path, help="write a sample sheet of each set to this folder")
    args = parser.parse_args(argv)
    model, entry = ModelStore().load(args.model)
    predictor = Predictor(model, entry.normalization, entry.temperature)  # as the pages read: "not a digit" as they say it
    print(f"model {entry.name}")
    print(f"{'set':10} {'pipeline':>9} {'naive':>9} {'not a digit':>12} {'undrawn':>9}")
    for check in make_checksets(args.n):
        readings = read(predictor, check)
        right = read_right(check, readings)
        turned = f"{share_turned_away(readings):.2%}" if predictor.knows_non_digits else "-"
        undrawn = "-" if check.undrawn is None else f"{undrawn_accuracy(predictor, check):.2%}"
        print(f"{check.name:10} {right.mean():9.2%} {naive_accuracy(predictor, check):9.2%} {turned:>12} {undrawn:>9}")
        if check.name == "scans":
            one_bit = np.array([is_one_bit(img) for img in check.images])
            print(
                f"  gray {right[~one_bit].mean():.2%} of {(~one_bit).sum()}, 1-bit {right[one_bit].mean():.2%} of {one_bit.sum()}"
            )
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            sample = [cv2.resize(_as_rgb(img), (96, 96)) for img in check.images[:32]]
            sheet = np.vstack([np.hstack(sample[r * 8 : r * 8 + 8]) for r in range(4)])
            Image.fromarray(sheet).save(args.save / f"{check.name}.png")
    if predictor.knows_non_digits:
        print(f"held-out non-digits called not a digit: {share_called_not_a_digit(predictor, held_out_set(args.n)):.2%}")
    return 0


def _as_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.dstack([img] * 3)
    if img.shape[2] == 4:  # show transparent as grey
        alpha = img[..., 3:] / 255
        return (img[..., :3] * alpha + 128 * (1 - alpha)).astype(np.uint8)
    return img


if __name__ == "__main__":
    raise SystemExit(main())
