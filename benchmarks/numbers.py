"""How well written numbers are read: 2-5 MNIST *test* digits written side by side.

    python -m benchmarks.numbers [--n 1000] [--seed 38] [--model NAME]

Each number is one person's: one pen (the digits redrawn as strokes, as on the canvas) or the
MNIST images themselves scaled, on a canvas (light ink on black) or on paper (dark on white).
Its digits vary in height (0.8-1.15x) and baseline (+-12%), with gaps from none to wide, and a
quarter of the pairs pushed together until their ink touches. Prints a table and a JSON line:
the share of numbers read exactly, per-digit accuracy, and the same digits read one at a time.
"""

from __future__ import annotations

import argparse
import difflib
import json
import time

import cv2
import numpy as np

from model_store import ModelStore, Predictor, load_mnist, prepare
from model_store.numbers import read_number
from training.render import pen_strokes

TOUCHING = 0.25  # the share of neighbouring digits pushed together until they touch


def glyph(digit28: np.ndarray, height: int, brush: int | None, rng: np.random.Generator) -> np.ndarray:
    """One MNIST digit as ink (float32 in [0, 1]) cropped to itself, about `height` px tall:
    redrawn by a pen of `brush` px, or (None) the MNIST image scaled."""
    if brush:
        ink = pen_strokes(digit28, int(height * 1.4), brush, rng).astype(np.float32)  # MNIST's 20 of 28 px
    else:
        ink = digit28.astype(np.float32) / 255
    x, y, w, h = cv2.boundingRect((ink > 0.3).astype(np.uint8))
    ink = ink[y : y + h, x : x + w]
    scale = height / h
    return np.clip(cv2.resize(ink, (max(1, round(w * scale)), height), interpolation=cv2.INTER_LINEAR), 0, 1)


def _touching_left(canvas: np.ndarray, ink: np.ndarray, top: int, left: int) -> int:
    """How far left of `left` the ink can go until it touches what is on the canvas already."""
    h, w = ink.shape
    there = cv2.dilate((canvas > 0.3).astype(np.uint8), np.ones((3, 3), np.uint8))
    mine = ink > 0.3
    for x in range(left, max(0, left - w), -1):
        if (there[top : top + h, x : x + w] & mine).any():
            return x
    return left


def write_number(digits: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list[tuple]]:
    """The digits (28x28 uint8) written side by side as one person writes a number: gray uint8,
    and each digit's box (x, y, w, h), whether it was pushed to touch the one before, and its ink."""
    height = int(rng.integers(60, 140))
    brush = int(height * rng.uniform(0.06, 0.18)) if rng.random() < 0.6 else None
    glyphs = [glyph(d, int(height * rng.uniform(0.8, 1.15)), brush, rng) for d in digits]
    margin = height // 2
    canvas = np.zeros((2 * height + 2 * margin, sum(g.shape[1] for g in glyphs) + height * len(glyphs) + 2 * margin), np.float32)
    x, boxes = margin, []
    for i, ink in enumerate(glyphs):
        h, w = ink.shape
        top = margin + int(height * (1.1 + rng.uniform(-0.12, 0.12))) - h  # the baseline wanders
        touching = bool(i) and rng.random() < TOUCHING
        if touching:
            x = _touching_left(canvas, ink, top, x)
        boxes.append((x, top, w, h, touching, ink))
        canvas[top : top + h, x : x + w] = np.maximum(canvas[top : top + h, x : x + w], ink)
        x += w + int(height * rng.uniform(0.0, 0.6))  # no gap to a wide one
    canvas = (canvas[:, : x + margin] * 255).astype(np.uint8)
    return (canvas if rng.random() < 0.5 else 255 - canvas), boxes


def make_numbers(n: int, seed: int = 38) -> list[tuple[np.ndarray, str, list[int], list[tuple]]]:
    """n written numbers of 2-5 digits: (image, the number, its digits' MNIST test indices, their
    boxes as `write_number` gives them)."""
    rng = np.random.default_rng(seed)
    _, (x_test, y_test) = load_mnist()
    numbers = []
    for _ in range(n):
        picks = rng.choice(len(x_test), int(rng.integers(2, 6)), replace=False)
        image, boxes = write_number([x_test[i] for i in picks], rng)
        numbers.append((image, "".join(str(y_test[i]) for i in picks), [int(i) for i in picks], boxes))
    return numbers


def digits_right(read: str | None, truth: str) -> int:
    """How many of the number's digits were read, in order (a part missed or split in two costs
    only the digits it touched)."""
    matcher = difflib.SequenceMatcher(None, read or "", truth, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def measure(predictor: Predictor, unsure_below: float, numbers) -> dict:
    """The share read exactly, per-digit accuracy, and the parts counted right."""
    exact = right = total = counted = 0
    for image, truth, *_ in numbers:
        reading = read_number(predictor, image, unsure_below)
        read = "".join(str(d.reading.digit) if d.verdict in ("digit", "unsure") else "?" for d in reading.digits)
        exact += reading.number == truth
        counted += len(reading.digits) == len(truth)
        right += digits_right(read, truth)
        total += len(truth)
    n = len(numbers)
    return {"numbers": n, "digits": total, "exact": exact / n, "per_digit": right / total, "parts_counted_right": counted / n}


def alone_accuracy(predictor: Predictor, numbers) -> tuple[float, float]:
    """The same digits read one at a time: as MNIST has them, and as written (each cut from its
    number by its known box, its neighbours' ink left out): what reading alone reaches."""
    _, (x_test, y_test) = load_mnist()
    indices = [i for _, _, picks, _ in numbers for i in picks]
    as_mnist = predictor.predict_prepared([prepare(x_test[i]) for i in indices])
    as_written = predictor.predict_prepared([prepare(field) for _, _, _, boxes in numbers for field in _glyphs(boxes)])
    truth = y_test[indices]
    return float(np.mean([r.digit == d for r, d in zip(as_mnist, truth)])), float(
        np.mean([r.digit == d for r, d in zip(as_written, truth)])
    )


def _glyphs(boxes: list[tuple]) -> list[np.ndarray]:
    """Each digit of a written number by itself, in a square field as the reading gives it."""
    side = int(1.4 * max(b[3] for b in boxes))
    out = []
    for *_, ink in boxes:
        h, w = ink.shape
        field = np.zeros((max(side, h), max(side, w)), np.float32)
        top, left = (field.shape[0] - h) // 2, (field.shape[1] - w) // 2
        field[top : top + h, left : left + w] = ink
        out.append(field)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.numbers", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="how many numbers (default 1000)")
    parser.add_argument("--seed", type=int, default=38)
    parser.add_argument("--model", help="a stored model's name (default: the default model)")
    args = parser.parse_args(argv)
    model, entry = ModelStore().load(args.model)
    predictor = Predictor(model, entry.normalization, entry.temperature)
    numbers = make_numbers(args.n, args.seed)
    start = time.perf_counter()
    figures = measure(predictor, entry.unsure_below, numbers)
    as_mnist, as_written = alone_accuracy(predictor, numbers)
    figures |= {"model": entry.name, "digits_alone_mnist": as_mnist, "digits_alone_written": as_written}
    figures["ms_per_number"] = (time.perf_counter() - start) * 1000 / args.n
    print(f"{entry.name}: {figures['numbers']:,} written numbers, {figures['digits']:,} digits")
    print(f"  numbers read exactly         {figures['exact']:.2%}  (goal: at least 97%)")
    print(f"  digits read right            {figures['per_digit']:.2%}")
    print(f"  parts counted right          {figures['parts_counted_right']:.2%}")
    print(f"  the same digits read alone   {as_written:.2%} as written, {as_mnist:.2%} as MNIST has them")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
