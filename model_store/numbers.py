"""A written number cut into its digits, each read as a single digit is.

The ink is found as `prepare` finds it, then cut into parts, left to right:

    strokes (connected ink) -> grouped where their columns overlap (a 5's separate top bar, a 4
    drawn in two strokes) -> a part wider than a digit split where its ink is thinnest -> each
    part alone, at the number's scale, through `prepare` and the predictor

so calibration, "not a digit" and the dot check judge each part as they judge a single digit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from model_store.data import load_mnist
from model_store.preprocess import INK_LEVEL, prepare, to_ink

SMALL = 0.3  # a mark shorter and narrower than this share of the tallest is a piece of a digit
NEAR = 0.3  # a small mark this close to a digit (times the tallest mark) belongs to it
JOIN = 0.05  # marks this close (times the tallest mark), or overlapping, may be strokes of one digit
WIDEST = 0.8  # a mark wider than this times its height may be digits that touch
LOW = 0.6  # digits that touch make a mark at least this share of the tallest mark's height
EDGE = 0.25  # a cut is looked for this far (times the mark's height) in from each side at least
CUTS = 4  # the cuts tried in one mark at most: the columns of least ink
SPAN = 5  # a digit is made of this many pieces at most: CUTS + 1, a mark cut everywhere may still be one digit
PIECE_COST = 0.5  # what one more part costs against the readings' log-likelihood
SHARP, SHAPE_W, HEIGHT_W, SHORT = 1.0, 0.5, 1.0, 0.65
ASPECT_BINS, RARE = 30, 0.01  # the shape prior's bins (of log width / height) and least density
THIN, THIN_AT = 1.0, 1.5  # a cut through ink of THIN_AT strokes is worth nothing; each stroke less, THIN
SEPARATE = 2.0  # what reading two marks apart costs when their columns overlap wholly (in proportion)
APART = 1.0  # what reading two marks as one digit costs when their columns do not overlap at all (in proportion)
SIDEWAYS = 0.1  # what a cut path's step to the next column costs, against an ink pixel crossed
FIELD = 1.4  # each part is read in a square this many times the number's height, as a digit on the canvas


@dataclass
class Digit:
    box: tuple[int, int, int, int]  # x, y, w, h in the image's pixels
    reading: object  # its Prediction (model_store.predict: TensorFlow is imported only there)
    verdict: str  # the reading's verdict: "digit", "unsure", "not_a_digit" or "blank"


@dataclass
class NumberReading:
    digits: list[Digit]  # the parts, left to right
    blank_reason: str | None = None  # why nothing can be read, when the whole image is blank

    @property
    def verdict(self) -> str:
        """ "number" when every part is a digit, else the first part's problem; "blank" when
        there is no part at all."""
        if not self.digits:
            return "blank"
        return next((d.verdict for d in self.digits if d.verdict != "digit"), "number")

    @property
    def number(self) -> str | None:
        """The digits read, as a string ("2026"); None when a part is no digit or unreadable."""
        if not self.digits or any(d.verdict in ("blank", "not_a_digit") for d in self.digits):
            return None
        return "".join(str(d.reading.digit) for d in self.digits)


@dataclass
class Piece:
    """A mark, or a part of one between two cuts: what a digit is made of."""

    mask: np.ndarray  # uint8, the ink map's shape
    left: int  # its columns
    right: int
    mark: int  # the mark it is cut from
    cut_worth: float = 0.0  # for a piece cut from a mark, what cutting at its left edge is worth (`cuts`)


def pieces(ink: np.ndarray) -> tuple[list[Piece], float]:
    """An ink map (`to_ink`) as the pieces digits are made of, left to right, and the tallest
    mark's height: the marks (connected ink), a small one added to the nearest (a stroke the pen
    broke), each mark wider than a digit cut where it might be two digits touching."""
    mask = (ink > INK_LEVEL).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return [], 0.0
    tallest = float(stats[1:, cv2.CC_STAT_HEIGHT].max())
    found = []
    for mark, members in enumerate(_marks(stats[1:], tallest)):
        whole = np.isin(labels, [1 + i for i in members]).astype(np.uint8)
        places = cuts(whole, tallest)
        for part, worth in zip(_between(whole, [path for path, _ in places]), [0.0, *(w for _, w in places)]):
            x, _, w, _ = cv2.boundingRect(part)
            if w:  # paths that meet leave nothing between them
                found.append(Piece(part, x, x + w, mark, worth))
    return sorted(found, key=lambda p: (p.left, p.right)), tallest


def _marks(stats: np.ndarray, tallest: float) -> list[list[int]]:
    """The connected components (rows of `stats`) as marks: each large one, with the small ones
    near it; a small one far from any stands alone (a dot, a dash: read and named as it is)."""
    left, width = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_WIDTH]
    small = np.maximum(width, stats[:, cv2.CC_STAT_HEIGHT]) < SMALL * tallest
    large = [int(i) for i in np.flatnonzero(~small)]
    marks = [[i] for i in large]
    for i in np.flatnonzero(small):
        gaps = [max(left[j] - left[i] - width[i], left[i] - left[j] - width[j], 0) for j in large]
        if gaps and min(gaps) <= NEAR * tallest:
            marks[int(np.argmin(gaps))].append(int(i))
        else:
            marks.append([int(i)])
    return marks


def cuts(mark: np.ndarray, tallest: float) -> list[tuple[np.ndarray, float]]:
    """Where a mark wider than a digit might be cut in two, and what cutting there is worth: at
    most `CUTS` paths from top to bottom (a column for each of the ink map's rows), left to right,
    each from one of the columns of least ink; none for a narrow mark. Where two touching digits
    meet, the ink is thinnest: crossing a stroke's width or less is worth a cut, two strokes (a
    0's middle) are not."""
    x, y, w, h = cv2.boundingRect(mark)
    if w <= WIDEST * h or h < LOW * tallest:  # a bar, a loop: too low to be two digits
        return []
    columns = np.convolve(mark[y : y + h, x : x + w].sum(axis=0), np.ones(3) / 3, mode="same")
    edge = max(1, int(EDGE * h))
    inner = np.arange(edge, w - edge)
    lowest = inner[(columns[inner] <= columns[inner - 1]) & (columns[inner] <= columns[inner + 1])]
    chosen: list[int] = []
    for at in sorted(lowest, key=lambda i: columns[i]):
        if all(abs(at - c) >= edge for c in chosen):
            chosen.append(int(at))
        if len(chosen) == CUTS:
            break
    stroke = 2 * mark.sum() / max(sum(cv2.arcLength(c, True) for c in _outlines(mark)), 1.0)  # area over half the outline
    crop, found = mark[y : y + h, x : x + w], []
    for at in sorted(chosen):
        path, crossed = _cut_path(crop, at, edge)
        rows = np.full(mark.shape[0], x + at)
        rows[y : y + h] = x + path
        found.append((rows, THIN * (THIN_AT - crossed / stroke)))
    return found


def _cut_path(crop: np.ndarray, at: int, band: int) -> tuple[np.ndarray, int]:
    """The path down the crop from near column `at` that crosses least ink, moving at most one
    column a row and staying within `band` of `at` (dynamic programming over the rows), and how
    many ink pixels it crosses. A slanted pair of touching digits is cut along the slant."""
    h, w = crop.shape
    lo, hi = max(0, at - band), min(w, at + band + 1)
    cost = crop[:, lo:hi].astype(np.float32)
    total, came = cost[0] + SIDEWAYS * np.abs(np.arange(lo, hi) - at), np.zeros(cost.shape, np.int8)
    for row in range(1, h):
        options = np.stack([np.r_[np.inf, total[:-1]] + SIDEWAYS, total, np.r_[total[1:], np.inf] + SIDEWAYS])
        came[row] = options.argmin(axis=0) - 1  # -1: from the column to the left
        total = options.min(axis=0) + cost[row]
    path = np.zeros(h, np.int64)
    path[-1] = int(total.argmin())
    for row in range(h - 1, 0, -1):
        path[row - 1] = path[row] + came[row, path[row]]
    return lo + path, int(cost[np.arange(h), path].sum())


def _between(mark: np.ndarray, paths: list[np.ndarray]) -> list[np.ndarray]:
    """The mark's ink between each pair of neighbouring cut paths (left of the first, right of the last)."""
    columns = np.arange(mark.shape[1])[None, :]
    edges = [
        np.full(mark.shape[0], -1),
        *np.maximum.accumulate(paths or [np.zeros(0)], axis=0)[: len(paths)],
        np.full(mark.shape[0], mark.shape[1]),
    ]
    return [mark * ((columns >= a[:, None]) & (columns < b[:, None])) for a, b in zip(edges, edges[1:])]


def _outlines(mask: np.ndarray):
    return cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)[0]


def joinable(a: Piece, b: Piece, tallest: float) -> bool:
    """Whether two neighbouring pieces may be one digit: cut from one mark, or marks whose columns
    overlap or nearly meet (a 5's separate top bar, a 4 drawn in two strokes)."""
    return a.mark == b.mark or b.left - a.right <= JOIN * tallest


def split_worth(found: list[Piece]) -> list[float]:
    """What reading each piece apart from the one before it is worth: a cut's worth, or for two
    marks, less the more their columns overlap (a 5's top bar lies over its body), more the less
    they do (a 6 and a 1 written side by side read as one wide 6 well enough, and a person
    leaves no gap inside a digit)."""
    worth = [0.0]
    for a, b in zip(found, found[1:]):
        if a.mark == b.mark:
            worth.append(b.cut_worth)
        else:
            shared = min(a.right, b.right) - max(a.left, b.left)
            overlap = float(np.clip(shared / max(1, min(a.right - a.left, b.right - b.left)), 0.0, 1.0))
            worth.append(APART * (1 - overlap) - SEPARATE * overlap)
    return worth


def _likelihood(reading) -> float:
    """How well a candidate reads as one digit: the log of its digit's probability and of its
    being a digit at all. A blank one (a speck left by a cut) reads worst."""
    if reading.blank:
        return float(np.log(1e-4))
    p = np.append(reading.probabilities * (1 - reading.not_digit), reading.not_digit) ** SHARP
    p = p / p.sum()
    return float(np.log(max(p[reading.digit], 1e-4)))


def _shape_fit(reading, mask: np.ndarray, tallest: float) -> float:
    """How well a candidate's shape suits the digit it is read as, less what one more part costs:
    the log-density of its width over its height among MNIST's training images of that digit (a 1
    and a 6 read as one 6 make a 6 wider than 6s are)."""
    _, _, w, h = cv2.boundingRect(mask)
    bins, density = aspect_density()
    digit = 0 if reading.blank else reading.digit
    at = int(np.clip(np.searchsorted(bins, np.log(w / h)) - 1, 0, len(bins) - 2))
    low = HEIGHT_W * max(0.0, SHORT - h / tallest) * 10
    return SHAPE_W * float(np.log(density[digit, at])) - PIECE_COST - low


@functools.cache
def aspect_density() -> tuple[np.ndarray, np.ndarray]:
    """Each digit's spread of log(width / height) over MNIST's training images: the bins' edges
    and (10, bins) densities, smoothed over neighbouring bins, never under `RARE`."""
    (x, y), _ = load_mnist()
    boxes = np.array([cv2.boundingRect((image > 255 * INK_LEVEL).astype(np.uint8)) for image in x])
    aspects = np.log(boxes[:, 2] / boxes[:, 3])
    bins = np.linspace(np.log(0.05), np.log(4.0), ASPECT_BINS + 1)
    density = np.stack([np.histogram(aspects[y == d], bins=bins, density=True)[0] for d in range(10)])
    smooth = np.apply_along_axis(lambda row: np.convolve(row, [0.25, 0.5, 0.25], mode="same"), 1, density)
    return bins, np.maximum(smooth, RARE)


def candidates(found: list[Piece], tallest: float) -> list[tuple[int, int]]:
    """Every run of neighbouring pieces (start, stop) that may be one digit, at most `SPAN` long."""
    runs = []
    for stop in range(1, len(found) + 1):
        for start in range(stop - 1, max(0, stop - SPAN) - 1, -1):
            if start < stop - 1 and not joinable(found[start], found[start + 1], tallest):
                break
            runs.append((start, stop))
    return runs


def best_reading(scores: dict[tuple[int, int], float], n: int) -> list[tuple[int, int]]:
    """The runs that cover the n pieces and score best together (dynamic programming)."""
    best: dict[int, tuple[float, list]] = {0: (0.0, [])}
    for stop in range(1, n + 1):
        options = [
            (best[start][0] + score, [*best[start][1], (start, stop)]) for (start, end), score in scores.items() if end == stop
        ]
        best[stop] = max(options, key=lambda option: option[0])
    return best[n][1]


def alone(ink: np.ndarray, part: np.ndarray, height: int) -> np.ndarray:
    """The part's ink by itself in a black square of the number's scale (`FIELD` times its
    tallest part), centred: as a single digit sits on the canvas, so `prepare`'s checks (a dot
    is small beside the field) judge it at the size the person wrote the number."""
    x, y, w, h = cv2.boundingRect(part)
    near = cv2.dilate(part, np.ones((3, 3), np.uint8))[y : y + h, x : x + w]  # the strokes' soft edges
    side = int(max(FIELD * height, 1.2 * max(w, h)))
    field = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    field[top : top + h, left : left + w] = ink[y : y + h, x : x + w] * near
    return field


def read_number(predictor, image: np.ndarray, unsure_below: float) -> NumberReading:
    """Any image of a written number (see `prepare`) -> its digits, each read and judged by the
    predictor, with its box in the image's pixels. A blank image says why, as for one digit.

    Every way of putting the pieces together into digits is read, and the one that reads best
    wins: the right cut between two touching digits gives two clear digits, a 5's bar read
    apart from its body gives neither."""
    whole = prepare(image)
    if whole.image is None:
        return NumberReading([], whole.blank_reason)
    ink = to_ink(image)
    found, tallest = pieces(ink)
    runs = candidates(found, tallest)
    masks = {run: np.bitwise_or.reduce([p.mask for p in found[run[0] : run[1]]]) for run in runs}
    readings = dict(zip(runs, predictor.predict_prepared([prepare(alone(ink, masks[r], int(tallest))) for r in runs])))
    worth = split_worth(found)
    scores = {run: _likelihood(readings[run]) + _shape_fit(readings[run], masks[run], tallest) + worth[run[0]] for run in runs}
    scale = np.asarray(image).shape[1] / ink.shape[1]  # to_ink shrinks a large image
    digits = []
    for run in best_reading(scores, len(found)):
        box = tuple(round(v * scale) for v in cv2.boundingRect(masks[run]))
        digits.append(Digit(box, readings[run], readings[run].verdict(unsure_below)))
    return NumberReading(digits)
