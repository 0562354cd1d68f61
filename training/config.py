"""Every training option the notebooks show, in one dataclass passed whole, and their presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from model_store.preprocess import NORMALIZATIONS
from model_store.store import NAME_PATTERN
from model_store.zoo import ARCHITECTURES

CUSTOM_ARCHITECTURES = ("custom-dense", "custom-cnn")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
LOSSES = ("sparse", "categorical")  # sparse_categorical_crossentropy / categorical_crossentropy
SCHEDULES = ("constant", "cosine", "one-cycle")
VALIDATIONS = ("split", "test", "none")  # a fraction of the training set, the test set, or none
MONITORS = ("val_accuracy", "val_loss", "accuracy", "loss")
TRAIN_SIZE = 60_000


# What each option does and what it takes: the command line's --help and the Train page's "?".
HELP = {
    "name": "the stored model's name: letters, digits, '.', '_' and '-', at most 64; empty gives ARCH-DATE-TIME",
    "arch": f"the network: {', '.join(ARCHITECTURES)} (the notebooks' and the default CNN), "
    "or your own stack: custom-dense, custom-cnn",
    "dense_units": "custom stacks: the width of each dense layer, 1-4096 each (e.g. 256 128)",
    "conv_filters": "custom-cnn: the filters of each conv + pool block, 1-4096 each (e.g. 32 64)",
    "dropout": "custom stacks: the fraction dropped after each dense layer, 0 to below 1",
    "optimizer": f"how the weights move: {', '.join(OPTIMIZERS)}; adam suits most cases",
    "learning_rate": "the step size, above 0 up to 10 (the peak with a schedule)",
    "schedule": "the learning rate over time: constant; cosine (decays to ~0); one-cycle (warms up, then decays: fast)",
    "loss": "cross-entropy on sparse (integer) or categorical (one-hot) labels; unset: what the architecture's notebook used",
    "label_smoothing": "softer targets, 0 to below 1; categorical loss only",
    "normalization": "input scaling: scale (pixels / 255) or l2 (notebook A's L2 along axis 1); unset: the architecture's own",
    "batch_size": "images per step, 1 to the number of training rows: larger is faster per epoch, small is noisier",
    "epochs": "passes over the training images, 1-1000",
    "validation": "validate on: split (the last part of the training set), test (the test set, as notebooks B and D), none",
    "validation_split": "with validation split: the fraction held back, above 0 and below 1, taken from the end as Keras does",
    "early_stopping": "stop when the monitored figure stops improving",
    "es_monitor": f"what early stopping and the best-epoch checkpoint watch: {', '.join(MONITORS)}",
    "es_min_delta": "the least change that counts as better, 0 or more",
    "es_patience": "epochs without improvement before stopping, 0-1000",
    "checkpoint_best": "end with the best epoch's weights (by the monitored figure), as notebook C does",
    "augment": "random shifts, rotations, zoom and stroke thickness, so it reads real handwriting (scale input only)",
    "printed_digits": "add this many synthetic printed digits (Hershey fonts) to training, 0-100000",
    "redrawn_digits": "add this many MNIST training digits redrawn as canvas strokes (any brush, slanted, wobbling) "
    "and as low-resolution scans, 0-100000",
    "not_digits": "teach an 11th answer, 'not a digit', from this many generated drawings that are not digits "
    "(letters, symbols, shapes, doodles, scribbles), 0-100000; 0 keeps the ten digits only",
    "seed": "the random seed: the same seed gives the same model",
    "train_limit": "train on the first N of the 60,000 training images, 0-60000; 0 means all",
    "teach": "teach this stored model the class drawings instead of training a new one: it is fine-tuned on them, "
    "mixed with the first --train-limit MNIST images, and measured on the held-back ones",
    "held_back": "teaching: the fraction of the class drawings held back to measure it, per digit, 0.05-0.5",
}


class ConfigError(ValueError):
    """An option out of range; `field` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class TrainConfig:
    name: str = ""  # the stored model's name; "" gives "<arch>-<date>-<time>"
    arch: str = "cnn-lab"  # a zoo name, "custom-dense" or "custom-cnn"
    dense_units: tuple[int, ...] = (128,)  # custom stacks: width of each dense layer
    conv_filters: tuple[int, ...] = (32, 64)  # custom-cnn: filters of each conv block
    dropout: float = 0.0  # custom stacks: dropout rate
    optimizer: str = "adam"
    learning_rate: float = 0.001  # the peak rate when a schedule is used
    schedule: str = "constant"  # "cosine" decays to ~0; "one-cycle" warms up, then decays
    loss: str | None = None  # "sparse" or "categorical"; None: the architecture's notebook
    label_smoothing: float = 0.0  # categorical loss only
    normalization: str | None = None  # "scale" (/255) or "l2"; None: the architecture's own
    batch_size: int = 32
    epochs: int = 5
    validation: str = "split"
    validation_split: float = 0.1  # the last fraction of the training set, as Keras takes it
    early_stopping: bool = False
    es_monitor: str = "val_accuracy"
    es_min_delta: float = 0.0
    es_patience: int = 3
    checkpoint_best: bool = False  # end with the best epoch's weights (by es_monitor)
    augment: bool = False  # random shifts, rotations, zoom and stroke thickness
    printed_digits: int = 0  # add this many synthetic printed digits to the training set
    redrawn_digits: int = 0  # ... and this many MNIST training digits redrawn on the canvas or scanned
    not_digits: int = 0  # > 0: an 11th class, "not a digit", learnt from this many generated non-digits
    seed: int = 42
    train_limit: int = 0  # train on the first N images only; 0 means all 60,000
    teach: str = ""  # a stored model to teach the class drawings (training.teach); "" trains a new one
    held_back: float = 0.2  # teaching: the fraction of the drawings kept back to measure it

    def resolved(self) -> TrainConfig:
        """A copy with the architecture's defaults filled in, checked."""
        c = dataclasses.replace(self)
        arch = ARCHITECTURES.get(c.arch)
        if c.loss is None:
            c.loss = arch.labels if arch else "categorical"
        if c.normalization is None:
            c.normalization = arch.normalization if arch else "scale"
        c.dense_units, c.conv_filters = tuple(c.dense_units), tuple(c.conv_filters)
        validate(c)
        return c

    @property
    def train_size(self) -> int:
        return self.train_limit or TRAIN_SIZE

    @property
    def monitor(self) -> str:
        """What early stopping and the best-only checkpoint watch: without validation data, the
        training loss instead of a validation figure."""
        return self.es_monitor if self.validation != "none" or not self.es_monitor.startswith("val_") else "loss"

    @property
    def classes(self) -> int:
        """The model's outputs: the ten digits, and "not a digit" when it learns from non-digits."""
        return 11 if self.not_digits else 10

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _choice(field: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(field, f"{value!r} is not one of {', '.join(map(str, choices))}")


def _between(field: str, value, low, high, low_open=False, high_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "[") + str(low), str(high) + (")" if high_open else "]")
        raise ConfigError(field, f"must be a number in {lo}, {hi} (got {value!r})")


def validate(c: TrainConfig) -> None:
    """Refuse out-of-range options with a message that names the field."""
    _choice("arch", c.arch, (*ARCHITECTURES, *CUSTOM_ARCHITECTURES))
    _choice("optimizer", c.optimizer, OPTIMIZERS)
    _choice("schedule", c.schedule, SCHEDULES)
    _choice("loss", c.loss, LOSSES)
    _choice("normalization", c.normalization, NORMALIZATIONS)
    _choice("validation", c.validation, VALIDATIONS)
    _choice("es_monitor", c.es_monitor, MONITORS)
    _between("train_limit", c.train_limit, 0, TRAIN_SIZE)
    if not isinstance(c.epochs, int) or not 1 <= c.epochs <= 1000:
        raise ConfigError("epochs", f"must be a whole number from 1 to 1000 (got {c.epochs!r})")
    if c.validation == "split":
        _between("validation_split", c.validation_split, 0, 1, low_open=True, high_open=True)
    train_rows = c.train_size * (1 - c.validation_split if c.validation == "split" else 1)
    if not isinstance(c.batch_size, int) or not 1 <= c.batch_size <= train_rows:
        raise ConfigError(
            "batch_size", f"must be a whole number from 1 to {int(train_rows)}, the training rows (got {c.batch_size!r})"
        )
    _between("learning_rate", c.learning_rate, 0, 10, low_open=True)
    _between("label_smoothing", c.label_smoothing, 0, 1, high_open=True)
    _between("dropout", c.dropout, 0, 1, high_open=True)
    _between("es_min_delta", c.es_min_delta, 0, 1e9)
    _between("es_patience", c.es_patience, 0, 1000)
    for field in ("printed_digits", "redrawn_digits", "not_digits"):
        if not isinstance(getattr(c, field), int) or not 0 <= getattr(c, field) <= 100_000:
            raise ConfigError(field, f"must be a whole number from 0 to 100000 (got {getattr(c, field)!r})")
    _between("held_back", c.held_back, 0.05, 0.5)
    if c.teach and not NAME_PATTERN.fullmatch(c.teach):
        raise ConfigError("teach", f"{c.teach!r} is not a model name")
    if c.label_smoothing and c.loss != "categorical":
        raise ConfigError("label_smoothing", "needs the categorical loss (Keras' sparse loss has no smoothing)")
    if c.augment and c.normalization != "scale":
        raise ConfigError("augment", "works with the 'scale' normalization only")
    needs_validation = (c.early_stopping or c.checkpoint_best) and c.es_monitor.startswith("val_")
    if needs_validation and c.validation == "none":
        raise ConfigError("es_monitor", f"{c.es_monitor} needs validation data: choose a split or the test set")
    custom = {"custom-dense": c.dense_units, "custom-cnn": c.conv_filters}.get(c.arch)
    if custom is not None and (not custom or any(not isinstance(u, int) or not 1 <= u <= 4096 for u in custom)):
        field = "dense_units" if c.arch == "custom-dense" else "conv_filters"
        raise ConfigError(field, f"needs one or more layer sizes from 1 to 4096 (got {custom!r})")


# Each notebook's exact recipe, and the project's own.
PRESETS: dict[str, TrainConfig] = {
    "seed-a": TrainConfig(arch="dense-128-128", normalization="l2", loss="sparse", batch_size=32, epochs=3, validation="none"),
    "seed-b": TrainConfig(arch="dense-512-512-dropout", loss="categorical", batch_size=128, epochs=5, validation="test"),
    "seed-c": TrainConfig(
        arch="cnn-small",
        loss="categorical",
        batch_size=32,
        epochs=5,
        validation="split",
        validation_split=0.3,
        early_stopping=True,
        es_monitor="val_accuracy",
        es_min_delta=0.01,
        es_patience=4,
        checkpoint_best=True,
    ),
    "seed-d": TrainConfig(arch="dense-128", loss="categorical", batch_size=32, epochs=10, validation="test"),
    "default": TrainConfig(
        arch="cnn-lab",
        loss="categorical",
        label_smoothing=0.1,
        optimizer="adam",
        learning_rate=0.003,
        schedule="one-cycle",
        batch_size=128,
        epochs=15,
        validation="split",
        validation_split=1 / 12,
        checkpoint_best=True,
        augment=True,
        printed_digits=12_000,
        redrawn_digits=36_000,
        not_digits=36_000,
    ),
    # Teaching a stored model the class drawings: a few gentle epochs on 10,000 MNIST images and the drawings.
    "teach": TrainConfig(
        teach="lab-default",
        optimizer="adam",
        learning_rate=0.0003,
        batch_size=64,
        epochs=3,
        validation="none",
        train_limit=10_000,
    ),
    # The class's recipe (the Train page's first choice): 99% in seconds. A small conv net, two
    # epochs of a one-cycle schedule at a high peak, a large batch, nothing held back to validate.
    "quick": TrainConfig(
        arch="cnn-fast", loss="categorical", learning_rate=0.02, schedule="one-cycle", batch_size=256, epochs=2, validation="none"
    ),
}
