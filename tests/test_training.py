"""The training engine: options checked, progress reported, stop obeyed, everything recorded."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from training.config import PRESETS, ConfigError, TrainConfig
from training.curves import best_epoch
from training.engine import REPORT_EVERY, build_model, prepare_data, train

pytestmark = pytest.mark.slow  # real Keras training, on small slices of MNIST

TINY = TrainConfig(arch="dense-128", epochs=2, batch_size=32, train_limit=2000, validation="split", validation_split=0.2)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1601}, "batch_size"),  # larger than the 1,600 training rows
        ({"learning_rate": -0.01}, "learning_rate"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": 0.0}, "validation_split"),
        ({"optimizer": "adamw2"}, "optimizer"),
        ({"arch": "resnet"}, "arch"),
        ({"loss": "hinge"}, "loss"),
        ({"normalization": "zscore"}, "normalization"),
        ({"dropout": 1.0}, "dropout"),
        ({"label_smoothing": 0.1, "loss": "sparse"}, "label_smoothing"),
        ({"augment": True, "normalization": "l2"}, "augment"),
        ({"validation": "none", "early_stopping": True}, "es_monitor"),
        ({"arch": "custom-dense", "dense_units": ()}, "dense_units"),
        ({"arch": "custom-cnn", "conv_filters": (0,)}, "conv_filters"),
        ({"not_digits": -1}, "not_digits"),
        ({"not_digits": 100_001}, "not_digits"),
        ({"redrawn_digits": 2.5}, "redrawn_digits"),
    ],
)
def test_out_of_range_options_are_refused_naming_the_field(change, field):
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(TINY, **change).resolved()
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


def test_the_architecture_fills_in_its_own_loss_and_normalisation():
    c = TrainConfig(arch="dense-128-128").resolved()
    assert (c.loss, c.normalization) == ("sparse", "l2")
    c = TrainConfig(arch="cnn-small", loss="sparse").resolved()
    assert (c.loss, c.normalization) == ("sparse", "scale")


def test_every_preset_is_valid_and_the_notebook_recipes_are_exact():
    for preset in PRESETS.values():
        preset.resolved()
    a, b, c, d = (PRESETS[f"seed-{k}"].resolved() for k in "abcd")
    assert (a.arch, a.normalization, a.loss, a.epochs, a.batch_size) == ("dense-128-128", "l2", "sparse", 3, 32)
    assert (b.arch, b.loss, b.batch_size, b.epochs, b.validation) == ("dense-512-512-dropout", "categorical", 128, 5, "test")
    assert (c.arch, c.epochs, c.validation_split, c.es_monitor, c.es_min_delta, c.es_patience, c.checkpoint_best) == (
        "cnn-small",
        5,
        0.3,
        "val_accuracy",
        0.01,
        4,
        True,
    )
    assert (d.arch, d.epochs, d.batch_size, d.validation) == ("dense-128", 10, 32, "test")


@pytest.mark.parametrize(
    "asked",
    [
        dict(arch="custom-dense", dense_units=(64, 32)),
        dict(arch="custom-dense", dense_units=(100,), not_digits=10),
        dict(arch="custom-cnn", conv_filters=(8, 16, 4), dense_units=(20,)),
        dict(arch="custom-cnn", conv_filters=(3,), dense_units=()),
        dict(arch="cnn-small"),
    ],
)
def test_the_class_limits_count_a_networks_parameters_as_keras_does_without_building_it(asked):
    from training.limits import parameters

    config = TrainConfig(**asked).resolved()
    assert parameters(config) == build_model(config).count_params()


def test_custom_stacks_are_built_from_the_config():
    model = build_model(TrainConfig(arch="custom-dense", dense_units=(64, 32), dropout=0.1).resolved())
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [64, 32, 10]


def test_a_run_reports_progress_and_stores_the_full_record(store):
    reports = []
    result = train(dataclasses.replace(TINY, name="run1"), store, on_progress=reports.append)
    batches = reports[0].batches
    assert batches == 50  # 1,600 rows / 32
    epoch_ends = [p for p in reports if p.phase == "epoch"]
    assert [p.epoch for p in epoch_ends] == [1, 2] and all(p.val_accuracy is not None for p in epoch_ends)
    assert [p.batch for p in reports if p.phase == "batch"] == [REPORT_EVERY, REPORT_EVERY]
    assert [p.phase for p in reports[-3:]] == ["evaluating", "saving", "done"]
    assert all(p.eta is not None and p.eta >= 0 for p in reports if p.phase == "batch")
    r = result.entry.record
    assert r["epochs_run"] == 2 and len(r["history"]["val_loss"]) == 2 and r["stopped_by"] is None
    # Keras' raw running means, for the curves: the last of each epoch is the epoch's mean.
    assert [row[:3] for row in r["progress"]] == [[1, 50, 50], [1, 50, 50], [2, 50, 50], [2, 50, 50]]
    assert [r["progress"][i][3] for i in (1, 3)] == pytest.approx(r["history"]["loss"], abs=1e-5)
    assert r["best_epoch"] is None  # the final weights were kept, not a checkpoint's
    m = r["metrics"]
    assert 0.5 < m["test_accuracy"] < 1 and len(m["per_class_accuracy"]) == 10
    assert np.asarray(m["confusion_matrix"]).sum() == 10_000
    assert r["parameters"] == 101_770 and r["summary"][0][3] == 100_480
    assert r["config"]["batch_size"] == 32 and r["normalization"] == "scale" and len(r["data_fingerprint"]) == 16
    assert set(r["versions"]) == {"tensorflow", "keras", "python"}
    probs = store.test_probabilities(result.entry)
    assert probs.shape == (10_000, 10)
    assert (probs.argmax(1) == result.evaluation.probabilities.argmax(1)).mean() > 0.99  # float16 on disk


def test_a_stop_request_ends_training_within_two_seconds_and_keeps_the_best_weights(store):
    stop = threading.Event()
    stopped_at = {}

    def on_progress(p):
        if p.phase == "epoch" and p.epoch == 2 and not stop.is_set():
            stop.set()
            stopped_at["t"] = time.monotonic()
        if p.phase == "evaluating":
            stopped_at["ended"] = time.monotonic()

    config = dataclasses.replace(TINY, name="stopped", epochs=50)
    result = train(config, store, on_progress=on_progress, stop=stop)
    assert result.stopped_by == "user" and result.entry.record["stopped_by"] == "user"
    assert stopped_at["ended"] - stopped_at["t"] < 2.0
    history = result.entry.record["history"]["val_accuracy"]
    assert len(history) <= 3  # it did not run on to 50 epochs
    assert result.entry.record["metrics"]["test_accuracy"] > 0.5
    assert result.entry.record["best_epoch"] == best_epoch(result.entry.record["history"], "val_accuracy")


def test_the_same_seed_gives_the_same_model(store):
    a = train(dataclasses.replace(TINY, name="a", epochs=1), store)
    b = train(dataclasses.replace(TINY, name="b", epochs=1), store)
    assert a.entry.record["metrics"]["test_accuracy"] == b.entry.record["metrics"]["test_accuracy"]


def test_early_stopping_and_best_checkpoint_use_keras_callbacks(store):
    config = dataclasses.replace(
        TINY, name="es", epochs=30, early_stopping=True, es_min_delta=0.5, es_patience=1, checkpoint_best=True
    )
    result = train(config, store)
    assert result.stopped_by == "early_stopping" and result.entry.record["epochs_run"] == 2


def test_augmented_training_with_printed_digits_runs_on_the_cnn(store):
    config = TrainConfig(
        name="aug",
        arch="custom-cnn",
        conv_filters=(8,),
        epochs=1,
        batch_size=64,
        train_limit=1000,
        augment=True,
        printed_digits=100,
    )
    result = train(config, store)
    assert result.entry.record["config"]["augment"] is True and result.entry.record["epochs_run"] == 1


def test_non_digits_give_an_eleventh_answer_that_is_trained_evaluated_and_recorded(store):
    """Generated non-digits teach "not a digit"; the record says how often it turns away real
    digits and non-digits of kinds it never learnt from (training.nondigits.held_out_set)."""
    config = TrainConfig(
        name="eleven", arch="cnn-fast", epochs=2, batch_size=64, train_limit=3000, validation="none", not_digits=1500
    )
    data = prepare_data(config.resolved())
    assert (data.y_train == 10).sum() >= 1490 and len(data.y_train) - 3000 == (data.y_train == 10).sum()
    result = train(config, store)
    model, entry = store.load("eleven")
    assert model.output_shape == (None, 11) and result.evaluation.probabilities.shape == (10_000, 10)
    metrics = entry.record["metrics"]
    assert metrics["test_accuracy"] > 0.85 and metrics["test_not_a_digit"] < 0.1  # digits stay digits (4.5% measured)
    assert metrics["non_digits_rejected"] > 0.5  # most unseen kinds turned away from 1,500 examples (82% measured)
    # Switched off, the same recipe answers with a digit only.
    assert (
        "non_digits_rejected" not in train(dataclasses.replace(config, name="ten", not_digits=0), store).entry.record["metrics"]
    )


def test_redrawn_digits_join_training_only_and_keep_their_labels():
    config = dataclasses.replace(TINY, train_limit=1000, redrawn_digits=60).resolved()
    data = prepare_data(config)
    assert len(data.y_val) == 200 and 855 <= len(data.y_train) <= 860  # 800 MNIST, ~60 redrawn (a faint scan may drop)
    assert data.x_train.max() <= 1.0 and set(np.unique(data.y_train[800:])) <= set(range(10))


def test_a_second_run_under_a_taken_name_is_refused_before_training(store):
    train(dataclasses.replace(TINY, name="taken", epochs=1), store)
    with pytest.raises(Exception, match="already exists"):
        train(dataclasses.replace(TINY, name="taken", epochs=1), store)
