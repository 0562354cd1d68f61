"""Training runs from the browser, queued on Ray: everyone's runs, many at a time, on this machine
or a cluster (`training.cluster`).

    submit_run(config, store, by)               queue a run (within the class limits); returns its id
    request_stop(run_id, by)                    cancel it while it waits, stop it while it runs
    clear_queue(by)                             the teacher cancels every waiting run
    read_run(run_id), list_runs()               what the pages show
    keep_checkpoint(run_id, store)              an interrupted run's best epoch, as a model

Each run is a Ray task asking for CPUS_PER_RUN CPU; Ray starts what fits and keeps the rest
waiting, first come first served. The task tells the board (`training.board`) its progress, best
checkpoint and result; a thread in each app process copies what changed to the app's own disk
and stores finished models in the app's store. The task never touches the app's disk, so a
worker machine needs none of it, and the pages only read the disk:

    runs/                       $MNIST_LAB_RUNS, default `runs/` beside app.py (ignored by git)
      20261121-064512-123456-ab12/  run ids sort in the order the runs were submitted
        config.json             the TrainConfig, plus who started it, from which session
        status.json             waiting | running | stopping | done | stopped | failed | cancelled
                                | interrupted; the stored model, the error, the node
        events.jsonl            its progress, one event a line
        best.weights.h5         the best epoch so far
        teaching.npz            a teaching run's base model and class drawings (training.teach)

When the app restarts, a run the board no longer knows is recovered from this folder: a waiting
one is queued again (it keeps its place), a running one reads as interrupted and its best
checkpoint is offered.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import ray
from ray import exceptions

from model_store import ModelStore, StoredModel
from model_store.files import PROJECT_ROOT, write_atomic
from model_store.roles import Person, require
from model_store.store import StoreError
from training import cluster
from training.board import FINISHED
from training.config import TrainConfig
from training.engine import CHECKPOINT, Progress
from training.limits import check_run, read_limits
from training.teach import Teaching, teaching_of

CPUS_PER_RUN = 1
TEACHING = "teaching.npz"
SYNC_SECONDS = 0.5


@dataclass
class Run:
    id: str
    status: str
    config: dict
    events: list[Progress] = field(default_factory=list)
    model: str | None = None  # the stored model's name, once saved
    error: str | None = None
    node: str | None = None  # the Ray node it ran on
    pid: int | None = None  # its worker process there

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def latest(self) -> Progress | None:
        return self.events[-1] if self.events else None

    @property
    def owner(self) -> str:
        return self.config.get("owner", "?")

    @property
    def checkpoint(self) -> Path:
        """The best epoch's weights, copied to the app's disk as the run goes."""
        return runs_root() / self.id / CHECKPOINT


def runs_root() -> Path:
    return Path(os.environ.get("MNIST_LAB_RUNS") or PROJECT_ROOT / "runs")


# ---------------------------------------------------------------- the app's side


def submit_run(config: TrainConfig, store: ModelStore, by: Person, experiment: dict | None = None) -> str:
    """Check the config, the name and the class limits, then queue the run; its id. Raises
    ConfigError, StoreError, OverLimit, or cluster.ClusterUnavailable (with the reason in one line)."""
    c = config.resolved()
    c.name = c.name or f"{c.arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(1)}"
    store.check_free(c.name)
    runs = list_runs()
    if any(r.config.get("name") == c.name and not r.finished for r in runs):
        raise StoreError(f"a queued run will store a model named {c.name!r}; choose another name")
    # An experiment's runs count as one: it is one press of a button.
    waiting = {
        r.config.get("experiment", {}).get("name") or r.id
        for r in runs
        if r.status == "waiting" and r.config.get("session") == by.session
    }
    group = (experiment or {}).get("name")
    check_run(c, by, 0 if group in waiting else len(waiting), read_limits())
    teaching = None
    if c.teach:  # the base model and the drawings go with the run: a worker has no access to them
        c, teaching = teaching_of(c, store)
    start_sync()  # connects to Ray first: ClusterUnavailable before anything is written
    now = datetime.now()
    run_id = f"{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}-{secrets.token_hex(2)}"  # sorts in the order submitted
    run_dir = runs_root() / run_id
    run_dir.mkdir(parents=True)
    record = {**c.to_dict(), "owner": by.name, "session": by.session, "experiment": experiment or {}, "store": str(store.root)}
    (run_dir / "config.json").write_text(json.dumps(record))
    if teaching is not None:
        (run_dir / TEACHING).write_bytes(teaching.to_bytes())
    _write_status(run_dir, {"status": "waiting"})
    _queue(run_id, record, teaching)
    return run_id


def _queue(run_id: str, record: dict, teaching: Teaching | None) -> None:
    board = cluster.board()
    task = train_task.remote(run_id, record, board, teaching)
    ray.get(board.add.remote(run_id, [task]))


def request_stop(run_id: str, by: Person) -> None:
    """Cancel a waiting run, or stop a running one after its batch (its best weights are kept).
    A person's own runs are those queued from their browser; anyone's, for the teacher."""
    run = read_run(run_id)
    if run.config.get("session") != by.session:
        require(by, "stop_any_run", f" ({run.owner}'s {run.config.get('name')})")
    ray.get(cluster.board().stop.remote(run_id))
    sync()


def clear_queue(by: Person) -> int:
    """Cancel every waiting run (the running ones go on); how many were cancelled."""
    require(by, "clear_queue")
    waiting = [r.id for r in list_runs() if r.status == "waiting"]
    board = cluster.board()
    ray.get([board.stop.remote(run_id) for run_id in waiting])
    sync()
    return len(waiting)


def read_run(run_id: str) -> Run:
    run_dir = runs_root() / run_id
    status = json.loads((run_dir / "status.json").read_text())
    events = []
    if (run_dir / "events.jsonl").exists():
        for line in (run_dir / "events.jsonl").read_text().splitlines():
            try:
                events.append(Progress(**json.loads(line)))
            except (ValueError, TypeError):
                pass  # a line being written right now
    config = json.loads((run_dir / "config.json").read_text())
    return Run(
        run_id, status["status"], config, events, status.get("model"), status.get("error"), status.get("node"), status.get("pid")
    )


def list_runs() -> list[Run]:
    """Every run on record, oldest first: the order they were submitted."""
    root = runs_root()
    ids = sorted(p.name for p in root.iterdir() if (p / "status.json").exists()) if root.is_dir() else []
    runs = []
    for run_id in ids:
        try:
            runs.append(read_run(run_id))
        except (OSError, ValueError, KeyError):
            continue  # a folder being written, or broken by hand: the others still show
    return runs


def queue_places(runs: list[Run]) -> dict[str, tuple[int, float | None]]:
    """Each waiting run's place in the queue (1 = next) and a rough wait in seconds: the n-th
    waiting run starts about when the n-th of the running runs ends (unknown past them)."""
    running = [r for r in runs if r.status in ("running", "stopping")]
    known = [r.latest.eta for r in running if r.latest and r.latest.eta is not None]
    # A run still starting (no estimate yet) ends after every run that has one.
    remaining = sorted(known) + [None] * (len(running) - len(known))
    waiting = [r for r in runs if r.status == "waiting"]
    return {r.id: (i + 1, remaining[i] if i < len(remaining) else None) for i, r in enumerate(waiting)}


def keep_checkpoint(run_id: str, store: ModelStore) -> StoredModel:
    """Store an interrupted run's best checkpoint as its model, evaluated like any trained one,
    so the epochs it finished are not lost."""
    from model_store import Predictor
    from training.curves import best_epoch, history_of, reports_of
    from training.engine import build_model, load_base, make_record
    from training.evaluation import evaluate

    run = read_run(run_id)
    if run.status != "interrupted" or run.model or not run.checkpoint.exists():
        raise ValueError(f"run {run_id} has no checkpoint to keep (it is {run.status})")
    c = TrainConfig.from_dict(run.config)
    kept = runs_root() / run_id / TEACHING  # a teaching run's weights fit its base model, not c.arch's
    model = load_base(Teaching.from_bytes(kept.read_bytes())) if kept.exists() else build_model(c)
    model.load_weights(run.checkpoint)
    history = history_of(run.events)
    evaluation = evaluate(Predictor(model, c.normalization))
    seconds = run.latest.elapsed if run.latest else 0.0
    best = best_epoch(history, c.monitor)  # the checkpoint holds the best finished epoch
    record = make_record(c, model, history, evaluation, seconds, "interrupted", reports_of(run.events), best)
    entry = store.save(model, record, evaluation.probabilities)
    _write_status(runs_root() / run_id, {**_status_of(run_id), "model": entry.name})
    return entry


# ---------------------------------------------------------------- copying the board to the disk


# This process's copy of the board: each run's version and progress lines, the checkpoints fetched.
_sync = {
    "thread": None,
    "ready": threading.Event(),
    "stop": threading.Event(),
    "versions": {},
    "lines": {},
    "checkpoints": {},
    "lock": threading.Lock(),
}


def warm_up() -> None:
    """Start Ray in the background as soon as someone opens the Train page: the first start takes
    seconds, better spent before they press Train. A failure waits in `cluster.problem()`."""
    with _sync["lock"]:
        if _sync["thread"] is None:
            _sync["thread"] = threading.Thread(target=_engine, name="runs-engine", daemon=True)
            _sync["thread"].start()


def start_sync(timeout: float = 180) -> None:
    """Ray up, what a restart left recovered, and this process's copy of the board kept fresh;
    raises ClusterUnavailable with the reason when Ray cannot be started or joined."""
    warm_up()
    if not _sync["ready"].wait(timeout):
        raise cluster.ClusterUnavailable(f"Training is unavailable: Ray did not start within {timeout:.0f} s.")
    if cluster.problem():
        raise cluster.ClusterUnavailable(cluster.problem())


def _engine() -> None:
    """Connects to Ray, then copies the board every SYNC_SECONDS for as long as the process runs.

    Ray is started from this thread because it lives as long as the app: Ray ties the processes
    it starts to the life of the *thread* that started them (Linux' parent-death signal), so a
    Ray started from a page's short-lived script thread dies a moment after it starts.
    """
    try:
        cluster.connect(owner=runs_root() / ".local-ray.lock")
        if not cluster.address():
            # One warm worker for each CPU and one more, loading TensorFlow now: when a run ends,
            # the next one starts on a worker that is ready, not on one still importing.
            for _ in range(int(ray.cluster_resources().get("CPU", 1)) + 1):
                _warm_up_worker.remote()
        recover()
    except cluster.ClusterUnavailable:
        return  # the reason is in cluster.problem()
    finally:
        _sync["ready"].set()
    atexit.register(_stop_engine)  # runs before Ray's own shutdown, registered earlier
    while not _sync["stop"].is_set():
        try:
            sync()
        except Exception:  # a passing Ray hiccup must not end the copying for good
            pass
        _sync["stop"].wait(SYNC_SECONDS)


def _stop_engine() -> None:
    """At exit: no copying while Ray shuts down (it would touch a Ray already gone)."""
    _sync["stop"].set()
    _sync["thread"].join(timeout=5)


def sync() -> None:
    """Copy every change on the board to the runs folder; store finished models."""
    board = cluster.board()
    with _sync["lock"]:
        known = {run_id: (version, len(_sync["lines"].get(run_id, []))) for run_id, version in _sync["versions"].items()}
        for run_id, state in ray.get(board.changes.remote(known)).items():
            run_dir = runs_root() / run_id
            _sync["versions"][run_id] = state["version"]
            lines = _sync["lines"].setdefault(run_id, [])
            lines.extend(json.dumps(e) + "\n" for e in state["events"])  # only the new ones come
            if not run_dir.is_dir():
                continue  # another app's run, with another runs folder
            if state["checkpoint"] != _sync["checkpoints"].get(run_id):
                weights = ray.get(board.checkpoint_of.remote(run_id))
                if weights:
                    write_atomic(run_dir / CHECKPOINT, lambda p, w=weights: p.write_bytes(w))
                _sync["checkpoints"][run_id] = state["checkpoint"]
            write_atomic(run_dir / "events.jsonl", lambda p, text="".join(lines): p.write_text(text))
            fields = ("status", "error", "node", "pid", "model", "started", "finished")
            _write_status(run_dir, {**_status_of(run_id), **{k: state[k] for k in fields if state.get(k) is not None}})
            if state.get("has_result") and not state.get("model"):
                _store_result(board, run_id)


def _store_result(board, run_id: str) -> None:
    result = ray.get(board.take_result.remote(run_id))
    if result is None:
        return  # another app process took it
    config = json.loads((runs_root() / run_id / "config.json").read_text())
    store = ModelStore(config.get("store"))
    try:
        entry = store.save(result["model"], result["record"], result["probabilities"])
    except (StoreError, OSError) as err:  # a name taken since, a full disk, a store that is not a folder
        ray.get(board.stored.remote(run_id, None, f"not stored: {err}"))
    else:
        ray.get(board.stored.remote(run_id, entry.name))


def recover() -> None:
    """Runs on disk that the board does not know: left by an app that stopped. A waiting one is
    queued again, a running one is interrupted (its best checkpoint, if any, is on disk)."""
    unfinished = [r for r in list_runs() if not r.finished]
    if not unfinished:
        return
    board = cluster.board()
    known = set(ray.get(board.knows.remote([r.id for r in unfinished])))
    for run in unfinished:
        if run.id in known:
            continue  # alive in the cluster, watched by another app process
        if run.status == "waiting":
            kept = runs_root() / run.id / TEACHING
            _queue(run.id, run.config, Teaching.from_bytes(kept.read_bytes()) if kept.exists() else None)
        else:
            error = "the app restarted while it ran"
            _write_status(runs_root() / run.id, {**_status_of(run.id), "status": "interrupted", "error": error})


def _status_of(run_id: str) -> dict:
    try:
        return json.loads((runs_root() / run_id / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_status(run_dir: Path, status: dict) -> None:
    write_atomic(run_dir / "status.json", lambda tmp: tmp.write_text(json.dumps(status)))


# ---------------------------------------------------------------- the task, on a Ray worker


class BoardStop:
    """The stop signal: a thread asks the board twice a second and sets it."""

    def __init__(self, board, run_id: str):
        self.event, self.done = threading.Event(), threading.Event()
        self.board, self.run_id = board, run_id
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.done.wait(SYNC_SECONDS):
            try:
                if ray.get(self.board.stop_asked.remote(self.run_id)):
                    self.event.set()
            except exceptions.RayError:
                continue  # a passing hiccup: ask again, the run trains on

    def is_set(self) -> bool:
        return self.event.is_set()


class BoardReport:
    """Progress to the board; the best checkpoint too, whenever the training wrote a better one."""

    def __init__(self, board, run_id: str, checkpoint: Path):
        self.board, self.run_id, self.checkpoint, self.shipped = board, run_id, checkpoint, 0.0

    def __call__(self, p: Progress) -> None:
        if self.checkpoint.exists() and self.checkpoint.stat().st_mtime != self.shipped:
            self.shipped = self.checkpoint.stat().st_mtime
            self.board.save_checkpoint.remote(self.run_id, self.checkpoint.read_bytes())
        self.board.report.remote(self.run_id, asdict(p))


def warm_worker() -> None:
    """Run by Ray in every worker as it starts (`cluster.connect`): what each run needs, loaded once.

    Ray sets OMP_NUM_THREADS=1 for a one-CPU task, and TensorFlow's oneDNN kernels then keep to
    one thread (measured here: 1.04 cores busy against 1.17 from the command line); a run may use
    the machine's cores as the command line does, before TensorFlow reads the setting.
    """
    os.environ["OMP_NUM_THREADS"] = str(os.cpu_count())
    from model_store import load_mnist
    from training import engine  # noqa: F401  (TensorFlow and Keras)

    load_mnist()


def _get(ref):
    """`ray.get` from a helper thread. A task whose main thread blocks in `ray.get` lends its CPU
    to the next queued run while it waits (Ray's guard against deadlock), and that run would then
    train beside it: three runs on two CPUs. Ray lends nothing for other threads."""
    box = {}

    def fetch() -> None:
        try:
            box["value"] = ray.get(ref)
        except Exception as err:  # raised again in the task's own thread
            box["error"] = err

    helper = threading.Thread(target=fetch)
    helper.start()
    helper.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@ray.remote(num_cpus=0)
def _warm_up_worker() -> None:
    time.sleep(2)  # long enough that each of these lands on a worker of its own


@ray.remote(num_cpus=CPUS_PER_RUN, max_retries=0)
def train_task(run_id: str, record: dict, board, teaching: Teaching | None = None) -> None:
    """Train one run on whichever worker Ray chose; TensorFlow and MNIST stay loaded in the worker
    for the next run. The model comes back through the board, never through a shared disk."""
    from model_store.backend import keras  # loaded once per worker, before the run counts as started
    from training.engine import train

    if not _get(board.start.remote(run_id, ray.get_runtime_context().get_node_id(), os.getpid())):
        return  # cancelled while it waited
    stop = BoardStop(board, run_id)
    try:
        keras.backend.clear_session()  # a reused worker: nothing left of the previous run's models
        with tempfile.TemporaryDirectory() as tmp:
            store = ModelStore(Path(tmp) / "models", bundled_dir=None)
            report = BoardReport(board, run_id, Path(tmp) / CHECKPOINT)
            config = TrainConfig.from_dict(record)
            result = train(config, store, on_progress=report, stop=stop, run_dir=Path(tmp), teaching=teaching)
            entry = result.entry
            files = {
                "model": entry.model_path.read_bytes(),
                "record": {k: v for k, v in entry.record.items() if k not in ("files", "model_sha256")},
                "probabilities": store.test_probabilities(entry),
            }
        _get(board.finish.remote(run_id, "stopped" if result.stopped_by == "user" else "done", files))
    except Exception as err:  # shown on the page as a failed run, with its error
        _get(board.finish.remote(run_id, "failed", error=f"{type(err).__name__}: {err}"))
    finally:
        stop.done.set()
