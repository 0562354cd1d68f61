"""Training curves: window means recovered from Keras' running means, axes that fit, one chart."""

from __future__ import annotations

import numpy as np
import pytest

from training.curves import Report, best_epoch, compare_curves, record_curves, run_curves, value_range, window_means


def running_reports(losses: np.ndarray, batches: int, every: int = 50) -> list[Report]:
    """What the engine reports: Keras' running mean since the epoch began, every `every`
    batches and at the epoch's end, for per-batch losses laid out epoch after epoch."""
    reports = []
    for epoch, start in enumerate(range(0, len(losses), batches), start=1):
        epoch_losses = losses[start : start + batches]
        for n in [*range(every, batches, every), batches]:
            mean = float(epoch_losses[:n].mean())
            reports.append(Report(epoch, n, batches, mean, 1 - mean / 8))
    return reports


def test_window_means_are_the_means_of_the_batches_between_reports():
    losses = np.arange(1, 241, dtype=float)  # 2 epochs of 120 batches: windows 50, 50, 20
    points = window_means(running_reports(losses, 120), "loss")
    expected = [losses[a:b].mean() for a, b in [(0, 50), (50, 100), (100, 120), (120, 170), (170, 220), (220, 240)]]
    assert [v for _, v in points] == pytest.approx(expected)
    # Each drawn at the middle of its window, on a continuous epoch axis.
    assert [x for x, _ in points] == pytest.approx([25 / 120, 75 / 120, 110 / 120, 1 + 25 / 120, 1 + 75 / 120, 1 + 110 / 120])


def test_a_steadily_falling_loss_has_no_cliff_at_epoch_boundaries():
    rng = np.random.default_rng(0)
    batches, epochs, noise = 1875, 3, 0.05  # notebook D: 60,000 images in batches of 32
    t = np.arange(batches * epochs)
    losses = 0.08 + 0.6 * np.exp(-t / 2500) + rng.normal(0, noise, t.size)
    reports = running_reports(losses, batches)
    windows = np.array([v for _, v in window_means(reports, "loss")])
    allowed = 4 * noise / np.sqrt(25)  # the noise of one window's mean, the smallest window 25 batches
    assert np.diff(windows).max() < allowed
    # The old way drew the running means themselves: a cliff at each new epoch.
    raw = np.array([r.loss for r in reports])
    boundaries = [i for i in range(1, len(reports)) if reports[i].epoch != reports[i - 1].epoch]
    assert min(raw[i - 1] - raw[i] for i in boundaries) > 0.04  # 0.154 and 0.049 here
    drops = -np.diff(windows)
    window_boundaries = [i - 1 for i in boundaries]  # same indices: one window per report
    assert max(drops[i] for i in window_boundaries) < 0.03


def test_best_epoch_follows_keras_checkpoint_rules():
    assert best_epoch({"val_accuracy": [0.9, 0.95, 0.95, 0.93]}, "val_accuracy") == 2  # the first of a tie
    assert best_epoch({"val_loss": [0.3, 0.2, 0.25]}, "val_loss") == 2
    assert best_epoch({"loss": []}, "val_loss") is None


def record(name: str, accuracy: float, epochs: int = 3, progress=True) -> dict:
    losses = np.linspace(0.8, 0.1, 300 * epochs)
    history = {
        "loss": [0.5, 0.2, 0.1][:epochs],
        "accuracy": [0.9, 0.95, 0.97][:epochs],
        "val_loss": [0.3, 0.2, 0.22][:epochs],
        "val_accuracy": [0.93, 0.96, 0.955][:epochs],
    }
    return {
        "name": name,
        "history": history,
        "progress": [list(r) for r in running_reports(losses, 300)] if progress else None,
        "best_epoch": 2,
        "metrics": {"test_accuracy": accuracy, "test_loss": 0.21},
    }


def test_a_record_draws_windows_validation_points_the_best_epoch_and_the_test_figure():
    curves = record_curves(record("a", 0.9612))
    accuracy = curves[curves.metric == "accuracy"]
    assert set(accuracy.series) == {"training", "validation", "test 96.12%"}
    validation = accuracy[accuracy.series == "validation"]
    assert list(validation.epoch) == [1, 2, 3] and validation.point.all()
    assert list(validation[validation.best].epoch) == [2]  # ringed: the kept epoch
    test = accuracy[accuracy.series == "test 96.12%"]
    assert list(test.epoch) == [3] and list(test.value) == [0.9612]
    assert set(curves[curves.metric == "loss"].series) == {"training", "validation", "test 0.2100"}


def test_an_old_record_without_raw_reports_still_draws_its_epoch_means_mid_epoch():
    old = record("old", 0.96, progress=False)
    del old["best_epoch"]
    curves = record_curves(old)
    training = curves[(curves.metric == "loss") & (curves.series == "training")]
    assert list(training.epoch) == [0.5, 1.5, 2.5] and list(training.value) == [0.5, 0.2, 0.1]
    assert not curves.best.any()
    # Trained with a best-only checkpoint: the kept epoch is worked out from its history.
    old["config"] = {"checkpoint_best": True, "es_monitor": "val_accuracy", "validation": "split"}
    assert list(record_curves(old).query("best").epoch) == [2, 2]  # on the loss and accuracy charts


def test_compare_names_each_model_with_its_test_accuracy():
    curves = compare_curves([record("a", 0.9612), record("b", 0.9801, epochs=2)], "val_accuracy")
    assert set(curves.series) == {"a (test 96.12%)", "b (test 98.01%)"}
    assert len(curves[curves.series == "b (test 98.01%)"]) == 2
    assert compare_curves([], "loss").empty


def test_accuracy_is_zoomed_to_the_range_reached_and_loss_starts_at_zero():
    curves = record_curves(record("a", 0.9612))
    low, high = value_range(curves, "accuracy")
    points = curves[(curves.metric == "accuracy") & curves.point]
    assert 0.85 < low <= points.value.min() and points.value.max() <= high <= 1.0
    assert value_range(curves, "loss") == (0.0, pytest.approx(curves[curves.metric == "loss"].value.max() * 1.05))
    # A flat 15-epoch run near 99.6% still fills the chart instead of lying on its top edge.
    flat = run_curves(None, {"accuracy": [0.99] * 15, "val_accuracy": [0.994 + 0.0001 * i for i in range(15)]})
    low, high = value_range(flat, "accuracy")
    assert high - low < 0.01


def test_one_chart_builder_draws_the_zoomed_domain():
    from pages.common.curves import curve_chart

    curves = record_curves(record("a", 0.9612))
    spec = curve_chart(curves, "accuracy").to_dict()
    domain = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert domain == pytest.approx(list(value_range(curves, "accuracy")))
    assert spec["layer"][0]["encoding"]["y"]["axis"]["format"] == ".1%"
    log = curve_chart(curves, "loss", log=True).to_dict()
    assert log["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    # A taught model right on every held-back drawing: an axis 99.8%-100%, its ticks still told apart.
    perfect = run_curves(None, {"val_accuracy": [1.0, 1.0, 1.0]})
    spec = curve_chart(perfect, "accuracy").to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"]["domain"] == pytest.approx([0.998, 1.0])
    assert spec["layer"][0]["encoding"]["y"]["axis"]["format"] == ".2%"
