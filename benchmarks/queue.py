"""The training queue's figures, printed in one run (never asserted: timings here are noisy).

    python -m benchmarks.queue

1. Notebook D's recipe (seed-d) from the command line, then through the queue on the app's own
   local Ray: training seconds of each, and their ratio.
2. The gap between one run ending and the next, which waited for its CPU, starting.
3. Six runs from three sessions on this machine: the order they started in, and the total time.
4. Memory of Ray's processes with TensorFlow loaded in its workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MNIST_LAB_RUNS", tempfile.mkdtemp(prefix="queue-runs-"))

from model_store import ModelStore  # noqa: E402
from model_store.roles import Person  # noqa: E402
from training import cluster  # noqa: E402
from training.config import PRESETS, TrainConfig  # noqa: E402
from training.runs import list_runs, read_run, runs_root, start_sync, submit_run  # noqa: E402

SHORT = dict(arch="dense-128", epochs=1, batch_size=32, validation="none")


def status(run_id: str) -> dict:
    return json.loads((runs_root() / run_id / "status.json").read_text())


def wait(run_ids: list[str]) -> None:
    while not all(read_run(i).finished and (read_run(i).model or read_run(i).status != "done") for i in run_ids):
        time.sleep(0.2)


def seed_d(store: ModelStore) -> None:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "training", "--preset", "seed-d", "--name", "d-cli", "--store", str(store.root)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    cli_wall = time.perf_counter() - started
    cli = store.get("d-cli").record["training_seconds"]
    started = time.perf_counter()
    run_id = submit_run(PRESETS["seed-d"], store, Person("bench", "bench"))
    wait([run_id])
    queued = store.get(read_run(run_id).model).record["training_seconds"]
    print(
        f"Notebook D (seed-d), training seconds: command line {cli:.1f} s, through the queue {queued:.1f} s ({queued / cli:.3f}x)"
    )
    print(f"  wall, start to stored: command line {cli_wall:.1f} s, queue {time.perf_counter() - started:.1f} s")


def gap(store: ModelStore) -> None:
    """Fill every CPU, plus one run that has to wait: it starts when the first one ends."""
    cpus = int(__import__("ray").cluster_resources()["CPU"])
    ids = [submit_run(TrainConfig(name=f"gap-{i}", **SHORT), store, Person("bench", f"gap{i}")) for i in range(cpus + 1)]
    wait(ids)
    first_end = min(status(i)["finished"] for i in ids[:cpus])
    print(f"From a run ending to the waiting one starting: {status(ids[-1])['started'] - first_end:.2f} s")


def six_runs(store: ModelStore) -> None:
    started = time.time()
    ids = []
    for round_ in range(2):
        for session in ("ada", "bob", "cy"):
            config = TrainConfig(name=f"six-{session}-{round_}", **SHORT)
            ids.append(submit_run(config, store, Person(session, session)))
    wait(ids)
    order = sorted(ids, key=lambda i: status(i)["started"])
    print(f"Six runs from three sessions: {time.time() - started:.1f} s in all; started in this order:")
    for i in order:
        s = status(i)
        name = read_run(i).config["name"]
        print(f"  {name:12} started +{s['started'] - started:5.1f} s, ended +{s['finished'] - started:5.1f} s")


def memory() -> None:
    processes = cluster.session_processes(cluster.session_dir())
    total = sum(p.memory_info().rss for p in processes) / 2**20
    workers = [p for p in processes if "ray::" in " ".join(p.cmdline()) or "default_worker" in " ".join(p.cmdline())]
    worker_rss = sorted(round(p.memory_info().rss / 2**20) for p in workers)
    print(f"Ray's processes: {len(processes)}, {total:.0f} MB resident in all; its workers {worker_rss} MB")
    print(f"  this driver (as the app would be): {__import__('psutil').Process().memory_info().rss / 2**20:.0f} MB")


def main() -> None:
    started = time.perf_counter()
    start_sync()
    print(f"Local Ray started and the board up in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(tmp, bundled_dir=None)
        seed_d(store)
        gap(store)
        six_runs(store)
        memory()
    print(f"({len(list_runs())} runs in {runs_root()})")


if __name__ == "__main__":
    main()
