"""Drawings that are not digits, to measure how well a model says "that is not a digit".

Two sets, made differently on purpose:

- tuning (`tuning_set`): letters in OpenCV's Hershey stroke fonts, five-pointed stars, smileys
  and scribbles, drawn as white strokes on the black canvas;
- held out (`held_out_set`): letters in TrueType fonts (DejaVu, Liberation: outlines, not
  strokes), hearts, spirals, arrows, hash signs, triangles and squares, some black on a
  transparent canvas. Nothing in it is used to choose a method or a threshold.

Letters a digit can be drawn as (O o D Q for 0; I l i j J for 1; Z z for 2; S s for 5; b G for 6;
B for 8; g q for 9) are left out of both: a class would call them digits too.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.checksets import available_fonts
from training.synthetic import HERSHEY_FONTS

SIZE = 280  # the Draw page's canvas
DIGIT_LIKE = "OoDQIlijJZzSsbGBgq"
LETTERS = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in DIGIT_LIKE]


def _canvas(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink (uint8, white on black, SIZE x SIZE) as the canvas sends it: white strokes on black,
    or, now and then, black strokes on a transparent canvas."""
    ink = cv2.GaussianBlur(ink, (3, 3), 0)
    if rng.random() < 0.75:
        return np.dstack([ink, ink, ink, np.full_like(ink, 255)])
    return np.dstack([np.zeros_like(ink)] * 3 + [ink])


def _brush(rng: np.random.Generator) -> int:
    return int(rng.integers(8, 30))


def _place(rng: np.random.Generator) -> tuple[float, float, float]:
    """A drawing's centre and half-size: off-centre, small or large, as students draw."""
    half = rng.uniform(45, 125)
    cx, cy = (rng.uniform(half + 5, SIZE - half - 5) for _ in range(2))
    return cx, cy, half


def _polyline(points: np.ndarray, rng: np.random.Generator, closed: bool = False, brush: int | None = None) -> np.ndarray:
    ink = np.zeros((SIZE, SIZE), np.uint8)
    wobble = points + rng.normal(0, 2.0, points.shape)
    cv2.polylines(ink, [wobble.astype(np.int32)], closed, 255, brush or _brush(rng), cv2.LINE_AA)
    return ink


# ---------------------------------------------------------------- the tuning set's kinds


def hershey_letter(rng: np.random.Generator) -> np.ndarray:
    letter = LETTERS[int(rng.integers(len(LETTERS)))]
    font = HERSHEY_FONTS[int(rng.integers(len(HERSHEY_FONTS)))]
    scale = rng.uniform(4, 8)
    thickness = _brush(rng) // 2 + 2
    (w, h), _ = cv2.getTextSize(letter, font, scale, thickness)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    x = int(rng.uniform(5, max(6, SIZE - w - 5)))
    y = int(rng.uniform(h + 5, max(h + 6, SIZE - 5)))
    cv2.putText(ink, letter, (x, y), font, scale, 255, thickness, cv2.LINE_AA)
    return ink


def star(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    turn = rng.uniform(0, 2 * math.pi)
    points = np.array(
        [[cx + r * math.cos(turn + k * 4 * math.pi / 5), cy + r * math.sin(turn + k * 4 * math.pi / 5)] for k in range(6)]
    )
    return _polyline(points, rng)


def smiley(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    brush = _brush(rng)
    cv2.circle(ink, (int(cx), int(cy)), int(r), 255, brush // 2 + 2, cv2.LINE_AA)
    for side in (-1, 1):
        cv2.circle(ink, (int(cx + side * r * 0.38), int(cy - r * 0.3)), max(3, brush // 2), 255, -1, cv2.LINE_AA)
    cv2.ellipse(ink, (int(cx), int(cy + r * 0.1)), (int(r * 0.5), int(r * 0.4)), 0, 20, 160, 255, brush // 2 + 2, cv2.LINE_AA)
    return ink


def scribble(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    steps = rng.normal(0, r * 0.35, (int(rng.integers(8, 20)), 2))
    points = np.clip(np.cumsum(steps, axis=0) * 0.6 + [cx, cy], 10, SIZE - 10)
    return _polyline(points, rng)


# ---------------------------------------------------------------- the held-out set's kinds


def truetype_letter(rng: np.random.Generator, fonts: list) -> np.ndarray:
    letter = LETTERS[int(rng.integers(len(LETTERS)))]
    font = ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), int(rng.uniform(90, 230)))
    page = Image.new("L", (SIZE, SIZE), 0)
    x0, y0, x1, y1 = ImageDraw.Draw(page).textbbox((0, 0), letter, font=font)
    left = rng.uniform(0.1, 0.9) * max(1, SIZE - (x1 - x0)) - x0
    top = rng.uniform(0.1, 0.9) * max(1, SIZE - (y1 - y0)) - y0
    ImageDraw.Draw(page).text((left, top), letter, fill=255, font=font)
    return np.asarray(page)


def heart(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    t = np.linspace(0, 2 * math.pi, 60)
    x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return _polyline(np.stack([cx + x * r / 17, cy + y * r / 17], axis=1), rng, closed=True)


def spiral(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    t = np.linspace(0, rng.uniform(3, 5) * math.pi, 80)
    radius = r * t / t[-1]
    return _polyline(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1), rng)


def arrow(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    turn = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(turn), math.sin(turn)
    tip, tail = np.array([cx + r * c, cy + r * s]), np.array([cx - r * c, cy - r * s])
    brush = int(rng.integers(6, 16))  # thinner than most: a thick arrow's head is a blob
    ink = _polyline(np.stack([tail, tip]), rng, brush=brush)
    for side in (-1, 1):
        back = turn + math.pi + side * 0.6
        wing = tip + 0.6 * r * np.array([math.cos(back), math.sin(back)])
        ink = np.maximum(ink, _polyline(np.stack([tip, wing]), rng, brush=brush))
    return ink


def hash_sign(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    for offset in (-0.35, 0.35):
        ink = np.maximum(ink, _polyline(np.array([[cx + offset * r, cy - r], [cx + offset * r, cy + r]]), rng))
        ink = np.maximum(ink, _polyline(np.array([[cx - r, cy + offset * r], [cx + r, cy + offset * r]]), rng))
    return ink


def polygon(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    corners = int(rng.choice([3, 4]))
    turn = rng.uniform(0, 2 * math.pi)
    points = np.array(
        [
            [cx + r * math.cos(turn + 2 * math.pi * k / corners), cy + r * math.sin(turn + 2 * math.pi * k / corners)]
            for k in range(corners)
        ]
    )
    return _polyline(points, rng, closed=True)


# ---------------------------------------------------------------- the sets


def tuning_set(n: int = 500, seed: int = 7) -> list[np.ndarray]:
    """n canvas images: Hershey letters, stars, smileys, scribbles (a quarter each)."""
    rng = np.random.default_rng(seed)
    kinds = [hershey_letter, star, smiley, scribble]
    return [_canvas(kinds[i % len(kinds)](rng), rng) for i in range(n)]


def held_out_set(n: int = 500, seed: int = 11) -> list[np.ndarray]:
    """n canvas images of other kinds: TrueType letters (a third), hearts, spirals, arrows, hash
    signs, triangles and squares."""
    rng = np.random.default_rng(seed)
    fonts = available_fonts()
    shapes = [heart, spiral, arrow, hash_sign, polygon]
    images = []
    for i in range(n):
        ink = truetype_letter(rng, fonts) if i % 3 == 0 else shapes[i % len(shapes)](rng)
        images.append(_canvas(ink, rng))
    return images
