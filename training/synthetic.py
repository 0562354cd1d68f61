"""Synthetic printed digits for training, drawn with OpenCV's built-in Hershey fonts.

MNIST holds only handwriting; people also photograph printed digits (a 1 with a serif, a 4
with a closed top). These fonts ship inside OpenCV, so the recipe needs nothing from the
system. The printed-digit check set uses different (TrueType) fonts, so it stays held out.
"""

from __future__ import annotations

import cv2
import numpy as np

from model_store.preprocess import prepare

HERSHEY_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)


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
