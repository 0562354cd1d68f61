"""Synthetic digits for training, beside MNIST's: printed, and redrawn as people hand them over.

MNIST holds only handwriting; people also photograph printed digits (a 1 with a serif, a 4
with a closed top). These are drawn with OpenCV's built-in Hershey fonts, so the recipe needs
nothing from the system; the printed-digit check set uses different (TrueType) fonts, so it
stays held out.

People also draw on the canvas with a brush, and hand over small, blurred scans. Redrawn digits
are MNIST *training* digits put through the check sets' canvas pen (slanted and wobbling, as in
the strokes check set) and scanner, then prepared as the app prepares any image; the check sets
redraw MNIST *test* digits, which training never sees.
"""

from __future__ import annotations

import cv2
import numpy as np

from model_store import load_mnist
from model_store.preprocess import prepare
from training.render import HERSHEY_FONTS, draw_on_canvas, scan


def _render(digit: int, rng: np.random.Generator) -> np.ndarray:
    font = int(rng.choice(HERSHEY_FONTS)) | (cv2.FONT_ITALIC if rng.random() < 0.25 else 0)
    scale = 3.0
    thickness = int(rng.integers(2, 13))
    (w, h), _ = cv2.getTextSize(str(digit), font, scale, thickness)
    canvas = np.zeros((h * 2 + 40, w + 40), np.uint8)
    cv2.putText(canvas, str(digit), (20, h + 20), font, scale, 255, thickness, cv2.LINE_AA)
    angle = rng.uniform(-8, 8)
    rows, cols = canvas.shape
    turn = cv2.getRotationMatrix2D((cols / 2, rows / 2), angle, 1.0)
    return cv2.warpAffine(canvas, turn, (cols, rows))


def printed_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` printed digits in MNIST form (uint8, (n, 28, 28)), labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for i, digit in enumerate(labels):
        prepared = None
        while prepared is None:  # too thick a stroke on a small face fills the digit in: redraw
            prepared = prepare(_render(int(digit), rng)).image
        images[i] = np.round(prepared * 255).astype(np.uint8)
    return images, labels


def redrawn_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` MNIST training digits in MNIST form, each redrawn first: alternately as canvas strokes
    (any brush, anywhere, tiny to huge, slanted up to ~17 degrees, wobbling) and as a scan."""
    (x, y), _ = load_mnist()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(x), n, replace=n > len(x))
    images = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(picks):
        if i % 2:
            drawn = scan(x[k], rng)
        else:
            drawn = draw_on_canvas(x[k], rng, slant=rng.uniform(-0.3, 0.3), wobble=rng.uniform(0, 3))
        prepared = prepare(drawn).image
        if prepared is not None:  # a scan too faint to read stays a blank row: dropped below
            images[i] = np.round(prepared * 255).astype(np.uint8)
    kept = images.reshape(n, -1).any(axis=1)
    return images[kept], y[picks][kept]
