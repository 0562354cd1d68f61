"""Every training option the notebooks show, in one dataclass passed whole, and their presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Option:
    """One option, declared once in its field's metadata (`option`): what the command line's
    --help, `validate`, the Train and Experiments forms (and, for the class limits, the Class page)
    all read."""

    label: str  # the forms' label
    help: str = ""  # what it does and what it takes; "{range}" in it is the declared range, in words
    widget: str = "number"  # number, select, radio, checkbox, text, or sizes (whole numbers separated by commas)
    choices: tuple = ()
    low: float | None = None
    high: float | None = None  # None: no top
    low_open: bool = False  # `low` itself is refused
    high_open: bool = False
    whole: bool = False  # a whole number (set from the field's default by `option`)
    step: float | None = None  # the form's step
    format: str | None = None  # the form's number format

    @property
    def range(self) -> str:
        """The range in words: "1-1000", "0 to below 1", "above 0 up to 10", "0 or more"."""
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            return f"{low} or more"
        if not (self.low_open or self.high_open):
            return f"{low}-{high}"
        if self.low_open:
            return f"above {low} {'and below' if self.high_open else 'up to'} {high}"
        return f"{low} to below {high}"

    @property
    def text(self) -> str:
        """The help, its range written in."""
        return self.help.format(range=self.range) if self.low is not None else self.help

    def refusal(self, value) -> str | None:
        """Why `value` is outside the declared choices or range (as ConfigError and OverLimit
        say it); None when it is inside, or nothing is declared."""
        if self.choices:
            return None if value in self.choices else f"{value!r} is not one of {', '.join(map(str, self.choices))}"
        if self.low is None:
            return None
        high = math.inf if self.high is None else self.high
        if self.whole:
            if isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= high:
                return None
            return f"must be a whole number from {self.low} to {self.high} (got {value!r})"
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > self.low if self.low_open else value >= self.low)
        ok = ok and (value < high if self.high_open else value <= high)
        if ok:
            return None
        top = "inf" if self.high is None else str(self.high)
        low, high = ("(" if self.low_open else "[") + str(self.low), top + (")" if self.high_open else "]")
        return f"must be a number in {low}, {high} (got {value!r})"


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def option(default, label: str, help: str = "", **declared) -> dataclasses.Field:
    """A field and its option (`Option`), in one declaration."""
    whole = isinstance(default, int) and not isinstance(default, bool)
    return field(default=default, metadata={"option": Option(label, help, whole=whole, **declared)})


def option_of(name: str, of=None) -> Option:
    """The declared option of a TrainConfig field (or of another dataclass's, `of`)."""
    return next(f.metadata["option"] for f in dataclasses.fields(of or TrainConfig) if f.name == name)


class ConfigError(ValueError):
    """An option out of range; `field` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


ARCH_CHOICES = (*ARCHITECTURES, *CUSTOM_ARCHITECTURES)
SIZES = dict(widget="sizes", low=1, high=4096)  # each layer's width or filters


@dataclass
class TrainConfig:
    name: str = option(
        "",
        "Model name",
        "the stored model's name: letters, digits, '.', '_' and '-', at most 64; empty gives ARCH-DATE-TIME",
        widget="text",
    )
    arch: str = option(
        "cnn-lab",
        "Architecture",
        f"the network: {', '.join(ARCHITECTURES)} (the notebooks' and the default CNN), or your own stack: custom-dense, custom-cnn",
        widget="select",
        choices=ARCH_CHOICES,
    )
    dense_units: tuple[int, ...] = option(
        (128,), "Dense layer sizes (custom)", "custom stacks: the width of each dense layer, {range} each (e.g. 256 128)", **SIZES
    )
    conv_filters: tuple[int, ...] = option(
        (32, 64),
        "Conv filters (custom CNN)",
        "custom-cnn: the filters of each conv + pool block, {range} each (e.g. 32 64)",
        **SIZES,
    )
    dropout: float = option(
        0.0,
        "Dropout (custom)",
        "custom stacks: the fraction dropped after each dense layer, {range}",
        low=0,
        high=1,
        high_open=True,
        step=0.05,
    )
    optimizer: str = option(
        "adam",
        "Optimizer",
        f"how the weights move: {', '.join(OPTIMIZERS)}; adam suits most cases",
        widget="select",
        choices=OPTIMIZERS,
    )
    learning_rate: float = option(
        0.001,
        "Learning rate",
        "the step size, {range} (the peak with a schedule)",
        low=0,
        high=10,
        low_open=True,
        step=0.0005,
        format="%.5f",
    )
    schedule: str = option(
        "constant",
        "Schedule",
        "the learning rate over time: constant; cosine (decays to ~0); one-cycle (warms up, then decays: fast)",
        widget="select",
        choices=SCHEDULES,
    )
    loss: str | None = option(
        None,
        "Loss",
        "cross-entropy on sparse (integer) or categorical (one-hot) labels; unset: what the architecture's notebook used",
        widget="select",
        choices=LOSSES,
    )
    label_smoothing: float = option(
        0.0, "Label smoothing", "softer targets, {range}; categorical loss only", low=0, high=1, high_open=True, step=0.05
    )
    normalization: str | None = option(
        None,
        "Input scaling",
        "input scaling: scale (pixels / 255) or l2 (notebook A's L2 along axis 1); unset: the architecture's own",
        widget="select",
        choices=NORMALIZATIONS,
    )
    # Its top is the training rows, which depend on other options (`validate`).
    batch_size: int = option(
        32,
        "Batch size",
        "images per step, 1 to the number of training rows: larger is faster per epoch, small is noisier",
        low=1,
        high=TRAIN_SIZE,
    )
    epochs: int = option(5, "Epochs", "passes over the training images, {range}", low=1, high=1000)
    validation: str = option(
        "split",
        "Validate on",
        "validate on: split (the last part of the training set), test (the test set, as notebooks B and D), none",
        widget="radio",
        choices=VALIDATIONS,
    )
    validation_split: float = option(
        0.1,
        "Validation fraction",
        "with validation split: the fraction held back, {range}, taken from the end as Keras does",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        step=0.05,
    )
    early_stopping: bool = option(False, "Early stopping", "stop when the monitored figure stops improving", widget="checkbox")
    es_monitor: str = option(
        "val_accuracy",
        "Monitor",
        f"what early stopping and the best-epoch checkpoint watch: {', '.join(MONITORS)}",
        widget="select",
        choices=MONITORS,
    )
    es_min_delta: float = option(
        0.0, "Min delta", "the least change that counts as better, {range}", low=0, high=None, step=0.001, format="%.3f"
    )
    es_patience: int = option(3, "Patience", "epochs without improvement before stopping, {range}", low=0, high=1000)
    checkpoint_best: bool = option(
        False,
        "Keep the best epoch",
        "end with the best epoch's weights (by the monitored figure), as notebook C does",
        widget="checkbox",
    )
    augment: bool = option(
        False,
        "Augment (shift, rotate, zoom, stroke)",
        "random shifts, rotations, zoom and stroke thickness, so it reads real handwriting (scale input only)",
        widget="checkbox",
    )
    printed_digits: int = option(
        0,
        "Synthetic printed digits",
        "add this many synthetic printed digits (Hershey fonts) to training, {range}",
        low=0,
        high=100_000,
        step=1000,
    )
    redrawn_digits: int = option(
        0,
        "Redrawn digits (canvas, scans)",
        "add this many MNIST training digits redrawn as canvas strokes (any brush, slanted, wobbling) and as low-resolution scans, {range}",
        low=0,
        high=100_000,
        step=1000,
    )
    not_digits: int = option(
        0,
        'Non-digits (learn "not a digit")',
        "teach an 11th answer, 'not a digit', from this many generated drawings that are not digits (letters, symbols, shapes, doodles, scribbles), {range}; 0 keeps the ten digits only",
        low=0,
        high=100_000,
        step=1000,
    )
    seed: int = option(42, "Seed", "the random seed: the same seed gives the same model", low=0, high=2**31 - 1)
    train_limit: int = option(
        0,
        "Training images",
        "train on the first N of the 60,000 training images, {range}; 0 means all",
        low=0,
        high=TRAIN_SIZE,
        step=1000,
    )
    teach: str = option(
        "",
        "Model to teach",
        "teach this stored model the class drawings instead of training a new one: it is fine-tuned on them, mixed with the first --train-limit MNIST images, and measured on the held-back ones",
        widget="text",
    )
    held_back: float = option(
        0.2,
        "Held back",
        "teaching: the fraction of the class drawings held back to measure it, per digit, {range}",
        low=0.05,
        high=0.5,
        step=0.05,
    )

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


def validate(c: TrainConfig) -> None:
    """Refuse out-of-range options with a message that names the field: each against its declared
    choices or range, then what depends on other options."""
    for f in dataclasses.fields(c):
        if f.name == "batch_size" or (f.name == "validation_split" and c.validation != "split"):
            continue  # the batch's top is the training rows (below); only a split holds a fraction back
        if f.metadata["option"].widget != "sizes" and (refusal := f.metadata["option"].refusal(getattr(c, f.name))):
            raise ConfigError(f.name, refusal)
    train_rows = c.train_size * (1 - c.validation_split if c.validation == "split" else 1)
    if not isinstance(c.batch_size, int) or not 1 <= c.batch_size <= train_rows:
        raise ConfigError(
            "batch_size", f"must be a whole number from 1 to {int(train_rows)}, the training rows (got {c.batch_size!r})"
        )
    if c.teach and not NAME_PATTERN.fullmatch(c.teach):
        raise ConfigError("teach", f"{c.teach!r} is not a model name")
    if c.label_smoothing and c.loss != "categorical":
        raise ConfigError("label_smoothing", "needs the categorical loss (Keras' sparse loss has no smoothing)")
    if c.augment and c.normalization != "scale":
        raise ConfigError("augment", "works with the 'scale' normalization only")
    needs_validation = (c.early_stopping or c.checkpoint_best) and c.es_monitor.startswith("val_")
    if needs_validation and c.validation == "none":
        raise ConfigError("es_monitor", f"{c.es_monitor} needs validation data: choose a split or the test set")
    stack = {"custom-dense": "dense_units", "custom-cnn": "conv_filters"}.get(c.arch)
    if stack is not None:  # a custom stack's layers: one or more, each in the declared range
        sizes, each = getattr(c, stack), option_of(stack)
        if not sizes or any(not isinstance(u, int) or not each.low <= u <= each.high for u in sizes):
            raise ConfigError(stack, f"needs one or more layer sizes from {each.low} to {each.high} (got {sizes!r})")


HELP = {f.name: f.metadata["option"].text for f in dataclasses.fields(TrainConfig)}  # each option's help, range written in


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
