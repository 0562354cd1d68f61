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
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from model_store import ModelStore, Prediction, Predictor, load_mnist, prepare
from model_store.preprocess import naive_prepare

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


@dataclass
class CheckSet:
    name: str
    images: list[np.ndarray]  # as a person hands them over: canvas RGBA, photo RGB, scan gray
    labels: np.ndarray
    undrawn: np.ndarray | None = None  # the MNIST test digits before they were redrawn (none for printed)


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


def _print_digit(digit: int, font_path: Path, rng: np.random.Generator) -> np.ndarray:
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


# ---------------------------------------------------------------- the three sets


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
            "printed", [_print_digit(int(d), fonts[i % len(fonts)], rng) for i, d in enumerate(printed_labels)], printed_labels
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
    from training.evaluation import (  # here: it imports training.nondigits, which imports this
        share_called_not_a_digit,
        share_turned_away,
    )
    from training.nondigits import held_out_set

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
