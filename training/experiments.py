"""Experiments: one recipe, one option varied over a few values, one queued run per value.

Notebook B asks a class to try batch size 32 against 10,000, more or fewer layers, more or fewer
nodes, and to see what happens to the time and the accuracy; `READY_MADE` holds its questions.
Each run carries `experiment: {name, variable, value}` in its config, and the board groups runs
by it (`results`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from model_store.names import formula_safe
from model_store.roles import Person
from model_store.store import ModelStore, validate_name
from training.config import OPTIMIZERS, PRESETS, ConfigError, TrainConfig
from training.limits import check_run, read_limits

MAX_VALUES = 8
# The dense zoo networks as custom stacks (widths, dropout), so their layers can be varied.
DENSE_STACKS = {"dense-128": ((128,), 0.0), "dense-128-128": ((128, 128), 0.0), "dense-512-512-dropout": ((512, 512), 0.2)}


def _dense(c: TrainConfig, field: str) -> tuple[tuple[int, ...], float]:
    """The base network's dense layer widths and dropout; only dense networks have layers to vary."""
    if c.arch == "custom-dense":
        return tuple(c.dense_units), c.dropout
    if c.arch in DENSE_STACKS:
        return DENSE_STACKS[c.arch]
    raise ConfigError(field, f"{c.arch} is not a dense network: start from seed-a, seed-b, seed-d or a custom dense stack")


def _stack(c: TrainConfig, units: tuple[int, ...], dropout: float) -> TrainConfig:
    return dataclasses.replace(c, arch="custom-dense", dense_units=units, dropout=dropout)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[\s,]+", text.strip()) if part)


def _on_off(text: str) -> bool:
    if text.strip().lower() not in ("on", "off", "yes", "no", "true", "false"):
        raise ValueError("write on or off")
    return text.strip().lower() in ("on", "yes", "true")


@dataclass(frozen=True)
class Variable:
    label: str
    example: str  # values a person might try, one per line
    field: str  # the TrainConfig field it varies (its declared option: what it does, what it takes)
    apply: Callable[[TrainConfig, str], TrainConfig]
    help: str = ""  # what a value means, where it is not the field's own (the field's help otherwise)


def _set(label: str, example: str, field: str, parse) -> Variable:
    """A variable that sets one field to the value, parsed."""
    return Variable(label, example, field, lambda c, text: dataclasses.replace(c, **{field: parse(text)}))


def _layers(c: TrainConfig, text: str) -> TrainConfig:
    units, dropout = _dense(c, "dense_units")
    return _stack(c, (units[0],) * int(text), dropout)


def _nodes(c: TrainConfig, text: str) -> TrainConfig:
    units, dropout = _dense(c, "dense_units")
    return _stack(c, (int(text),) * len(units), dropout)


def _sizes(c: TrainConfig, text: str) -> TrainConfig:
    _, dropout = _dense(c, "dense_units")
    return _stack(c, _ints(text), dropout)


def _dropout(c: TrainConfig, text: str) -> TrainConfig:
    units, _ = _dense(c, "dropout")
    return _stack(c, units, float(text))


VARIABLES = {
    v.label: v
    for v in [
        _set("batch size", "32\n128\n1024\n10000", "batch_size", int),
        Variable(
            "number of layers", "1\n2\n3", "dense_units", _layers, "how many dense layers, each as wide as the recipe's first"
        ),
        Variable(
            "nodes per layer", "32\n128\n512", "dense_units", _nodes, "the width of every dense layer, as many as the recipe has"
        ),
        Variable("layer sizes", "128\n256, 128\n512, 256, 128", "dense_units", _sizes),
        Variable("dropout", "0\n0.2\n0.5", "dropout", _dropout),
        _set("optimizer", "\n".join(OPTIMIZERS[:4]), "optimizer", str.strip),
        _set("learning rate", "0.0001\n0.001\n0.01", "learning_rate", float),
        _set("epochs", "1\n3\n10", "epochs", int),
        _set("augmentation", "off\non", "augment", _on_off),
        _set("training images", "1000\n10000\n60000", "train_limit", int),
    ]
}


@dataclass(frozen=True)
class ReadyMade:
    title: str
    name: str
    preset: str
    variable: str
    values: tuple[str, ...]


READY_MADE = [
    ReadyMade(
        "Notebook B: batch size 32, 128, 1,024 or 10,000?", "nb-batch", "seed-b", "batch size", ("32", "128", "1024", "10000")
    ),
    ReadyMade("Notebook B: 1, 2 or 3 hidden layers?", "nb-layers", "seed-b", "number of layers", ("1", "2", "3")),
    ReadyMade("Notebook B: 32, 128 or 512 nodes a layer?", "nb-nodes", "seed-b", "nodes per layer", ("32", "128", "512")),
]


def plan(name: str, preset: str, variable: str, values: list[str]) -> list[tuple[str, TrainConfig]]:
    """One (value, config) per value: the recipe with the option set, checked, each named
    NAME-VALUE. Raises ConfigError naming what is wrong, before anything is queued."""
    validate_name(name)
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise ConfigError("values", "give at least one value, one a line")
    if len(values) > MAX_VALUES:
        raise ConfigError("values", f"at most {MAX_VALUES} values in one experiment (got {len(values)})")
    if len(set(values)) < len(values):
        raise ConfigError("values", "each value once")
    runs = []
    for value in values:
        try:
            config = VARIABLES[variable].apply(PRESETS[preset], value)
        except ConfigError:
            raise
        except (ValueError, TypeError):
            raise ConfigError(
                variable, f"{value!r} is not a value for {variable} (e.g. {VARIABLES[variable].example.split()[0]})"
            ) from None
        config.name = f"{name}-{re.sub(r'[^A-Za-z0-9.]+', '-', value).strip('-')}"
        runs.append((value, config.resolved()))
    return runs


def results(runs, records: dict[str, dict]) -> pd.DataFrame:
    """The board's table: one row per run of an experiment, with its stored model's figures once
    it is done. `records` maps model names to their stored records."""
    rows = []
    for run in runs:
        experiment = run.config.get("experiment") or {}
        if not experiment:
            continue
        record = records.get(run.model or "", {})
        metrics = record.get("metrics", {})
        rows.append(
            {
                "experiment": experiment["name"],
                "varied": experiment["variable"],
                "value": experiment["value"],
                "who": run.owner,
                "status": run.status,
                "test accuracy": metrics.get("test_accuracy"),
                "test loss": metrics.get("test_loss"),
                "training s": record.get("training_seconds"),
                "epochs": record.get("epochs_run"),
                "parameters": record.get("parameters"),
                "model": run.model,
            }
        )
    return pd.DataFrame(rows)


def csv_of(table: pd.DataFrame) -> str:
    """The table as CSV, each text cell formula-safe: a name like "=cmd" (an older run's, or one
    from a file) is written '=cmd, as text, not run by the spreadsheet that opens it."""
    return table.map(formula_safe).to_csv(index=False)


def submit_experiment(name: str, preset: str, variable: str, values: list[str], store: ModelStore, by: Person) -> int:
    """Queue one run per value; every run is checked against the class limits first, so a refused
    value queues none of them. How many were queued."""
    from training.runs import submit_run, waiting_of  # Ray, only once an experiment is queued

    runs = plan(name, preset, variable, values)
    limits, waiting = read_limits(by.class_id), waiting_of(by)
    for _, config in runs:
        check_run(config, by, waiting, limits, adding=len(runs))  # each of its runs counts against the waiting limit
    for value, config in runs:
        submit_run(config, store, by, experiment={"name": name, "variable": variable, "value": value})
    return len(runs)
