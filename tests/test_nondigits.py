"""The generated non-digits: canvas images, never blank, and a held-out set of other kinds."""

from __future__ import annotations

import numpy as np

from model_store import prepare
from training.nondigits import DIGIT_LIKE, LETTERS, held_out_set, training_set


def test_non_digits_are_canvas_images_with_something_drawn_and_are_the_same_each_time():
    for make in (training_set, held_out_set):
        images = make(40)
        assert all(im.shape == (280, 280, 4) and im.dtype == np.uint8 for im in images)
        assert sum(prepare(im).image is None for im in images) <= 1  # a stroke, not a speck
        again = make(40)
        assert all(np.array_equal(a, b) for a, b in zip(images, again))


def test_the_held_out_set_is_not_the_training_set_and_no_letter_is_a_digit_in_disguise():
    training, held = training_set(40), held_out_set(40)
    assert not any(np.array_equal(a, b) for a in training for b in held)
    assert not set(LETTERS) & set(DIGIT_LIKE) and "A" in LETTERS and not any(c.isdigit() for c in LETTERS)
