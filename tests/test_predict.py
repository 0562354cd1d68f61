"""One predictor: any image in, ten probabilities out, blanks reported."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_store import Predictor, prepare
from model_store.predict import tempered
from tests.conftest import digit_on_canvas


def test_probabilities_for_a_batch_are_those_of_single_images(tiny, mnist_test):
    _, _, predictor = tiny
    x, _ = mnist_test
    batch = predictor.probabilities(x[:700] / 255.0)  # more than one internal batch
    assert batch.shape == (700, 10)
    np.testing.assert_allclose(batch.sum(1), 1.0, atol=1e-5)
    singles = np.stack([predictor.probabilities(x[i : i + 1] / 255.0)[0] for i in (0, 511, 699)])
    np.testing.assert_allclose(singles, batch[[0, 511, 699]], atol=1e-5)


def test_the_tiny_model_reads_most_test_digits(tiny, mnist_test):
    _, _, predictor = tiny
    x, y = mnist_test
    assert (predictor.probabilities(x[:1000] / 255.0).argmax(1) == y[:1000]).mean() > 0.8


def test_predict_agrees_with_the_raw_model_call(tiny, mnist_test):
    model, _, predictor = tiny
    x, _ = mnist_test
    canvas = digit_on_canvas(x[0])
    result = predictor.predict(canvas)
    direct = model(prepare(canvas).image.reshape(1, 784), training=False).numpy()[0]
    np.testing.assert_allclose(result.probabilities, direct, atol=1e-5)
    assert result.digit == int(direct.argmax()) and result.confidence == pytest.approx(direct.max())
    assert result.prepared.shape == (28, 28)


def test_a_blank_image_gives_no_digit_and_says_why(tiny):
    _, _, predictor = tiny
    result = predictor.predict(np.zeros((280, 280, 4), np.uint8))
    assert result.blank and result.digit is None and result.probabilities is None
    assert result.blank_reason == "no ink found (the image is one even shade)"


def test_many_images_with_blanks_among_them_keep_their_order(tiny, mnist_test):
    _, _, predictor = tiny
    x, _ = mnist_test
    prepared = [prepare(x[0]), prepare(np.zeros((28, 28))), prepare(x[1])]
    results = predictor.predict_prepared(prepared)
    assert [r.blank for r in results] == [False, True, False]
    assert results[2].digit == predictor.predict(x[1]).digit


def test_any_model_input_shape_of_784_values_is_fed_correctly(mnist_test):
    x, _ = mnist_test
    flat = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    image_shaped = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )
    image_shaped.layers[-1].set_weights(flat.layers[-1].get_weights())
    np.testing.assert_allclose(
        Predictor(flat).probabilities(x[:5] / 255.0), Predictor(image_shaped).probabilities(x[:5] / 255.0), atol=1e-6
    )
    with pytest.raises(ValueError, match="784"):
        Predictor(keras.Sequential([keras.Input((32, 32)), keras.layers.Flatten(), keras.layers.Dense(10)]))


def test_a_model_that_outputs_logits_still_gives_probabilities(mnist_test):
    x, _ = mnist_test
    logits = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    probs = Predictor(logits).probabilities(x[:5] / 255.0)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert probs.min() >= 0


def fixed_answer(logits: list[float]) -> keras.Model:
    """A model that gives the same outputs for any image: a softmax of these logits."""
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(len(logits), activation="softmax")])
    model.layers[-1].set_weights([np.zeros((784, len(logits)), np.float32), np.asarray(logits, np.float32)])
    return model


def test_an_eleventh_output_is_the_chance_of_not_a_digit_and_the_digits_are_read_given_one(mnist_test):
    x, _ = mnist_test
    digits = [0.0] * 10
    digits[3], digits[8] = 2.0, 1.0
    star = Predictor(fixed_answer([*digits, 3.0])).predict(digit_on_canvas(x[0]))
    assert star.verdict() == "not_a_digit" and star.digit == 3  # the digit it would be, were it one
    raw = np.exp([*digits, 3.0]) / np.exp([*digits, 3.0]).sum()
    assert star.not_digit == pytest.approx(raw[10], abs=1e-6)
    np.testing.assert_allclose(star.probabilities, raw[:10] / raw[:10].sum(), atol=1e-6)  # the digits, given one
    # Just under the top digit's probability: a digit (or "unsure" when it is not sure of which).
    close = Predictor(fixed_answer([*digits, 1.99])).predict(digit_on_canvas(x[0]))
    assert close.not_digit < (1 - close.not_digit) * close.confidence and close.verdict(unsure_below=0.1) == "digit"
    assert close.verdict() == "unsure"  # 3 at ~33% of the digits
    # A temperature changes how sure, never which answer: the verdict stays, the digits are the
    # ten alone tempered.
    hot = Predictor(fixed_answer([*digits, 3.0]), temperature=0.5).predict(digit_on_canvas(x[0]))
    assert hot.verdict() == "not_a_digit" and hot.not_digit > star.not_digit
    np.testing.assert_allclose(hot.probabilities, tempered(star.probabilities, 0.5), atol=1e-6)
    # A ten-output model never says it.
    ten = Predictor(fixed_answer(digits)).predict(digit_on_canvas(x[0]))
    assert ten.not_digit == 0.0 and ten.verdict() != "not_a_digit"
    assert Predictor(fixed_answer([*digits, 3.0])).knows_non_digits and not Predictor(fixed_answer(digits)).knows_non_digits
