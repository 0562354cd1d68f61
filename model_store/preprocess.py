"""Any image into MNIST form: the one preparation pipeline of the project.

MNIST digits are white ink on black, fitted into a 20x20 box keeping their aspect ratio and
placed in a 28x28 field so that their centre of mass sits at the centre. A canvas drawing, an
uploaded photo and a file on the command line all go through `prepare`, so the model sees
them the way it saw its training data:

    alpha-aware grayscale -> polarity (light paper is inverted) -> background removal ->
    crop to the ink, ignoring specks -> fit into 20x20 -> pad to 28x28, centre of mass centred

Each model's own normalisation (`normalize`) is applied afterwards, by the predictor.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 560  # larger images are shrunk first: the digit ends up 20 px tall anyway
MAX_PIXELS = 64_000_000  # a decoded image above this is refused (decompression bombs)
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CANVAS_BYTES = 1024 * 1024  # a 280x280 RGBA canvas is 314 KB raw: its PNG is never larger than that
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # the signature, then the IHDR chunk that comes first
MIN_SIDE, MAX_ASPECT = 8, 20  # a thinner image (1x10,000, say) cannot hold a readable digit
IMAGE_TYPES = ("png", "jpg", "jpeg", "bmp", "webp", "gif")  # what decode_image is tested to read
INK_LEVEL = 0.3  # ink above this counts when cropping
MIN_HOLE = 0.01  # a hole this share of its outline's area makes a blob a drawn loop, not a dot
SOLID = 0.95  # a dot fills this share of its convex hull at least (its pixels count a little over the hull's area)
MNIST_CENTRE = 14.0  # MNIST's mean centre of mass, measured on the training set


class ImageError(ValueError):
    """A file that cannot be read as an image; the message says why, for a person."""


@dataclass
class Prepared:
    image: np.ndarray | None  # (28, 28) float32 in [0, 1], white on black; None when blank
    blank_reason: str | None = None  # why there is no digit to read
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # each stage, when asked for


# ---------------------------------------------------------------- decoding files


def decode_image(data: bytes) -> np.ndarray:
    """File bytes (PNG, JPEG, BMP, WebP, GIF's first frame, ...) to a uint8 or float array."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size below
            img = Image.open(io.BytesIO(data))
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"the image is {width}x{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels")
            if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
                raise ImageError(f"the image is {width}x{height} pixels, too small or thin to hold a digit")
            img.seek(0)  # an animated GIF: its first frame
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes straight to a smaller size
            img = ImageOps.exif_transpose(img)  # phone photos carry their rotation in EXIF
            return _pil_to_array(img)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"the image has too many pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels") from None
    except UnidentifiedImageError:
        raise ImageError("not an image we can read (PNG, JPEG, BMP, WebP or GIF expected)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"the image is damaged or truncated ({err})") from None


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's (width, height), read from its IHDR header without decoding anything; None when
    the bytes are not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_HEADER):
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def decode_canvas(data: bytes, width: int, height: int) -> np.ndarray:
    """The canvas component's PNG to an RGBA array, checked first: a browser can send any value
    as the canvas's, and Pillow would decode a forged 10,000x10,000 one (400 MB) before anyone
    looked at its size. ImageError, saying what came, for anything but a PNG of the canvas's size."""
    if len(data) > MAX_CANVAS_BYTES:
        raise ImageError(f"the canvas sent {len(data) / 2**20:.1f} MB; a {width}x{height} canvas is at most 1 MB")
    size = png_size(data)
    if size is None:
        raise ImageError("the canvas sent something that is not a PNG")
    if size != (width, height):
        raise ImageError(f"the canvas sent a {size[0]}x{size[1]} image; this canvas is {width}x{height}")
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGBA"))
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"the canvas sent a damaged PNG ({err})") from None


def _pil_to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit gray: keep its full range
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        a = np.asarray(img, dtype=np.float32)
        return a / (65535.0 if a.max() > 255 else 255.0)
    has_alpha = "A" in img.mode or "transparency" in img.info
    img = img.convert("RGBA" if has_alpha else "RGB")  # also CMYK, palette, 1-bit
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    return np.asarray(img)


# ---------------------------------------------------------------- from pixels to ink


def _unit(a: np.ndarray) -> float:
    """The factor that brings this array's pixel values into [0, 1]."""
    if a.dtype == np.uint8:
        return 1 / 255
    if a.dtype == np.uint16:
        return 1 / 65535
    return 1 / 255 if a.size and a.max() > 1.0 else 1.0


def to_gray(image: np.ndarray) -> np.ndarray:
    """Gray float32 in [0, 1]. Transparent pixels become the paper behind the strokes."""
    a = np.asarray(image)
    if a.dtype not in (np.uint8, np.uint16, np.float32):
        a = a.astype(np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a.astype(np.float32) * np.float32(_unit(a))
    if a.ndim != 3 or a.shape[2] not in (2, 3, 4):
        raise ImageError(f"expected a gray, RGB or RGBA image, got an array of shape {a.shape}")
    unit = np.float32(_unit(a))
    # Colour to gray in the array's own type: OpenCV is fastest there (a canvas is uint8 RGBA).
    channels = a.shape[2]
    gray = a[..., 0] if channels == 2 else cv2.cvtColor(a, cv2.COLOR_RGBA2GRAY if channels == 4 else cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32) * unit
    if channels == 3:
        return gray
    alpha = a[..., -1]
    if alpha.min() * unit > 0.98:
        return gray
    # Strokes on a transparent canvas: put them on paper of the opposite shade.
    alpha = alpha.astype(np.float32) * unit
    opaque = alpha > 0.5
    paper = 1.0 if opaque.any() and gray[opaque].mean() < 0.5 else 0.0
    return gray * alpha + paper * (1.0 - alpha)


def _shrink(a: np.ndarray, max_side: int) -> np.ndarray:
    h, w = a.shape[:2]
    if max(h, w) <= max_side:
        return a
    scale = max_side / max(h, w)
    return cv2.resize(a, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def over_background(background: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Strokes drawn over a picture, as one gray image: the canvas shows an image to edit behind
    its strokes and returns the strokes alone (RGBA, transparent elsewhere). `background`: gray
    uint8 of the canvas's size; a stroke in the background's colour (black) erases it."""
    alpha = strokes[..., 3].astype(np.float32) / 255
    ink = strokes[..., :3].astype(np.float32).mean(axis=-1)
    return (alpha * ink + (1 - alpha) * background.astype(np.float32)).round().astype(np.uint8)


def cells_picture(cells: np.ndarray, size: int = 280, softness: float = 6.0) -> np.ndarray:
    """A grid of inked cells (0 or 1, square) as a white-on-black drawing `size` pixels wide, which
    `prepare` reads as it reads the canvas. Blurred by `softness` pixels, so the cells' hard steps
    become soft edges like the brush's and MNIST's (a square 0 of cells: 30% sure sharp, 87% so)."""
    side = size // len(cells)
    picture = np.kron(np.asarray(cells, np.uint8) * 255, np.ones((side, side), np.uint8))
    return cv2.GaussianBlur(picture, (0, 0), softness)


def to_ink(image: np.ndarray) -> np.ndarray:
    """Ink map float32 in [0, 1]: 1 where the digit is, 0 on the paper, whatever the polarity.

    Light paper is lit unevenly (shadows, gradients): what a camera sees is paper * (1 - ink),
    so the ink is 1 - gray / paper, with the paper's brightness estimated around each pixel.
    On a dark background (a canvas, a screen) the ink simply adds: gray - background.
    """
    gray = _shrink(to_gray(image), MAX_SIDE)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:
        paper = _local_background(gray, cv2.dilate)  # the brightest nearby pixel is paper
        ink = 1.0 - gray / np.maximum(paper, 1e-3)
    else:
        ink = gray - _local_background(gray, cv2.erode)  # the darkest nearby pixel is background
    ink = np.clip(ink, 0.0, 1.0)
    top = float(ink.max())
    if top < 0.05:  # nothing but noise: leave it for the blank check
        return ink
    return ink / top  # stretch: a faint pencil or a grey photo reaches full ink


def _local_background(gray: np.ndarray, extreme) -> np.ndarray:
    """The background level around each pixel: the local max or min over a window wider than a stroke.

    Computed on a 48-pixel thumbnail, so it costs the same for a canvas and a 50-megapixel photo.
    """
    h, w = gray.shape
    small = _shrink(gray, 48)
    window = max(3, (max(small.shape) // 4) | 1)
    level = extreme(small, cv2.getStructuringElement(cv2.MORPH_RECT, (window, window)))
    level = cv2.blur(level, (window, window))
    return cv2.resize(level, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------- crop, fit, centre


def _digit_box(ink: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The mask of the digit's strokes (specks dropped), or a reason there is no digit."""
    mask = (ink > INK_LEVEL).astype(np.uint8)
    if not mask.any():
        return mask, "no ink found (the image is one even shade)"
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.08 * areas.max())  # specks are tiny next to strokes
    mask = np.isin(labels, keep).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    if max(w, h) < 4:
        return mask, "the mark is too small to read"
    small = max(w, h) < 0.15 * max(ink.shape)  # a low-resolution "0" is a round blob too, but fills its image
    if len(keep) == 1 and small and _is_round_blob(mask[y : y + h, x : x + w]):
        return mask, "just a dot or a blob, not a digit"
    return mask, None


def _is_round_blob(mask: np.ndarray) -> bool:
    """A dot: solid (it fills its convex hull, with no hole in it) and round (not a bar, as a "1"
    is, at any slant). A small 0, 6, 8 or 9 drawn with a thick brush is nearly solid too, but the
    pen went round a loop: its hole (a hundredth of its area is enough) or the dent where a tail
    leaves the loop (a 9 filling 91-94% of its hull) tells it from a dot, which fills all of it."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = [c for c, (_, _, _, parent) in zip(contours, hierarchy[0]) if parent < 0]
    holes = sum(cv2.contourArea(c) for c, (_, _, _, parent) in zip(contours, hierarchy[0]) if parent >= 0)
    points = np.concatenate(outer)
    hull = cv2.contourArea(cv2.convexHull(points))
    (_, _), (side_a, side_b), _ = cv2.minAreaRect(points)
    elongation = max(side_a, side_b) / max(min(side_a, side_b), 1.0)
    return hull > 0 and float(mask.sum()) / hull > SOLID and holes < MIN_HOLE * hull and elongation < 2.0


def _fit_20(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is 20 px, keeping the aspect ratio (as MNIST did)."""
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(crop, size, interpolation=interpolation)
    top = float(fitted.max())
    return fitted / top if top > 0 else fitted  # thin strokes fade when shrunk: restore full ink


def _centre(patch: np.ndarray) -> np.ndarray:
    """Place the patch in 28x28 with its centre of mass at MNIST's centre."""
    moments = cv2.moments(patch)
    h, w = patch.shape
    cy = moments["m01"] / moments["m00"] if moments["m00"] else h / 2
    cx = moments["m10"] / moments["m00"] if moments["m00"] else w / 2
    top = int(np.clip(round(MNIST_CENTRE - cy), 0, 28 - h))
    left = int(np.clip(round(MNIST_CENTRE - cx), 0, 28 - w))
    out = np.zeros((28, 28), np.float32)
    out[top : top + h, left : left + w] = patch
    return out


def prepare(image: np.ndarray, keep_steps: bool = False) -> Prepared:
    """Any image array (gray, RGB, RGBA; uint8, uint16 or float) into one 28x28 MNIST digit."""
    ink = to_ink(image)
    mask, blank = _digit_box(ink)
    steps = {"ink": ink} if keep_steps else {}
    if blank:
        return Prepared(None, blank, steps)
    x, y, w, h = cv2.boundingRect(mask)
    # Keep the soft edges of the kept strokes, drop the specks.
    near = cv2.dilate(mask, np.ones((3, 3), np.uint8))[y : y + h, x : x + w]
    crop = ink[y : y + h, x : x + w] * near
    fitted = _fit_20(crop)
    digit = _centre(fitted)
    if keep_steps:
        steps.update(crop=crop, fit=fitted, centred=digit)
    return Prepared(digit, None, steps)


def naive_prepare(image: np.ndarray) -> np.ndarray:
    """What most MNIST demos do: grayscale, invert light paper, plain resize to 28x28.

    Kept only to measure how much `prepare` gains over it.
    """
    gray = to_gray(image)
    if np.median(gray) > 0.5:
        gray = 1.0 - gray
    return cv2.resize(gray, (28, 28), interpolation=cv2.INTER_AREA).astype(np.float32)


# ---------------------------------------------------------------- the model's own input scaling

NORMALIZATIONS = ("scale", "l2")


def normalize(x: np.ndarray, method: str) -> np.ndarray:
    """Images as floats in [0, 1] (bytes / 255), shape (n, 28, 28), into a model's input scale.

    "scale" is the usual /255 (already done); "l2" is notebook A's
    `keras.utils.normalize(x, axis=1)`, which does not care about the overall scale.
    """
    if method == "scale":
        return np.asarray(x, np.float32)
    if method == "l2":
        x = np.asarray(x, np.float32)
        norm = np.linalg.norm(x, 2, axis=1)  # as keras.utils.normalize does it for arrays
        norm[norm == 0] = 1
        return (x / np.expand_dims(norm, 1)).astype(np.float32)
    raise ValueError(f"unknown normalization {method!r}; choose one of {NORMALIZATIONS}")
