"""Full-MNIST runs: the notebooks' recipes reach their published accuracy; the bundled model
reaches its goals on MNIST and on the check sets. Minutes, not seconds: marked slow."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.teach import teach_once
from model_store import ModelStore, Predictor
from model_store.evaluation import evaluate, share_called_not_a_digit, share_turned_away
from training.checksets import make_checksets, naive_accuracy, read, read_right, undrawn_accuracy
from training.config import PRESETS
from training.engine import train
from training.nondigits import held_out_set

pytestmark = pytest.mark.slow

# Each notebook's published test accuracy; ours must come within 0.5 percentage points.
PUBLISHED = {"seed-a": 0.9716, "seed-c": 0.9922}
GOALS = {"canvas": 0.985, "printed": 0.995, "scans": 0.98, "strokes": 0.98}  # reached: 98.70, 100, 98.25, 98.50%
TURNED_AWAY = {"canvas": 0.01, "printed": 0.01, "scans": 0.01, "strokes": 0.03}  # real digits called "not a digit", at most


@pytest.mark.parametrize("preset", ["seed-a", "seed-c"])
def test_the_notebook_recipe_reaches_its_published_accuracy(preset, store):
    result = train(dataclasses.replace(PRESETS[preset], name=preset), store)
    assert result.entry.record["metrics"]["test_accuracy"] >= PUBLISHED[preset] - 0.005


def test_the_class_recipe_reaches_99_percent_in_seconds(store):
    """Issue 24's recipe: 99% on every seed tried (benchmarks/speed.py: 99.18-99.33% on six, in
    0.15x notebook C's time); one seed here, that not the preset's own."""
    result = train(dataclasses.replace(PRESETS["quick"], name="quick", seed=3), store)
    record = result.entry.record
    assert record["metrics"]["test_accuracy"] >= 0.99, record["metrics"]["test_accuracy"]
    assert record["epochs_run"] == 2 and record["parameters"] == 80_202


@pytest.fixture(scope="module")
def bundled():
    model, entry = ModelStore().load("lab-default")
    return entry, Predictor(model, entry.normalization, entry.temperature)  # calibrated, as the pages read


def test_the_bundled_model_reaches_99_6_percent_on_mnist(bundled):
    entry, predictor = bundled
    assert entry.bundled and entry.record["metrics"]["test_accuracy"] >= 0.996
    assert evaluate(predictor).accuracy == pytest.approx(entry.record["metrics"]["test_accuracy"], abs=1e-4)


def test_the_bundled_model_reads_drawn_printed_and_scanned_digits(bundled):
    _, predictor = bundled
    for check in make_checksets(2000):  # the sets the README reports
        readings = read(predictor, check)
        ours, naive = float(read_right(check, readings).mean()), naive_accuracy(predictor, check)
        turned = share_turned_away(readings)
        undrawn = "" if check.undrawn is None else f", {undrawn_accuracy(predictor, check):.2%} before redrawing"
        print(f"{check.name}: {ours:.2%} with the pipeline, {naive:.2%} with a plain resize, {turned:.2%} not a digit{undrawn}")
        assert ours >= GOALS[check.name] and ours > naive and turned <= TURNED_AWAY[check.name]


def test_the_bundled_model_turns_away_non_digits_of_kinds_it_never_learnt_from(bundled):
    entry, predictor = bundled
    metrics = entry.record["metrics"]
    assert metrics["test_not_a_digit"] <= 0.01 and metrics["non_digits_rejected"] >= 0.9
    # Another draw of the held-out kinds than the one in its record.
    assert share_called_not_a_digit(predictor, held_out_set(1000, seed=12)) >= 0.9


def test_teaching_the_default_model_a_numeral_system_it_never_saw_reaches_the_goal(tmp_path):
    """Issue 13's goal: 20 drawings a digit of the Chinese numerals (benchmarks/teach.py), 4 of
    each held back: held-back accuracy to at least 95%, MNIST's test accuracy down 0.3 points at most."""
    t = teach_once(20, 0, ModelStore(tmp_path / "models"), tmp_path)
    assert (t["drawings_taught"], t["drawings_held_back"]) == (160, 40)
    assert t["held_back_accuracy_before"] < 0.3, t  # read as other digits: 一 as 2, 八 as 1
    assert t["held_back_accuracy_after"] >= 0.95, t
    assert t["mnist_accuracy_after"] >= t["mnist_accuracy_before"] - 0.003, t
