"""The training queue's figures, printed in one run (never asserted: timings here are noisy).

    python -m benchmarks.queue                  # the four figures below
    python -m benchmarks.queue --students 30    # a simulated class, as one JSON object

1. Notebook D's recipe (seed-d) from the command line, then through the queue on the app's own
   local Ray: training seconds of each, and their ratio.
2. The gap between one run ending and the next, which waited for its CPU, starting.
3. Six runs from three sessions on this machine: the order they started in, and the total time.
4. Memory of Ray's processes with TensorFlow loaded in its workers.

With --students N: N students each queue the class recipe (`quick`), and every fifth also two
more, pressed before the others press theirs (the worst case for first come, first served). It
prints the time until the last model is stored, each student's wait for their first run to start
(median, max), when the last first run was stored, and the order runs started, by student.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
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
from training.copying import records  # noqa: E402
from training.runs import list_runs, read_run, start_sync, submit_run  # noqa: E402

SHORT = dict(arch="dense-128", epochs=1, batch_size=32, validation="none")


def status(run_id: str) -> dict:
    return records().status_of(run_id)


def wait(run_ids: list[str]) -> None:
    while not all(finished(i) for i in run_ids):
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
    ids = [submit_run(TrainConfig(name=f"gap-{i}", **SHORT), store, Person(f"bench-{i}", f"gap{i}")) for i in range(cpus + 1)]
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


def a_class(students: int, store: ModelStore) -> dict:
    people = [Person(f"student-{i:02d}", f"browser-{i:02d}") for i in range(students)]
    greedy = people[::5]
    started = time.time()
    pressed: list[tuple[str, Person]] = []

    def press(person: Person, k: int) -> None:
        config = dataclasses.replace(PRESETS["quick"], name=f"{person.name}-{k}")
        pressed.append((submit_run(config, store, person), person))

    for person in greedy:  # first to press, three runs each
        for k in range(3):
            press(person, k)
    for person in people:
        if person not in greedy:
            press(person, 0)
    stored: dict[str, float] = {}
    while len(stored) < len(pressed):
        for run_id, _ in pressed:
            if run_id not in stored and finished(run_id):
                stored[run_id] = time.time() - started
        time.sleep(0.2)
    starts = {run_id: status(run_id)["started"] - started for run_id, _ in pressed}
    firsts = {}
    for run_id, person in sorted(pressed, key=lambda p: starts[p[0]]):
        firsts.setdefault(person.name, run_id)
    waits = [starts[i] for i in firsts.values()]
    order = [person.name for run_id, person in sorted(pressed, key=lambda p: starts[p[0]])]
    # A run that started while another student's first run still waited: the unfairness measured.
    ahead = sum(
        1
        for run_id, person in pressed
        if run_id not in firsts.values() and any(starts[f] > starts[run_id] for f in firsts.values())
    )
    return {
        "students": students,
        "runs": len(pressed),
        "recipe": "quick",
        "seconds_until_last_model_stored": round(max(stored.values()), 1),
        "seconds_until_last_first_run_stored": round(max(stored[i] for i in firsts.values()), 1),
        "first_run_wait_seconds": {"median": round(statistics.median(waits), 1), "max": round(max(waits), 1)},
        "later_runs_started_before_someones_first": ahead,
        "training_seconds_median": round(
            statistics.median(store.get(read_run(i).model).record["training_seconds"] for i, _ in pressed), 2
        ),
        "started_in_order": order,
    }


def finished(run_id: str) -> bool:
    run = read_run(run_id)
    return run.finished and bool(run.model or run.status != "done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=0, help="simulate a class of this many students, print JSON")
    students = parser.parse_args().students
    started = time.perf_counter()
    start_sync()
    if students:
        os.environ.setdefault("MNIST_LAB_DATA", tempfile.mkdtemp(prefix="queue-data-"))  # the default class limits
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(a_class(students, ModelStore(tmp, bundled_dir=None)), indent=1))
        return
    print(f"Local Ray started and the board up in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(tmp, bundled_dir=None)
        seed_d(store)
        gap(store)
        six_runs(store)
        memory()
    print(f"({len(list_runs())} runs in the class database {records().db.where})")


if __name__ == "__main__":
    main()
