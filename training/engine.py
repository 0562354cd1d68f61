"""The training engine: one `train(config)` for the command line and the Train page.

Setup by mode (a new model, a stored one taught the class drawings, an interrupted run resumed)
-> train (Keras callbacks report progress, stop early, keep the best weights) -> the finish every
stored model shares (`finish`: evaluate on the test set, record, store), which an uploaded model
(`import_model`) and an interrupted run's kept checkpoint (`training.runs.keep_checkpoint`) go
through too.
"""

from __future__ import annotations

import math
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from model_store import ModelStore, Predictor, StoredModel, data_fingerprint, get_architecture, load_mnist, normalize, prepare
from model_store.backend import keras, tf
from model_store.evaluation import Evaluation, evaluate
from model_store.networks import custom_cnn, custom_dense, summary_rows
from model_store.predict import NOT_A_DIGIT
from model_store.roles import Person, require
from training.augment import make_augmenter
from training.config import TrainConfig
from training.curves import Report, best_epoch
from training.nondigits import HELD_OUT_NON_DIGITS, held_out_set, training_set
from training.synthetic import printed_digits, redrawn_digits
from training.teach import Teaching, figures, teaching_data

REPORT_EVERY = 50  # batches between progress reports

CHECKPOINT = "best.weights.h5"  # the best epoch's weights, a file of the worker's while training
LAST_EPOCH = "last.keras"  # the last finished epoch's whole model, optimizer included: a run resumes from it


class StopSignal(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class Progress:
    phase: str  # "batch", "epoch", "evaluating", "saving" or "done"
    epoch: int  # 1-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    elapsed: float = 0.0  # seconds since training began
    eta: float | None = None  # seconds left, estimated from the pace so far


@dataclass
class Resume:
    """Where an interrupted run picks up again: after its last finished epoch (`training.runs`)."""

    model: bytes  # LAST_EPOCH's file: weights and the optimizer's state (its step, so the schedule goes on)
    epoch: int  # epochs finished
    history: dict  # Keras' per-epoch figures of those epochs
    reports: list  # the running means reported during them (training.curves.Report)
    elapsed: float  # training seconds they took
    best: bytes | None  # the best epoch's weights so far


@dataclass
class TrainResult:
    entry: StoredModel
    evaluation: Evaluation
    stopped_by: str | None  # "user", "early_stopping", "interrupted" (the worker ended mid-run) or None when every epoch ran


# ---------------------------------------------------------------- data


@dataclass
class Data:
    x_train: np.ndarray  # floats in [0, 1], (n, 28, 28)
    y_train: np.ndarray  # uint8 digits, and NOT_A_DIGIT for the non-digits
    x_val: np.ndarray | None
    y_val: np.ndarray | None


def prepare_data(c: TrainConfig) -> Data:
    (x, y), (x_test, y_test) = load_mnist()
    x, y = x[: c.train_size], y[: c.train_size]
    x_val = y_val = None
    if c.validation == "split":  # the last fraction, before shuffling, as Keras' validation_split
        cut = len(x) - max(1, round(len(x) * c.validation_split))
        x, y, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
    elif c.validation == "test":  # as notebooks B and D did
        x_val, y_val = x_test, y_test
    # Generated images join the training part only: validation stays MNIST's digits.
    extra = [(x, y)]
    if c.printed_digits:
        extra.append(printed_digits(c.printed_digits, seed=c.seed))
    if c.redrawn_digits:
        extra.append(redrawn_digits(c.redrawn_digits, seed=c.seed))
    if c.not_digits:
        extra.append(not_digits(c.not_digits, seed=c.seed))
    x, y = np.concatenate([e[0] for e in extra]), np.concatenate([e[1] for e in extra]).astype(np.uint8)
    scale = np.float32(1 / 255)
    return Data(x * scale, y, None if x_val is None else x_val * scale, y_val)


def not_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` generated non-digits (`training.nondigits.training_set`), prepared as the app prepares
    a drawing, labelled NOT_A_DIGIT."""
    prepared = [prepare(image).image for image in training_set(n, seed=seed)]
    x = np.stack([np.round(p * 255).astype(np.uint8) for p in prepared if p is not None])
    return x, np.full(len(x), NOT_A_DIGIT, np.uint8)


# ---------------------------------------------------------------- model


def build_model(c: TrainConfig) -> keras.Model:
    if c.arch == "custom-dense":
        return custom_dense(c.dense_units, c.dropout, c.classes)
    if c.arch == "custom-cnn":
        return custom_cnn(c.conv_filters, c.dense_units, c.dropout, c.classes)
    return get_architecture(c.arch).build(c.classes)


def learning_rate(c: TrainConfig, steps: int):
    if c.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(c.learning_rate, decay_steps=steps, alpha=0.01)
    if c.schedule == "one-cycle":  # a quarter of the steps warming up from lr/25, then cosine down
        warmup = max(1, steps // 4)
        return keras.optimizers.schedules.CosineDecay(
            c.learning_rate / 25, decay_steps=steps - warmup, alpha=0.002, warmup_target=c.learning_rate, warmup_steps=warmup
        )
    return c.learning_rate


def compile_model(model: keras.Model, c: TrainConfig, steps: int) -> None:
    optimizer = keras.optimizers.get({"class_name": c.optimizer, "config": {"learning_rate": learning_rate(c, steps)}})
    if c.loss == "categorical":
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=c.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def _inputs(x: np.ndarray, y: np.ndarray, c: TrainConfig, model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    x = normalize(x, c.normalization).reshape((-1, *model.input_shape[1:]))
    return x, (keras.utils.to_categorical(y, model.output_shape[-1]) if c.loss == "categorical" else y)


def _train_dataset(x: np.ndarray, y: np.ndarray, c: TrainConfig, model: keras.Model) -> tf.data.Dataset:
    """Shuffled, batched, randomly distorted each epoch (augmentation runs on 28x28x1 images)."""
    augment = make_augmenter(c.seed)
    shape = model.input_shape[1:]
    ds = tf.data.Dataset.from_tensor_slices((x[..., None], y)).shuffle(len(x), seed=c.seed).batch(c.batch_size)
    ds = ds.map(lambda a, b: (tf.reshape(augment(a), (-1, *shape)), b), num_parallel_calls=tf.data.AUTOTUNE)
    if threads := tf.config.threading.get_intra_op_parallelism_threads():  # a run on Ray: as many as it asked for
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- callbacks


class Reporter(keras.callbacks.Callback):
    """Reports progress every REPORT_EVERY batches and at each epoch's end; obeys the stop signal."""

    def __init__(
        self, epochs: int, batches: int, on_progress: Callable[[Progress], None], stop: StopSignal, resume: Resume | None
    ):
        super().__init__()
        self.epochs, self.batches = epochs, batches
        self.on_progress, self.stop = on_progress, stop
        self.first = resume.epoch if resume else 0  # a resumed run's epochs before this process
        self.before = resume.elapsed if resume else 0.0  # ... and their seconds
        self.epoch, self.started, self.stopped_by_user = self.first, 0.0, False
        self.reports: list[Report] = [Report(*r) for r in resume.reports] if resume else []  # Keras' raw running means

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _report(self, phase: str, batch: int, logs: dict) -> None:
        here = time.monotonic() - self.started
        done = (self.epoch - self.first) * self.batches + batch  # batches done in this process
        eta = here / done * ((self.epochs - self.epoch) * self.batches - batch) if done else None
        elapsed = self.before + here
        self.reports.append(Report(self.epoch + 1, batch, self.batches, *(_rounded(logs.get(k)) for k in ("loss", "accuracy"))))
        self.on_progress(
            Progress(
                phase,
                self.epoch + 1,
                self.epochs,
                batch,
                self.batches,
                logs.get("loss"),
                logs.get("accuracy"),
                logs.get("val_loss"),
                logs.get("val_accuracy"),
                elapsed,
                eta,
            )
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.stop.is_set():
            self.stopped_by_user = True
            self.model.stop_training = True  # Keras checks this after every batch
        if (batch + 1) % REPORT_EVERY == 0:
            self._report("batch", batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._report("epoch", self.batches, logs or {})


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


# ---------------------------------------------------------------- the whole run


def default_name(c: TrainConfig) -> str:
    return f"{c.arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def teaching_with_non_digits(c: TrainConfig, data: Data, base: keras.Model) -> tuple[Data, keras.Model]:
    """A base that answers "not a digit" keeps that answer: its teaching mix gets non-digits too
    (c.not_digits, or a fifth of the MNIST images), or a few epochs on digits alone would wear it away."""
    knows = base.output_shape[-1] > NOT_A_DIGIT
    if c.not_digits and not knows:
        raise ValueError(f"{c.teach} has no 'not a digit' answer to teach non-digits to; set not_digits to 0")
    if knows:
        x, y = not_digits(c.not_digits or c.train_size // 5, seed=c.seed)
        data.x_train = np.concatenate([data.x_train, x * np.float32(1 / 255)])
        data.y_train = np.concatenate([data.y_train, y])
    return data, base


def load_base(teaching: Teaching) -> keras.Model:
    """The model a teaching run starts from."""
    return load_model_bytes(teaching.model)


def load_model_bytes(data: bytes, compile: bool = False) -> keras.Model:
    """A `.keras` file's bytes as a model, loaded in safe mode."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=compile, safe_mode=True)


def train(
    config: TrainConfig,
    store: ModelStore | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: StopSignal | None = None,
    run_dir: Path | None = None,
    teaching: Teaching | None = None,
    resume: Resume | None = None,
) -> TrainResult:
    """Train, evaluate on the test set and store the model with its record.

    `stop` (anything with `is_set()`, e.g. a threading.Event) ends training after the current
    batch; the best weights so far are kept. `run_dir` receives the best-weights checkpoint and,
    after each epoch, the whole model (LAST_EPOCH). With `teaching` (training.teach), the base
    model is fine-tuned on the class drawings instead, validated on the held-back ones, and the
    record says what that did. With `resume`, training goes on after an interrupted run's last
    finished epoch, from its model and optimizer state (early stopping counts its patience anew).
    """
    c = config.resolved()
    c.name = c.name or default_name(c)
    store = store or ModelStore()
    store.check_free(c.name)  # refuse a taken name now, not after an hour of training
    report = on_progress or (lambda p: None)
    keras.utils.set_random_seed(c.seed + (resume.epoch if resume else 0))  # resumed epochs shuffle anew

    # Setup by mode: the data and the model, compiled for this run's steps (or as it was saved).
    data, model, held_before = setup(c, teaching)
    batches = math.ceil(len(data.x_train) / c.batch_size)
    model = compiled(model, c, batches, resume)

    # Train, keeping the best weights and obeying the stop signal.
    fitted = fit(model, data, c, batches, report, stop or threading.Event(), run_dir, resume)

    # Evaluate, record, save: the finish every stored model shares.
    def say(phase: str) -> None:
        report(Progress(phase, fitted.epoch + 1, c.epochs, batches, batches, elapsed=fitted.seconds, eta=0))

    def record_of(evaluation: Evaluation) -> dict:
        record = make_record(c, model, fitted, evaluation)
        if teaching is not None:
            held_after = Predictor(model, c.normalization).probabilities(data.x_val)
            taught = figures(teaching, c, held_before, held_after, evaluation.accuracy)
            record |= {"architecture": teaching.architecture, "teach": taught}
        return record

    entry, evaluation = finish(model, c.normalization, store, record_of, say)
    return TrainResult(entry, evaluation, fitted.stopped_by)


def setup(c: TrainConfig, teaching: Teaching | None) -> tuple[Data, keras.Model, np.ndarray | None]:
    """The data and the model: a new model on MNIST (and the generated extras), or the stored
    base taught the class drawings, with its readings of the held-back ones before."""
    if teaching is None:
        return prepare_data(c), build_model(c), None
    data, model = teaching_with_non_digits(c, Data(*teaching_data(c, teaching)), load_base(teaching))
    return data, model, Predictor(model, c.normalization).probabilities(data.x_val)


def compiled(model: keras.Model, c: TrainConfig, batches: int, resume: Resume | None) -> keras.Model:
    """The model compiled for the run's steps; a resumed run's as it was saved, optimizer included."""
    if resume is not None:
        return load_model_bytes(resume.model, compile=True)
    compile_model(model, c, steps=batches * c.epochs)
    return model


@dataclass
class Fitted:
    """What training did."""

    history: dict  # Keras' per-epoch figures (a resumed run's earlier epochs first)
    seconds: float  # training time, a resumed run's earlier epochs included
    stopped_by: str | None  # "user", "early_stopping", "interrupted" (the worker ended mid-run) or None when every epoch ran
    best: int | None  # the epoch whose weights were kept; None: the last one's
    reports: list[Report]  # Keras' raw running means every REPORT_EVERY batches (the curves' windows)
    epoch: int = 0  # the last epoch begun, counted from 0


def fit(
    model: keras.Model,
    data: Data,
    c: TrainConfig,
    batches: int,
    report: Callable[[Progress], None],
    stop: StopSignal,
    run_dir: Path | None,
    resume: Resume | None,
) -> Fitted:
    """`model.fit`, with the callbacks that report, checkpoint and stop; the best epoch's weights
    loaded back when they are to be kept."""
    x, y = _inputs(data.x_train, data.y_train, c, model)
    train_data = _train_dataset(data.x_train, y, c, model) if c.augment else x
    val = None if data.x_val is None or not len(data.x_val) else _inputs(data.x_val, data.y_val, c, model)
    reporter = Reporter(c.epochs, batches, report, stop, resume)
    with tempfile.TemporaryDirectory() as tmp:
        best_path = Path(run_dir or tmp) / CHECKPOINT
        early = keras.callbacks.EarlyStopping(monitor=c.monitor, min_delta=c.es_min_delta, patience=c.es_patience)
        callbacks = _checkpoints(c, best_path, run_dir, resume) + [reporter] + ([early] if c.early_stopping else [])
        started = time.monotonic()
        history = model.fit(
            train_data,
            y if not c.augment else None,
            batch_size=None if c.augment else c.batch_size,
            epochs=c.epochs,
            initial_epoch=resume.epoch if resume else 0,
            validation_data=val,
            callbacks=callbacks,
            shuffle=not c.augment,  # the augmented dataset shuffles itself
            verbose=0,
        ).history
        seconds = time.monotonic() - started + reporter.before
        if resume is not None:  # the epochs before the interruption come first
            history = {k: list(resume.history.get(k, [])) + list(history.get(k, [])) for k in {**resume.history, **history}}
        cut_short = len(history.get("loss", [])) < c.epochs  # EarlyStopping may fire on the last epoch
        stopped_by = "user" if reporter.stopped_by_user else ("early_stopping" if early.stopped_epoch and cut_short else None)
        best = None
        if best_path.exists() and (c.checkpoint_best or stopped_by == "user"):
            model.load_weights(best_path)  # the best epoch, as notebook C reloads its checkpoint
            best = best_epoch(history, c.monitor)
    return Fitted(history, seconds, stopped_by, best, reporter.reports, reporter.epoch)


def _checkpoints(c: TrainConfig, best_path: Path, run_dir: Path | None, resume: Resume | None) -> list[keras.callbacks.Callback]:
    """The whole model after each epoch (where a run is resumed from) and the best weights, both
    written before the reporter ships them at the epoch's end. A resumed run's best so far is
    where the best-only checkpoint starts from."""
    best_so_far = None
    if resume is not None and resume.best is not None:
        best_path.write_bytes(resume.best)
        kept = best_epoch(resume.history, c.monitor)
        best_so_far = resume.history[c.monitor][kept - 1] if kept else None
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.ModelCheckpoint(Path(run_dir) / LAST_EPOCH)] if run_dir else []
    best_only = keras.callbacks.ModelCheckpoint(
        best_path, monitor=c.monitor, save_best_only=True, save_weights_only=True, initial_value_threshold=best_so_far
    )
    return callbacks + [best_only]


# ---------------------------------------------------------------- the finish every stored model shares


def measure(model: keras.Model, normalization: str) -> Evaluation:
    """On MNIST's test set; a model that answers "not a digit" also on HELD_OUT_NON_DIGITS
    drawings of kinds it never learnt from (`training.nondigits.held_out_set`)."""
    predictor = Predictor(model, normalization)
    return evaluate(predictor, non_digits=held_out_set(HELD_OUT_NON_DIGITS) if predictor.knows_non_digits else None)


def finish(
    model: keras.Model,
    normalization: str,
    store: ModelStore,
    record_of: Callable[[Evaluation], dict],
    say: Callable[[str], None] = lambda phase: None,
) -> tuple[StoredModel, Evaluation]:
    """Evaluate, record, save: however a model came to be (trained, uploaded, an interrupted run's
    checkpoint), it is evaluated once on the test set, its record is written from that
    evaluation (`record_of`) and it is stored with its test probabilities. `say` hears each
    phase ("evaluating", "saving", "done")."""
    say("evaluating")
    evaluation = measure(model, normalization)
    record = record_of(evaluation)
    say("saving")
    entry = store.save(model, record, evaluation.probabilities)
    say("done")
    return entry, evaluation


def import_model(model: keras.Model, name: str, normalization: str, store: ModelStore, by: Person) -> StoredModel:
    """Store a model made elsewhere (an uploaded .keras), evaluated once like a trained one."""
    require(by, "upload_model")
    store.check_free(name)

    def record_of(evaluation: Evaluation) -> dict:
        record = {**_model_record(name, "uploaded", normalization, model, evaluation), "config": None, "owner": by.maker}
        return record | {"class_id": by.class_id}

    return finish(model, normalization, store, record_of)[0]


def _model_record(name: str, architecture: str, normalization: str, model: keras.Model, ev: Evaluation) -> dict:
    """What every stored model's record says, however the model came to be."""
    return {
        "name": name,
        "architecture": architecture,
        "normalization": normalization,
        "parameters": int(model.count_params()),
        "summary": summary_rows(model),
        "metrics": ev.metrics(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_fingerprint": data_fingerprint(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
    }


def make_record(c: TrainConfig, model: keras.Model, fitted: Fitted, ev: Evaluation) -> dict:
    """A trained model's record: what every model's says, its config, and what training did
    (`fitted`: its history, its raw running means, the epoch whose weights were kept...)."""
    epochs_run = len(fitted.history.get("loss", []))
    return {
        **_model_record(c.name, c.arch, c.normalization, model, ev),
        "config": c.to_dict(),
        "history": {k: [round(float(v), 6) for v in vals] for k, vals in fitted.history.items()},
        "progress": [list(r) for r in fitted.reports],
        "best_epoch": fitted.best,
        "epochs_run": epochs_run,
        "stopped_by": fitted.stopped_by,
        "training_seconds": round(fitted.seconds, 2),
        "seconds_per_epoch": round(fitted.seconds / epochs_run, 2) if epochs_run else None,
    }
