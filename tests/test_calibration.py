"""Confidence you can trust: temperature scaling, the expected calibration error, the "Not sure"
threshold from data, and the calibration kept in the model's record."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import ModelStore, Predictor, StoreError
from model_store.predict import Prediction, called_not_a_digit, tempered
from training.calibration import Calibration, expected_calibration_error, fit_temperature, keep, reliability, unsure_threshold


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_scaling_finds_an_overconfident_models_temperature_and_fixes_its_confidence():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, (20_000, 10))
    truth = softmax(logits)
    labels = np.array([rng.choice(10, p=p) for p in truth])  # right as often as `truth` says
    said = softmax(logits * 2.5)  # twice and a half too sure
    fit, held = slice(0, 10_000), slice(10_000, None)
    temperature = fit_temperature(said[fit], labels[fit])
    assert temperature == pytest.approx(2.5, rel=0.1)
    before = expected_calibration_error(said[held], labels[held])
    after = expected_calibration_error(tempered(said[held], temperature), labels[held])
    assert before > 0.15 and after < 0.02  # measured on answers the fit never saw
    assert (tempered(said, temperature).argmax(axis=1) == said.argmax(axis=1)).all()  # the answers stay


def test_calibration_lowers_a_trained_models_error_on_held_out_images(tiny):
    from model_store import load_mnist

    _, _, predictor = tiny
    _, (x, y) = load_mnist()
    probabilities = predictor.probabilities(x / np.float32(255))
    temperature = fit_temperature(probabilities[:5000], y[:5000])
    before = expected_calibration_error(probabilities[5000:], y[5000:])
    after = expected_calibration_error(tempered(probabilities[5000:], temperature), y[5000:])
    assert after < before / 2, (before, after, temperature)


def test_reliability_bins_add_up_and_not_sure_comes_under_half_the_mistakes():
    rng = np.random.default_rng(1)
    probabilities = softmax(rng.normal(0, 3.0, (5000, 10)))
    labels = rng.integers(0, 10, 5000)
    rows = reliability(probabilities, labels)
    assert sum(r["count"] for r in rows) == 5000 and all(r["low"] <= r["confidence"] < r["low"] + 0.1 for r in rows)
    threshold = unsure_threshold(probabilities, labels)
    wrong = probabilities.argmax(axis=1) != labels
    assert (probabilities[wrong].max(axis=1) < threshold).mean() == pytest.approx(0.5, abs=0.02)
    assert unsure_threshold(np.eye(10)[labels], labels) == 0.6  # no mistakes: the default


def test_the_bundled_models_calibration_counts_the_mnist_digits_it_turns_away_as_the_pages_read_them(mnist_test):
    model, entry = ModelStore().load("lab-default")
    x, _ = mnist_test
    _, not_digit = Predictor(model, entry.normalization, entry.temperature).read(x / np.float32(255))
    assert entry.calibration["test_not_a_digit"] == pytest.approx(called_not_a_digit(not_digit).mean(), abs=1e-9)


def test_the_verdict_is_blank_unsure_or_digit():
    p = np.array([0.7, 0.3] + [0.0] * 8)
    assert Prediction(0, 0.7, p, None).verdict(0.6) == "digit"
    assert Prediction(0, 0.7, p, None).verdict(0.79) == "unsure"
    assert Prediction(None, 0.0, None, None, "no ink").verdict() == "blank"


def test_a_calibration_is_kept_in_the_record_and_refused_for_a_replaced_model(tiny, tmp_path):
    from model_store.networks import cnn_fast

    model, _, _ = tiny
    store = ModelStore(tmp_path / "models", bundled_dir=None)
    entry = store.save(model, {"name": "mine", "normalization": "scale"})
    assert entry.temperature == 1.0 and entry.unsure_below == 0.6 and entry.calibration is None
    entry = keep(store, entry, Calibration(0.5, 0.8, {"MNIST test": {"ece_before": 0.09, "ece_after": 0.01}}))
    assert store.get("mine").temperature == 0.5 and store.get("mine").unsure_below == 0.8
    store.save(cnn_fast(), {"name": "mine", "normalization": "scale"}, overwrite=True)
    assert store.get("mine").calibration is None  # the new model is not the one calibrated
    with pytest.raises(StoreError, match="changed while its calibration was made"):
        keep(store, entry, Calibration(0.5, 0.8, {}))
