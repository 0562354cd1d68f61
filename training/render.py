"""Drawing digits and shapes as people hand them over: a pen on the canvas, print photographed
on paper, a low-resolution scan. The primitives the check sets (`training.checksets`), the
training extras (`training.synthetic`) and the non-digits (`training.nondigits`) are drawn with;
nothing else of `training` is imported here.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# OpenCV's own stroke fonts: training's printed digits and letters (the check sets' are TrueType).
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

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSerif-Bold.ttf",
    "LiberationMono-Regular.ttf",
    "LiberationSans-Italic.ttf",
)


# ---------------------------------------------------------------- canvas drawings


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the centre lines of the strokes, one pixel wide, without spurs."""
    img = mask.astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            # The 8 neighbours, clockwise from north: P2..P9 in Zhang and Suen's paper.
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:], p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]]
            count = sum(n)
            transitions = sum((n[i] == 0) & (n[(i + 1) % 8] == 1) for i in range(8))
            if step == 0:
                side = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                side = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            remove = (img == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                img[remove] = 0
                changed = True
    return img


def _bend(path: np.ndarray, slant: float, wobble: float, rng: np.random.Generator) -> np.ndarray:
    """A one-pixel path slanted (x moves by `slant` times the height above the middle) and waved
    by up to `wobble` pixels, as an unsteady hand draws it."""
    h, w = path.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period, (px, py) = rng.uniform(25, 70), rng.uniform(0, 2 * np.pi, 2)
    map_x = xx + slant * (yy - h / 2) + wobble * np.sin(yy * 2 * np.pi / period + px)
    map_y = yy + wobble * np.sin(xx * 2 * np.pi / period + py)
    return (cv2.remap(path.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR) > 0.05).astype(np.uint8)


def pen_strokes(digit28: np.ndarray, side: int, brush: int, rng: np.random.Generator, slant=0.0, wobble=0.0) -> np.ndarray:
    """A 28x28 digit as a pen of `brush` pixels draws it in a `side` x `side` square: a 0/1 mask."""
    # The pen's path: the digit's centre lines, found at 4x MNIST's resolution, then scaled.
    path = _thin(cv2.resize(digit28, (112, 112), interpolation=cv2.INTER_CUBIC) > 110)
    if slant or wobble:
        path = _bend(path, slant, wobble, rng)
    # Shrinking a one-pixel path must not break it: any coverage keeps the pixel.
    path = (cv2.resize(path.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    return cv2.dilate(path, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush, brush)))


def draw_on_canvas(digit28: np.ndarray, rng: np.random.Generator, slant: float = 0.0, wobble: float = 0.0) -> np.ndarray:
    """A 28x28 digit redrawn by a pen on the 280x280 canvas: anywhere, 50-250 px tall, any brush;
    `slant` and `wobble` (see `_bend`) bend the pen's path."""
    height = int(rng.integers(50, 250))  # small to nearly the whole canvas
    brush = int(rng.integers(4, max(5, min(36, height // 6))))  # a thin pen to a thick marker
    strokes = pen_strokes(digit28, height, brush, rng, slant, wobble)
    canvas = np.zeros((280 + 2 * brush, 280 + 2 * brush), np.uint8)
    top, left = (int(rng.integers(brush, 280 + brush - height)) for _ in range(2))
    canvas[top : top + height, left : left + height] = strokes * 255
    canvas = cv2.GaussianBlur(canvas[brush:-brush, brush:-brush], (3, 3), 0)  # anti-aliased edges
    if rng.random() < 0.5:  # white strokes on the black canvas, as the Draw page has it
        return np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
    return np.dstack([np.zeros_like(canvas)] * 3 + [canvas])  # black strokes, transparent canvas


# ---------------------------------------------------------------- printed digits, photographed


def available_fonts() -> list[Path]:
    """The fonts of Debian's fonts-dejavu-core and fonts-liberation; all of them, or an error."""
    found = [d / name for d in FONT_DIRS for name in FONT_NAMES if (d / name).is_file()]
    if len(found) != len(FONT_NAMES):  # a partial set would quietly change the check set
        raise FileNotFoundError("the check-set fonts are missing: `apt-get install fonts-dejavu-core fonts-liberation`")
    return found


def _photograph(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink (0..1, white on black) as a phone photo of paper: light, tilt, blur, noise, JPEG."""
    h, w = ink.shape
    angle, scale = rng.uniform(-10, 10), rng.uniform(0.85, 1.0)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    ink = cv2.warpAffine(ink, turn, (w, h))
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(direction) * xx + np.sin(direction) * yy  # light falls off across the page
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    paper = rng.uniform(0.8, 0.97) * (1 - rng.uniform(0, 0.45) * ramp)
    gray = paper * (1 - rng.uniform(0.7, 0.95) * ink)
    gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(0.3, 1.5))
    gray = gray + rng.normal(0, rng.uniform(0.005, 0.03), gray.shape)
    tint = rng.uniform(0.9, 1.0, 3)  # warm or cool light
    rgb = np.clip(gray[..., None] * tint * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(rng.integers(40, 90)))
    return np.asarray(Image.open(buf))


def print_digit(digit: int, font_path: Path, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(40, 140))
    font = ImageFont.truetype(str(font_path), size)
    width, height = int(size * rng.uniform(1.2, 2.5)), int(size * rng.uniform(1.3, 2.2))
    page = Image.new("L", (width, height), 0)
    x0, y0, x1, y1 = ImageDraw.Draw(page).textbbox((0, 0), str(digit), font=font)
    left = rng.uniform(0.15, 0.85) * max(1, width - (x1 - x0)) - x0
    top = rng.uniform(0.15, 0.85) * max(1, height - (y1 - y0)) - y0
    ImageDraw.Draw(page).text((left, top), str(digit), fill=255, font=font)
    return _photograph(np.asarray(page, np.float32) / 255, rng)


# ---------------------------------------------------------------- low-resolution scans


def scan(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A handwritten digit on grey paper, scanned so it is only 8 to 16 pixels tall."""
    tall = int(rng.integers(8, 17))
    margin = int(rng.integers(2, 8))
    side = tall * 28 // 20 + 2 * margin
    ink = cv2.resize(digit28.astype(np.float32) / 255, (side - 2 * margin,) * 2, interpolation=cv2.INTER_AREA)
    ink = np.pad(ink, margin)
    paper = rng.uniform(0.7, 0.95)
    gray = paper * (1 - rng.uniform(0.6, 0.9) * ink) + rng.normal(0, rng.uniform(0.0, 0.04), ink.shape)
    gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(0.2, 0.7))
    if rng.random() < 0.3:  # a 1-bit scan: black and white only
        gray = np.where(gray > paper * 0.7, 1.0, 0.0)
    return np.clip(gray * 255, 0, 255).astype(np.uint8)
