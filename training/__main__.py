"""Train a model from the command line.

    python -m training --preset seed-c
    python -m training --arch cnn-small --epochs 3 --batch-size 64 --optimizer adam --name my-cnn
    python -m training --list-archs
    python -m training --teach lab-default --name lab-class   (fine-tune on the class drawings)

Ctrl-C stops after the current batch and stores the best weights so far.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading

from model_store import ARCHITECTURES, ModelStore, StoreError
from model_store.backend import VERBOSE
from model_store.database import DatabaseError
from training.config import PRESETS, ConfigError, TrainConfig
from training.teach import Teaching, teaching_of

# TensorFlow (~5 s to load) is imported only once training starts: --help and --list-archs
# answer at once.


def list_archs() -> None:
    for name, arch in ARCHITECTURES.items():
        print(f"{name:24} {arch.parameters:>9,} params  {arch.description}")
    print(f"{'custom-dense':24} {'':>16}  a dense stack: --dense-units 256 128 [--dropout 0.2]")
    print(f"{'custom-cnn':24} {'':>16}  conv blocks: --conv-filters 32 64 [--dense-units 128]")


def shown(default) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return " ".join(map(str, default))
    return "unset" if default in (None, "") else str(default)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__.split("\n")[0] + " Each option below overrides the preset's (or the default recipe's) value.",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a notebook's recipe (seed-a..d), the default model's, quick, or teach (for --teach)",
    )
    p.add_argument("--list-archs", action="store_true", help="describe every architecture and exit")
    p.add_argument(
        "--archive-runs",
        type=float,
        metavar="DAYS",
        help="take the finished runs older than DAYS out of the Train page's lists and exit (their models and records stay)",
    )
    p.add_argument("--store", help="the model directory (default: $MNIST_LAB_MODELS or models/)")
    p.add_argument("--verbose", action="store_true", help=f"show TensorFlow's own start-up logs (or set {VERBOSE}=1)")
    # One option per config field, as its metadata declares it; only the ones given override the preset.
    for f in dataclasses.fields(TrainConfig):
        flag, default, option = "--" + f.name.replace("_", "-"), f.default, f.metadata["option"]
        text = f"{option.text} (default: {shown(default)})"
        metavar = f.name.split("_")[-1].upper()
        if option.widget == "checkbox":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        elif option.widget == "sizes":
            p.add_argument(flag, type=int, nargs="+", default=argparse.SUPPRESS, help=text, metavar="N")
        else:
            kind = type(default) if default is not None else str
            p.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text, metavar=metavar)
    return p


METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")  # already running means: shown as they are


class ProgressBar:
    """Keras' own progress bar, one per epoch."""

    def __init__(self):
        self.bar, self.epoch = None, 0

    def __call__(self, p) -> None:
        from model_store.backend import keras

        if p.phase in ("batch", "epoch"):
            if p.epoch != self.epoch:
                print(f"Epoch {p.epoch}/{p.epochs}")
                self.bar, self.epoch = keras.utils.Progbar(p.batches, stateful_metrics=METRICS), p.epoch
            values = [(k, getattr(p, k)) for k in METRICS if getattr(p, k) is not None]
            self.bar.update(p.batch, values=values, finalize=p.phase == "epoch")
        else:
            print(f"{p.phase}...")


def teaching_summary(t: dict) -> str:
    """What the teaching did, before and after, as the Train page shows it."""

    def pct(value):
        return "-" if value is None else f"{value:.2%}"

    return (
        f"Taught by {t['drawings_taught']} class drawings ({t['drawings_held_back']} held back) and {t['mnist_images']:,} MNIST images\n"
        f"  held-back class drawings: {pct(t['held_back_accuracy_before'])} -> {pct(t['held_back_accuracy_after'])}\n"
        f"  MNIST test:               {pct(t['mnist_accuracy_before'])} -> {pct(t['mnist_accuracy_after'])}"
    )


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    if args.pop("verbose"):
        os.environ[VERBOSE] = "1"
    if args.pop("list_archs"):
        list_archs()
        return 0
    if (days := args.pop("archive_runs")) is not None:
        from training.runs import archive_runs

        print(
            f"{archive_runs(days)} finished runs older than {days:g} days archived (out of the lists; kept in the class database)"
        )
        return 0
    preset, store_dir = args.pop("preset"), args.pop("store")
    # --teach alone starts from the teaching recipe (a few gentle epochs), not from a new model's.
    base = PRESETS[preset] if preset else (PRESETS["teach"] if args.get("teach") else TrainConfig())
    try:
        config = dataclasses.replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}).resolved()
    except ConfigError as err:
        return refused(err)
    store = ModelStore(store_dir)
    try:
        config, teaching = announced(config, store)
    except (StoreError, ConfigError, DatabaseError) as err:
        return refused(err)
    try:
        result = train_until_interrupted(config, store, teaching)
    except StoreError as err:
        return refused(err)
    r = result.entry.record
    print(
        f"\nTest accuracy {r['metrics']['test_accuracy']:.2%}, test loss {r['metrics']['test_loss']:.4f}, "
        f"{r['epochs_run']} epochs in {r['training_seconds']:.0f} s ({r['seconds_per_epoch']} s/epoch)"
        + (f", stopped by {result.stopped_by}" if result.stopped_by else "")
    )
    print(f"Stored as {result.entry.name!r} in {store.where}")
    if teaching is not None:
        print(teaching_summary(r["teach"]))
    return 0


def refused(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def announced(config: TrainConfig, store: ModelStore) -> tuple[TrainConfig, Teaching | None]:
    """What is about to train, said; a teaching run's config and what it learns from (StoreError,
    ConfigError or DatabaseError when it cannot be taught)."""
    if config.teach:
        config, teaching = teaching_of(config, store)
        print(
            f"Teaching {config.teach} the class drawings ({len(teaching.y)}) for {config.epochs} epochs, batch {config.batch_size}"
        )
        return config, teaching
    from training.engine import build_model

    params = build_model(config).count_params()
    print(f"Training {config.arch} ({params:,} params) for {config.epochs} epochs, batch {config.batch_size}")
    return config, None


def train_until_interrupted(config: TrainConfig, store: ModelStore, teaching: Teaching | None):
    """`train`, with Keras' progress bar; Ctrl-C stops after the current batch (the best weights
    so far are stored), a second Ctrl-C at once."""
    from training.engine import train

    stop = threading.Event()

    def on_interrupt(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: give up at once
        print("\nstopping after this batch; the best weights so far will be stored (Ctrl-C again to abort)")
        stop.set()

    signal.signal(signal.SIGINT, on_interrupt)
    return train(config, store, on_progress=ProgressBar(), stop=stop, teaching=teaching)


if __name__ == "__main__":
    sys.exit(main())
