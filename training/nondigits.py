"""Drawings that are not digits, to measure how well a model says "that is not a digit".

Two sets, made differently on purpose:

- training (`training_set`, what the "not a digit" class learns from): letters, short words and
  symbols in OpenCV's Hershey stroke fonts, five-pointed stars, smileys, scribbles, smooth
  curves, waves and zigzags, suns, flowers, clouds, targets, stick figures, leaves, crescent
  moons, fish and coils, drawn as strokes (no plain closed outline: a lumpy ring is a 0);
- held out (`held_out_set`): letters in TrueType fonts (DejaVu, Liberation: outlines, not
  strokes), hearts, spirals, arrows, hash signs, triangles and squares. Nothing in it is
  trained on or used to choose a method or a threshold.

Both come as the canvas sends them: mostly white on black, now and then black on a transparent
canvas.

Letters a digit can be drawn as (O o D Q for 0; I l i j J for 1; Z z for 2; S s for 5; b G for 6;
B for 8; g q for 9) are left out of both: a class would call them digits too.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.render import HERSHEY_FONTS, available_fonts

SIZE = 280  # the Draw page's canvas
HELD_OUT_NON_DIGITS = 1000  # the held-out non-digits a model's record measures it on (`training.engine.measure`)
DIGIT_LIKE = "OoDQIlijJZzSsbGBgq"
LETTERS = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in DIGIT_LIKE]
SYMBOLS = "@&%*+=~{}^?"  # not "#": hash signs are in the held-out set


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


# ---------------------------------------------------------------- the training set's kinds


def _hershey(text: str, rng: np.random.Generator, scale: float) -> np.ndarray:
    font = HERSHEY_FONTS[int(rng.integers(len(HERSHEY_FONTS)))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    thickness = _brush(rng) // 2 + 2
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    x = int(rng.uniform(5, max(6, SIZE - w - 5)))
    y = int(rng.uniform(h + 5, max(h + 6, SIZE - 5)))
    cv2.putText(ink, text, (x, y), font, scale, 255, thickness, cv2.LINE_AA)
    return ink


def hershey_letter(rng: np.random.Generator) -> np.ndarray:
    return _hershey(LETTERS[int(rng.integers(len(LETTERS)))], rng, rng.uniform(4, 8))


def hershey_word(rng: np.random.Generator) -> np.ndarray:
    """Two or three letters: a student writing their initials."""
    word = "".join(LETTERS[int(i)] for i in rng.integers(len(LETTERS), size=int(rng.integers(2, 4))))
    return _hershey(word, rng, rng.uniform(2.5, 4.5))


def hershey_symbol(rng: np.random.Generator) -> np.ndarray:
    return _hershey(SYMBOLS[int(rng.integers(len(SYMBOLS)))], rng, rng.uniform(4, 8))


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


def curve(rng: np.random.Generator) -> np.ndarray:
    """A smooth stroke through a few random points (a scribble without corners)."""
    cx, cy, r = _place(rng)
    knots = rng.uniform(-r, r, (int(rng.integers(4, 8)), 2)) + [cx, cy]
    t = np.linspace(0, 1, len(knots))
    fine = np.linspace(0, 1, 80)
    points = np.stack([np.interp(fine, t, knots[:, 0]), np.interp(fine, t, knots[:, 1])], axis=1)
    points = cv2.GaussianBlur(points[None].astype(np.float32), (1, 21), 0)[0]  # round off the corners
    return _polyline(points, rng)


def wave(rng: np.random.Generator) -> np.ndarray:
    """A sine wave or a zigzag, any way round."""
    cx, cy, r = _place(rng)
    x = np.linspace(-r, r, 60 if rng.random() < 0.5 else int(rng.integers(4, 9)))
    y = r * rng.uniform(0.15, 0.5) * np.sin(x / r * math.pi * rng.uniform(1.5, 4))
    turn = rng.uniform(0, math.pi)
    c, s = math.cos(turn), math.sin(turn)
    return _polyline(np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1), rng)


def sun(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    brush = _brush(rng) // 2 + 2
    cv2.circle(ink, (int(cx), int(cy)), int(r * 0.45), 255, brush, cv2.LINE_AA)
    rays = int(rng.integers(6, 12))
    for k in range(rays):
        a = 2 * math.pi * k / rays + rng.normal(0, 0.1)
        start = (int(cx + 0.6 * r * math.cos(a)), int(cy + 0.6 * r * math.sin(a)))
        cv2.line(ink, start, (int(cx + r * math.cos(a)), int(cy + r * math.sin(a))), 255, brush, cv2.LINE_AA)
    return ink


def flower(rng: np.random.Generator) -> np.ndarray:
    """Petals: a rose curve r = cos(k t), with a few or many of them."""
    cx, cy, r = _place(rng)
    k = int(rng.integers(3, 8))
    t = np.linspace(0, 2 * math.pi, 200)
    radius = r * (0.3 + 0.7 * np.abs(np.cos(k * t / 2)))
    return _polyline(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1), rng, closed=True)


def cloud(rng: np.random.Generator) -> np.ndarray:
    """A bumpy closed outline."""
    cx, cy, r = _place(rng)
    t = np.linspace(0, 2 * math.pi, 200)
    bumps = int(rng.integers(5, 10))
    radius = r * (0.75 + 0.25 * np.abs(np.sin(bumps * t / 2)))
    squash = rng.uniform(0.5, 0.8)
    return _polyline(np.stack([cx + radius * np.cos(t), cy + squash * radius * np.sin(t)], axis=1), rng, closed=True)


def target(rng: np.random.Generator) -> np.ndarray:
    """Two or three rings round a dot."""
    cx, cy, r = _place(rng)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    brush = _brush(rng) // 3 + 2
    rings = int(rng.integers(2, 4))
    for i in range(rings):
        cv2.circle(ink, (int(cx), int(cy)), int(r * (i + 1) / rings), 255, brush, cv2.LINE_AA)
    cv2.circle(ink, (int(cx), int(cy)), brush + 2, 255, -1, cv2.LINE_AA)
    return ink


def stick_figure(rng: np.random.Generator) -> np.ndarray:
    cx, cy, r = _place(rng)
    ink = np.zeros((SIZE, SIZE), np.uint8)
    brush = _brush(rng) // 2 + 2
    head = int(r * 0.25)
    cv2.circle(ink, (int(cx), int(cy - r + head)), head, 255, brush, cv2.LINE_AA)
    neck, hip = (cx, cy - r + 2 * head), (cx, cy + r * 0.3)
    arms = rng.uniform(-0.4, 0.4)
    strokes = [
        (neck, hip),
        ((cx - r * 0.6, cy - r * 0.2 + arms * r), (cx + r * 0.6, cy - r * 0.2 - arms * r)),
        (hip, (cx - r * 0.5, cy + r)),
        (hip, (cx + r * 0.5, cy + r)),
    ]
    for a, b in strokes:
        cv2.line(ink, tuple(map(int, a)), tuple(map(int, b)), 255, brush, cv2.LINE_AA)
    return ink


def _outline(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A closed outline of unit size (x, y in about -1..1), placed, turned and stroked."""
    cx, cy, r = _place(rng)
    turn = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(turn), math.sin(turn)
    return _polyline(np.stack([cx + r * (c * x - s * y), cy + r * (s * x + c * y)], axis=1), rng, closed=True)


def leaf(rng: np.random.Generator) -> np.ndarray:
    """A lens pointed at both ends, sometimes with its stem."""
    t = np.linspace(0, 2 * math.pi, 100)
    x, y = np.cos(t), rng.uniform(0.3, 0.6) * np.sin(t) * np.abs(np.sin(t)) ** 0.3
    if rng.random() < 0.5:
        x, y = np.concatenate([x, [1.0, 1.4]]), np.concatenate([y, [0.0, 0.1]])
    return _outline(x, y, rng)


def moon(rng: np.random.Generator) -> np.ndarray:
    """A crescent: two arcs meeting at the horns."""
    t = np.linspace(-0.8 * math.pi, 0.8 * math.pi, 60)
    inner = rng.uniform(0.3, 0.7)
    x = np.concatenate([np.cos(t), inner * np.cos(t[::-1]) + (1 - inner) * math.cos(0.8 * math.pi)])
    y = np.concatenate([np.sin(t), np.sin(t[::-1])])
    return _outline(x, y, rng)


def fish(rng: np.random.Generator) -> np.ndarray:
    """An oval body whose outline runs on into a tail."""
    t = np.linspace(0.25 * math.pi, 1.75 * math.pi, 80)
    x, y = 0.6 * np.cos(t) - 0.2, 0.4 * np.sin(t)
    tail = np.array([[0.9, -0.35], [0.9, 0.35]])
    return _outline(np.concatenate([x, tail[:, 0]]), np.concatenate([y, tail[:, 1]]), rng)


def coil(rng: np.random.Generator) -> np.ndarray:
    """A spring: loop after loop along a line, as a pen doodles while thinking."""
    cx, cy, r = _place(rng)
    loops = rng.uniform(2.5, 5)
    t = np.linspace(0, 2 * math.pi * loops, 200)
    x = -r + 2 * r * t / t[-1] + 0.3 * r * np.cos(t)
    y = 0.4 * r * np.sin(t)
    return _polyline(np.stack([cx + x, cy + y], axis=1), rng)


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


TRAINING_KINDS = (
    [hershey_letter] * 4
    + [hershey_word, hershey_symbol, hershey_symbol, star, smiley, scribble, scribble, curve, curve, wave]
    + [sun, flower, cloud, target, stick_figure, leaf, moon, fish, coil]
)


def training_set(n: int = 500, seed: int = 7) -> list[np.ndarray]:
    """n canvas images of the training kinds: a fifth letters, the rest the other kinds in turn."""
    rng = np.random.default_rng(seed)
    return [_canvas(TRAINING_KINDS[i % len(TRAINING_KINDS)](rng), rng) for i in range(n)]


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
