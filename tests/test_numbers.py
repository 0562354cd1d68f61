"""Whole numbers (model_store/numbers.py): a written number cut into digits, each read alone.

The cutting is checked on tiny drawn arrays; the reading on numbers written from MNIST *test*
digits with the bundled model, and on the command line's `predict --number`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from benchmarks.numbers import digits_right, make_numbers
from model_store import ModelStore, Predictor
from model_store.numbers import APART, SEPARATE, Piece, candidates, cuts, pieces, read_number, split_worth
from tests.conftest import image_file
from tests.test_cli import SLOW_COMMAND, run

SCALE = 3  # MNIST's 28 px written 84 px tall: a number on a canvas or a scan


@pytest.fixture(scope="module")
def bundled():
    """(predictor, its "Not sure" threshold) of the bundled model, calibrated as the pages use it."""
    model, entry = ModelStore(bundled_dir=ModelStore().bundled_dir).load("lab-default")
    return Predictor(model, entry.normalization, entry.temperature), entry.unsure_below


def test_marks_apart_are_pieces_left_to_right_and_only_overlapping_ones_may_be_one_digit():
    ink = np.zeros((60, 120), np.float32)
    ink[10:50, 70:76] = 1  # a 1 on the right
    ink[10:50, 10:16] = 1  # another on the left
    ink[10:14, 40:52] = 1  # a short bar (a 5's top), over the body beside it
    ink[18:50, 40:46] = 1
    found, tallest = pieces(ink)
    assert tallest == 40
    assert [(p.left, p.right) for p in found] == [(10, 16), (40, 46), (40, 52), (70, 76)]
    # Read together or apart: the bar and its body may be one digit, marks far apart never are.
    assert candidates(found, tallest) == [(0, 1), (1, 2), (2, 3), (1, 3), (3, 4)]


def test_two_marks_side_by_side_are_worth_reading_apart_and_a_bar_over_a_body_is_not():
    """A 6 and a 1 written a pixel apart read as one wide 6 nearly as well as apart: a person
    leaves no gap inside a digit, so reading them as one costs what the gap says."""

    def piece(left, right, mark):
        return Piece(np.zeros((1, 1), np.uint8), left, right, mark)

    beside = split_worth([piece(0, 40, 0), piece(41, 60, 1)])
    over = split_worth([piece(10, 30, 0), piece(12, 28, 1)])  # a 5's top bar over its body
    assert beside == [0.0, APART] and over == [0.0, -SEPARATE] and APART > 0


def test_touching_digits_are_cut_where_the_ink_is_thinnest_and_a_loop_is_not_cut():
    pair = np.zeros((60, 100), np.uint8)
    pair[5:55, 20:28] = pair[5:55, 60:68] = 1  # two 1s ...
    pair[29:32, 28:60] = 1  # ... joined by a thin stroke, as a pen drags from one to the next
    found = cuts(pair, 50)
    best = max(found, key=lambda cut: cut[1])
    assert 28 <= best[0][5:55].min() and best[0][5:55].max() < 60 and best[1] > 0  # through the joint, worth cutting
    loop = np.zeros((60, 100), np.uint8)
    cv2.ellipse(loop, (50, 30), (44, 22), 0, 0, 360, 1, 6)  # one wide 0: any cut crosses two strokes
    assert found and all(worth <= 0 for _, worth in cuts(loop, 50))


def written(digits: list[np.ndarray], gap: int | None) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """MNIST digits written side by side at 3x, light on black; `gap` px apart, or (None) each
    pushed left until its ink touches the one before. The image and each digit's ink box."""
    glyphs = [cv2.resize(d, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR) for d in digits]
    inked = [np.flatnonzero(g.max(axis=0) > 80) for g in glyphs]
    glyphs = [g[:, cols.min() : cols.max() + 1] for g, cols in zip(glyphs, inked)]
    canvas = np.zeros((140, sum(g.shape[1] for g in glyphs) + (gap or 0) * len(glyphs) + 80), np.uint8)
    x, boxes = 40, []
    for g in glyphs:
        if gap is None and boxes:  # slide left until the ink meets
            while not ((canvas[28:112, x - 1 : x - 1 + g.shape[1]] > 80) & (g > 80)).any():
                x -= 1
        rows = np.flatnonzero(g.max(axis=1) > 80)
        boxes.append((x, 28 + rows.min(), g.shape[1], rows.max() + 1 - rows.min()))
        canvas[28:112, x : x + g.shape[1]] = np.maximum(canvas[28:112, x : x + g.shape[1]], g)
        x += g.shape[1] + (gap or 0)
    return canvas[:, : x + 40], boxes


def first_of(mnist_test, digit: int, skip: int = 0) -> np.ndarray:
    x, y = mnist_test
    return x[np.flatnonzero(y == digit)[skip]]


def test_a_year_written_apart_is_read_digit_by_digit_with_each_box_where_its_digit_is(bundled, mnist_test):
    predictor, unsure_below = bundled
    image, boxes = written([first_of(mnist_test, d, i) for i, d in enumerate((2, 0, 2, 6))], gap=30)
    reading = read_number(predictor, image, unsure_below)
    assert reading.number == "2026" and reading.verdict in ("number", "unsure")
    assert [np.abs(np.subtract(d.box, box)).max() <= 3 for d, box in zip(reading.digits, boxes)] == [True] * 4
    assert all(d.reading.confidence > 0.8 for d in reading.digits)
    # Dark ink on white paper reads the same.
    assert read_number(predictor, 255 - image, unsure_below).number == "2026"


def test_digits_pushed_together_until_they_touch_are_cut_apart(bundled, mnist_test):
    predictor, unsure_below = bundled
    image, _ = written([first_of(mnist_test, 3), first_of(mnist_test, 8), first_of(mnist_test, 4)], gap=None)
    count, *_ = cv2.connectedComponentsWithStats((image > 80).astype(np.uint8))
    assert count - 1 < 3  # some of the digits really touch: fewer marks than digits
    assert read_number(predictor, image, unsure_below).number == "384"


def test_a_blank_image_says_why_and_a_star_among_digits_is_named_as_the_part_that_is_no_digit(bundled, mnist_test):
    from tests.browser import STAR

    predictor, unsure_below = bundled
    blank = read_number(predictor, np.zeros((100, 300), np.uint8), unsure_below)
    assert blank.digits == [] and blank.number is None and blank.verdict == "blank" and "no ink" in blank.blank_reason
    image, boxes = written([first_of(mnist_test, 1), first_of(mnist_test, 1, 1)], gap=140)
    star = np.zeros((280, 280), np.uint8)
    cv2.polylines(star, [np.array(STAR[0], np.int32)], False, 255, 14)
    image[28:112, boxes[0][0] + 40 : boxes[0][0] + 124] = cv2.resize(star, (84, 84), interpolation=cv2.INTER_AREA)
    reading = read_number(predictor, image, unsure_below)
    assert [d.verdict for d in reading.digits][1] == "not_a_digit" and reading.number is None
    assert reading.verdict == "not_a_digit" and [reading.digits[i].reading.digit for i in (0, 2)] == [1, 1]


@SLOW_COMMAND
def test_200_written_numbers_of_mnist_test_digits_are_read_at_the_measured_accuracy(bundled):
    """2-5 digits each, touching to wide apart, heights and baselines varied, a pen or a scan
    (benchmarks/numbers.py). Measured: 89.0% of the numbers read exactly, 96.2% of the digits
    (87.5% and 95.6% before marks side by side cost something to join, `APART`)."""
    predictor, unsure_below = bundled
    numbers = make_numbers(200, seed=38)
    exact = right = total = 0
    for image, truth, *_ in numbers:
        reading = read_number(predictor, image, unsure_below)
        read = "".join(str(d.reading.digit) if not d.reading.blank else "?" for d in reading.digits)
        exact += reading.number == truth
        right += digits_right(read, truth)
        total += len(truth)
    assert exact / len(numbers) >= 0.88 and right / total >= 0.96


@SLOW_COMMAND
def test_predict_number_json_prints_the_number_its_digits_and_boxes_and_names_blank_and_broken_files(
    tiny_store, tmp_path, mnist_test
):
    image, boxes = written([first_of(mnist_test, d, i) for i, d in enumerate((2, 0, 2, 6))], gap=30)
    big = cv2.resize(255 - image, None, fx=2, fy=2)  # dark on white, twice the size: boxes in the file's pixels
    (tmp_path / "year.png").write_bytes(image_file(big))
    (tmp_path / "white.png").write_bytes(image_file(np.full((100, 300), 255, np.uint8)))
    (tmp_path / "notes.png").write_text("not a picture")
    files = [str(tmp_path / name) for name in ("year.png", "white.png", "notes.png")]
    result = run("-m", "model_store", "predict", "--number", "--json", *files, store=tiny_store)
    year, white, notes = (json.loads(line) for line in result.stdout.splitlines())
    assert result.returncode == 1  # the blank and the broken file failed
    assert year["path"] == files[0] and year["number"] == "2026" and year["verdict"] in ("number", "unsure")
    assert [d["digit"] for d in year["digits"]] == [2, 0, 2, 6]
    assert all(np.abs(np.subtract(d["box"], 2 * np.array(box))).max() <= 6 for d, box in zip(year["digits"], boxes))
    assert white["number"] is None and white["digits"] == [] and white["verdict"] == "blank" and "no ink" in white["reason"]
    assert notes["path"] == files[2] and "not an image" in notes["error"]
    text = run("-m", "model_store", "predict", "--number", *files, store=tiny_store).stdout.splitlines()
    assert text[0].startswith(f"{files[0]}: 2026 (2 ") and text[1] == f"{files[1]}: error: nothing to read: {white['reason']}"
