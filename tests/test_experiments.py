"""Experiments: a recipe with one option varied, checked before anything is queued."""

from __future__ import annotations

import pytest

from training.config import ConfigError
from training.experiments import READY_MADE, VARIABLES, plan, results
from training.runs import Run


def planned(name: str) -> list:
    ready = next(r for r in READY_MADE if r.name == name)
    return plan(ready.name, ready.preset, ready.variable, list(ready.values))


def test_notebook_b_batch_sizes_keep_its_512_512_network():
    runs = planned("nb-batch")
    assert [value for value, _ in runs] == ["32", "128", "1024", "10000"]
    assert [c.batch_size for _, c in runs] == [32, 128, 1024, 10000]
    assert {c.arch for _, c in runs} == {"dense-512-512-dropout"} and {c.epochs for _, c in runs} == {5}
    assert [c.name for _, c in runs] == ["nb-batch-32", "nb-batch-128", "nb-batch-1024", "nb-batch-10000"]


def test_notebook_b_layers_and_nodes_become_dense_stacks_with_its_dropout():
    layers = planned("nb-layers")
    assert [c.dense_units for _, c in layers] == [(512,), (512, 512), (512, 512, 512)]
    nodes = planned("nb-nodes")
    assert [c.dense_units for _, c in nodes] == [(32, 32), (128, 128), (512, 512)]
    assert {(c.arch, c.dropout, c.loss, c.validation) for _, c in layers + nodes} == {
        ("custom-dense", 0.2, "categorical", "test")
    }


def test_every_variable_takes_its_own_example_values():
    for label, variable in VARIABLES.items():
        runs = plan("try", "seed-d", label, variable.example.splitlines())
        assert len(runs) == len(variable.example.splitlines()), label


@pytest.mark.parametrize(
    "preset, variable, values, named",
    [
        ("seed-b", "batch size", ["32", "lots"], "'lots' is not a value for batch size"),
        ("seed-b", "batch size", ["70000"], "batch_size"),  # more than the training rows
        ("seed-c", "number of layers", ["1", "2"], "cnn-small is not a dense network"),
        ("seed-b", "epochs", ["1", "1"], "each value once"),
        ("seed-b", "epochs", [str(i) for i in range(1, 10)], "at most 8 values"),
        ("seed-b", "epochs", ["", " "], "at least one value"),
        ("seed-b", "optimizer", ["adam", "newton"], "optimizer"),
    ],
)
def test_bad_experiments_are_refused_naming_what_is_wrong(preset, variable, values, named):
    with pytest.raises(ConfigError, match=named):
        plan("bad", preset, variable, values)


def test_the_board_table_has_a_row_per_run_with_its_model_figures():
    experiment = {"name": "nb-batch", "variable": "batch size", "value": "32"}
    runs = [
        Run("1", "done", {"owner": "ada", "experiment": experiment}, model="nb-batch-32"),
        Run("2", "waiting", {"owner": "bob", "experiment": {**experiment, "value": "128"}}),
        Run("3", "done", {"owner": "cy"}, model="plain"),  # not an experiment's
    ]
    record = {
        "metrics": {"test_accuracy": 0.98, "test_loss": 0.07},
        "training_seconds": 12.5,
        "epochs_run": 5,
        "parameters": 669_706,
    }
    table = results(runs, {"nb-batch-32": record})
    assert table["value"].tolist() == ["32", "128"] and table["who"].tolist() == ["ada", "bob"]
    assert table["test accuracy"].iloc[0] == 0.98 and table["parameters"].iloc[0] == 669_706
    assert table["status"].tolist() == ["done", "waiting"] and table["test accuracy"].isna().iloc[1]
