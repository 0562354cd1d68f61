"""The class limits: how much training a student's run may ask for (its epochs and images, and
its size: the smallest and largest batch, the most layers, units, filters and parameters), how many runs one browser
may keep waiting and how many of a student's may train at once. They hold out of the box (the
defaults below); the teacher changes them on the Class page. Kept in the class database (its
setting "limits", `model_store.database`), so every app process of a school reads the same ones.

The waiting limit holds for everyone (one browser cannot fill the queue); the others for students.
The running limit is not a refusal: the board starts no more of a student's runs at once, and
the next waits its turn (`training.board`). The command line is not limited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from model_store.database import CLASS_SETTINGS, MAIN, Database, DatabaseError, class_key
from model_store.roles import Person, is_teacher, require
from model_store.zoo import ARCHITECTURES
from training.config import TRAIN_SIZE, TrainConfig, option

MOST_WAITING = 20  # the highest waiting limit the teacher may set
SETTING = CLASS_SETTINGS[0]  # the install's own class's limits (another class's: `limits_key`)


def limits_key(class_id: str) -> str:
    return class_key(SETTING, class_id)


class OverLimit(ValueError):
    """A run asks for more than the class limits allow; the message names the limit."""


def limit(default: int, label: str, low: int, high: int, help: str = "", **declared):
    """A class limit and its declaration (training.config's Option): what `check` and the Class page read."""
    return option(default, label, help, low=low, high=high, **declared)


@dataclass(frozen=True)
class Limits:
    epochs: int = limit(20, "Most epochs a run", 0, 1000)  # 0: no limit (the "default" recipe runs 15)
    # The most training images of a student run (MNIST's and the generated: printed, redrawn, non-digits;
    # the "default" recipe asks for 144,000); 0: no limit. MNIST's and up to 100,000 of each kind generated at most.
    train_images: int = limit(
        150_000,
        "Most training images a run",
        0,
        TRAIN_SIZE + 300_000,
        "MNIST images (all are 60,000) plus the generated ones: printed and redrawn digits, non-digits",
        step=5000,
    )
    # The most runs one browser may have waiting: an experiment of the most values (8) fits.
    waiting: int = limit(8, "Most runs waiting", 1, MOST_WAITING, "per person")
    # The most runs of one student training at once (the rest wait their turn); 0: no limit.
    running: int = limit(
        1, "Most runs training at once", 0, 64, "per student (0: no limit); their next run waits its turn, it is not refused"
    )
    smallest_batch: int = limit(8, "Smallest batch", 1, 1024)  # a batch of 1 is 60,000 steps an epoch: minutes of everyone's CPU
    layers: int = limit(6, "Most layers", 1, 64, "of a custom network")  # the most dense and conv layers of a custom network
    units: int = limit(2048, "Most units a layer", 1, 4096)  # the most units of one dense layer
    filters: int = limit(256, "Most filters a layer", 1, 4096)  # the most filters of one conv layer
    # The most parameters of a student's network: every recipe's is under 0.7 million, and 6 layers of
    # 2,048 units would be 22 million (memory and minutes of CPU an epoch). 0: no limit.
    parameters: int = limit(
        3_000_000,
        "Most parameters a network",
        0,
        100_000_000,
        "its weights, counted before it is built (0: no limit); every recipe's are under 0.7 million",
        step=500_000,
    )
    # Notebook B's experiment goes up to 10,000; 60,000 at once is GBs of activations.
    largest_batch: int = limit(10_000, "Largest batch", 1, TRAIN_SIZE)

    def check(self) -> Limits:
        """Itself when every figure is in its declared range; OverLimit naming the wrong one otherwise."""
        for f in fields(self):
            if refusal := f.metadata["option"].refusal(getattr(self, f.name)):
                raise OverLimit(f"{f.name.replace('_', ' ')} {refusal}")
        return self


def read_limits(class_id: str = MAIN) -> Limits:
    """The class limits; the defaults when none were set, or when they cannot be read (the
    Class page says so: `limits_problem`)."""
    try:
        return _saved(class_id)
    except (DatabaseError, ValueError, TypeError):
        return Limits()


def limits_problem(class_id: str = MAIN) -> str | None:
    """Why the saved limits cannot be read, for the teacher; None when they can (or none were saved)."""
    try:
        _saved(class_id)
    except (DatabaseError, ValueError, TypeError) as err:
        return f"the class limits cannot be read ({err}); the default limits apply until they are saved again"
    return None


def _saved(class_id: str) -> Limits:
    value = Database().setting(limits_key(class_id))
    if value is None:
        return Limits()
    return limits_from(json.loads(value))


def limits_from(saved: dict) -> Limits:
    """Limits from their saved fields (a field not saved keeps its default), checked."""
    if not isinstance(saved, dict):
        raise ValueError(f"the saved limits are not a table of figures (got {type(saved).__name__})")
    return Limits(**{f.name: saved[f.name] for f in fields(Limits) if f.name in saved}).check()


def save_limits(limits: Limits, by: Person) -> None:
    """The limits of `by`'s class (the teacher's)."""
    require(by, "set_limits")
    Database().set_setting(limits_key(by.class_id), json.dumps(asdict(limits.check())))


def training_images(config: TrainConfig) -> int:
    """How many images one epoch of the run trains on: MNIST's (all or the first N) and the generated."""
    return (config.train_limit or TRAIN_SIZE) + config.printed_digits + config.redrawn_digits + config.not_digits


def check_run(config: TrainConfig, by: Person, waiting: int, limits: Limits, adding: int = 1) -> None:
    """Refuse with OverLimit a run over the class limits; `waiting`: the browser's runs waiting now,
    `adding`: how many this press queues (an experiment's runs each count)."""
    if waiting + adding > limits.waiting:
        these = "" if adding == 1 else f" and this experiment queues {adding} more"
        raise OverLimit(
            f"you already have {waiting} runs waiting{these} (the class limit is {limits.waiting}): "
            "cancel one, or wait for one to start"
        )
    if is_teacher(by):
        return
    if limits.epochs and config.epochs > limits.epochs:
        raise OverLimit(
            f"the class limit is {limits.epochs} epochs for a student run (this one asks for {config.epochs}); "
            "ask your teacher to raise it"
        )
    if limits.train_images and training_images(config) > limits.train_images:
        raise OverLimit(
            f"the class limit is {limits.train_images:,} training images for a student run "
            f"(this one asks for {training_images(config):,}: set Training images, or the printed, redrawn or non-digit "
            "images, lower); ask your teacher to raise it"
        )
    if refusal := too_big(config, limits):
        raise OverLimit(f"the class limit is {refusal}; ask your teacher to raise it")


def too_big(config: TrainConfig, limits: Limits) -> str | None:
    """The size limit the run passes, as a refusal names it; None when it keeps to all of them."""
    dense = config.dense_units if config.arch in ("custom-dense", "custom-cnn") else ()
    conv = config.conv_filters if config.arch == "custom-cnn" else ()
    weights = parameters(config)
    checks = [
        (config.batch_size < limits.smallest_batch, f"a batch of at least {limits.smallest_batch}", config.batch_size),
        (config.batch_size > limits.largest_batch, f"a batch of at most {limits.largest_batch:,}", config.batch_size),
        (len(dense) + len(conv) > limits.layers, f"{limits.layers} layers", len(dense) + len(conv)),
        (max(dense, default=0) > limits.units, f"{limits.units:,} units a layer", max(dense, default=0)),
        (max(conv, default=0) > limits.filters, f"{limits.filters:,} filters a layer", max(conv, default=0)),
        (limits.parameters and weights > limits.parameters, f"{limits.parameters:,} parameters a network", weights),
    ]
    return next((f"{limit} (this one asks for {asked:,})" for over, limit, asked in checks if over), None)


def parameters(config: TrainConfig) -> int:
    """The weights of the network the run builds, counted without building it (nor loading
    TensorFlow): a zoo network's as the zoo gives it (with ten outputs: an 11th adds under 2,000),
    a custom stack's from its layers (a test holds it to Keras' count). A taught model is one
    already stored: 0 here."""
    if config.teach:
        return 0
    if config.arch in ARCHITECTURES:
        return ARCHITECTURES[config.arch].parameters
    classes, count, side, channels = config.classes, 0, 28, 1
    if config.arch == "custom-cnn":
        for filters in config.conv_filters:  # Conv2D(3x3, same) then MaxPool(2): the side halves
            count += 9 * channels * filters + filters
            side, channels = side // 2, filters
    inputs = side * side * channels
    for width in (*config.dense_units, classes):
        count += inputs * width + width
        inputs = width
    return count
