"""What runs on a Ray worker: one actor per training run (`Trainer`), reporting to the board.

A run is a detached, named actor (`run-ID`), not a task: Ray ties a task to the process that
submitted it and ends it when that process ends, while a detached actor lives on its own. So a
run trains on when the app process that queued it stops, is killed or restarts, and the app that
comes back finds it on the board. The actor starts training in a thread of its own as soon as Ray
gives it a CPU; its constructor returns at once, so Ray counts it as started, and its main thread
stays free for `join` (the board watches it to learn, from Ray, if the worker died). Once the
board has the result, the actor ends itself and its CPU goes to the next run. (The board calls
are made from the training thread: a worker blocked in `ray.get` on its main thread would lend
its CPU to the next queued run, which would then train beside it.)

The board creates a run's actor only when a CPU is free for it, in fair-share order
(`training.board`); Ray's own queue stays empty. The model comes back through the board, never
through a shared disk: a worker needs none.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

import ray
from ray import exceptions

from model_store import ModelStore
from model_store.database import Database
from model_store.status import Status
from training.engine import CHECKPOINT, LAST_EPOCH, Progress, Resume
from training.spec import RunSpec
from training.teach import Teaching

CPUS_PER_RUN = 1  # what a run asks Ray for, and the threads it trains with (`warm_worker`)
ASK_SECONDS = 0.5  # how often a run asks the board whether Stop was pressed


def actor_name(run_id: str) -> str:
    return f"run-{run_id}"


@ray.remote(num_cpus=CPUS_PER_RUN, max_restarts=0)
class Trainer:
    def __init__(self, run_id: str, spec: RunSpec, board, teaching: Teaching | None, resume: Resume | None, first_seq: int):
        args = (run_id, spec, board, teaching, resume, first_seq)
        self.thread = threading.Thread(target=train_run, args=args, daemon=True)
        self.thread.start()

    def join(self) -> None:
        """Returns when the run has ended; fails, with Ray's reason, if its worker dies first."""
        self.thread.join()


def train_run(run_id: str, spec: RunSpec, board, teaching: Teaching | None, resume: Resume | None, first_seq: int) -> None:
    """Train one run, tell the board how it ended, then end this actor (its CPU is free). Its
    progress events are numbered from `first_seq` (a resumed run's go on from those recorded)."""
    from model_store.backend import keras  # loaded once per worker, before the run counts as started
    from training.engine import train

    try:
        threads = _threads()
        if not ray.get(board.start.remote(run_id, ray.get_runtime_context().get_node_id(), os.getpid(), threads)):
            return  # cancelled while it waited
        stop = BoardStop(board, run_id)
        try:
            keras.backend.clear_session()
            with tempfile.TemporaryDirectory() as tmp:
                # A scratch store: the model reaches the class's store through the board, once.
                store = ModelStore(Path(tmp) / "models", bundled_dir=None, db=Database(Path(tmp) / "scratch.sqlite3"))
                report = BoardReport(board, run_id, Path(tmp), first_seq)
                result = train(spec.config, store, report, stop, Path(tmp), teaching, resume)
                entry = result.entry
                files = {
                    "model": entry.model_path.read_bytes(),
                    "record": {k: v for k, v in entry.record.items() if k not in ("files", "model_sha256")},
                    "probabilities": store.test_probabilities(entry),
                }
            ray.get(board.finish.remote(run_id, Status.STOPPED if result.stopped_by == "user" else Status.DONE, files))
        except Exception as err:  # shown on the page as a failed run, with its error
            ray.get(board.finish.remote(run_id, Status.FAILED, error=f"{type(err).__name__}: {err}"))
        finally:
            stop.done.set()
    finally:
        ray.kill(ray.get_runtime_context().current_actor)


class BoardStop:
    """The stop signal: a thread asks the board twice a second and sets it."""

    def __init__(self, board, run_id: str):
        self.event, self.done = threading.Event(), threading.Event()
        self.board, self.run_id = board, run_id
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.done.wait(ASK_SECONDS):
            try:
                if ray.get(self.board.stop_asked.remote(self.run_id)):
                    self.event.set()
            except exceptions.RayError:
                continue  # the board restarting: ask again, the run trains on

    def is_set(self) -> bool:
        return self.event.is_set()


class BoardReport:
    """Progress to the board; the best checkpoint whenever training wrote a better one, and the
    last finished epoch's whole model (a restarted app resumes the run from it)."""

    def __init__(self, board, run_id: str, folder: Path, first_seq: int):
        self.board, self.run_id, self.folder, self.shipped, self.seq = board, run_id, folder, {}, first_seq

    def _changed(self, name: str) -> bytes | None:
        path = self.folder / name
        if not path.exists() or path.stat().st_mtime_ns == self.shipped.get(name):
            return None
        self.shipped[name] = path.stat().st_mtime_ns
        return path.read_bytes()

    def __call__(self, p: Progress) -> None:
        if (weights := self._changed(CHECKPOINT)) is not None:
            self.board.save_checkpoint.remote(self.run_id, weights)
        if p.phase == "epoch" and (model := self._changed(LAST_EPOCH)) is not None:
            self.board.save_resume.remote(self.run_id, model, p.epoch)
        self.board.report.remote(self.run_id, {**asdict(p), "seq": self.seq})
        self.seq += 1


def warm_worker() -> None:
    """Run by Ray in every worker as it starts (`cluster.connect`): what each run needs, loaded once.

    Ray never gives an actor a worker that has run a task (ray-project/ray#28773), so each run's
    actor gets a fresh worker, and this import (~2.5 s here) is the gap between one run ending
    and the next starting; only the workers Ray starts with it are ready in advance. (Warm-up
    tasks, tried before, warmed workers no run could use: six short runs took 30.0 s, not 18.3.)

    A run trains with as many threads as the CPUs it asks Ray for, no more: TensorFlow would
    otherwise take every core of the machine (its default), and two runs on two cores would each
    run two threads, fighting. Measured here, the class recipe: 7.5 s on one thread, 5.7 s on two,
    so two runs side by side on one thread each finish more in the same time (a run a 3.7 s
    against one a 5.7 s). Set before TensorFlow runs its first operation.
    """
    os.environ["OMP_NUM_THREADS"] = str(CPUS_PER_RUN)
    from model_store import load_mnist
    from model_store.backend import tf

    tf.config.threading.set_intra_op_parallelism_threads(CPUS_PER_RUN)
    tf.config.threading.set_inter_op_parallelism_threads(CPUS_PER_RUN)
    from training import engine  # noqa: F401  (Keras and the rest of the engine)

    load_mnist()


def _threads() -> dict:
    """The threads this worker trains with, as the run's status records them."""
    from model_store.backend import tf

    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "omp": int(os.environ.get("OMP_NUM_THREADS", "0")),
    }
