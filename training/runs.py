"""Training runs outside the browser: a worker process per run, and its folder as the record.

    runs/                       $MNIST_LAB_RUNS, default `runs/` beside app.py (ignored by git)
      active.lock               the running run's id and worker pid: one run at a time per server
      20261121-064512-ab12/
        config.json             the TrainConfig
        events.jsonl            one Progress per line, appended by the worker
        status.json             running | stopped | done | failed (with the error) | interrupted
                                (written once its checkpoint is kept), and the model
        stop                    appears when someone asks the run to stop
        best.weights.h5         the best epoch so far (kept if the worker dies; `keep_checkpoint`)
        log.txt                 the worker's own output

A page never trains: it starts a worker, then only reads these files, so reloading, closing
the tab or opening a second one changes nothing. A status still "running" whose worker is gone
reads as "interrupted".
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from model_store import ModelStore, Predictor, StoredModel
from model_store.files import write_atomic
from model_store.store import PROJECT_ROOT
from training.config import TrainConfig
from training.curves import best_epoch, history_of, reports_of
from training.engine import CHECKPOINT, Progress, build_model, make_record
from training.evaluation import evaluate

FINISHED = ("done", "stopped", "failed", "interrupted")


class RunBusy(RuntimeError):
    """Another run is in progress; its id is in `run_id`."""

    def __init__(self, run_id: str):
        super().__init__(f"a training run is in progress ({run_id}); watch it or stop it first")
        self.run_id = run_id


@dataclass
class Run:
    id: str
    status: str  # running, stopping, done, stopped, failed, interrupted
    config: dict
    events: list[Progress] = field(default_factory=list)
    model: str | None = None  # the stored model's name, once saved
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def latest(self) -> Progress | None:
        return self.events[-1] if self.events else None

    @property
    def checkpoint(self) -> Path:
        """The best epoch's weights, written by the worker as it trains."""
        return runs_root() / self.id / CHECKPOINT


def runs_root() -> Path:
    return Path(os.environ.get("MNIST_LAB_RUNS") or PROJECT_ROOT / "runs")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A finished child we started ourselves lingers as a zombie until reaped: that is not alive.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def active_run() -> str | None:
    """The id of the run in progress, or None. A lock left by a dead worker is cleared."""
    lock = runs_root() / "active.lock"
    try:
        run_id, pid = lock.read_text().split()
    except (OSError, ValueError):
        return None
    if _alive(int(pid)):
        return run_id
    lock.unlink(missing_ok=True)
    return None


def start_run(config: TrainConfig, store: ModelStore) -> str:
    """Check the config and the name, take the one-run lock, start the worker; returns the run id."""
    c = config.resolved()
    c.name = c.name or f"{c.arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    store.check_free(c.name)
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    run_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    lock = root / "active.lock"
    active_run()  # clears a stale lock
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise RunBusy(active_run() or "?") from None
    os.write(fd, f"{run_id} {os.getpid()}".encode())  # held by this process until the worker runs
    os.close(fd)
    run_dir = root / run_id
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(c.to_dict()))
    _write_status(run_dir, "running")
    command = [sys.executable, "-m", "training.worker", str(run_dir), str(store.root), str(os.getpid())]
    with open(run_dir / "log.txt", "wb") as log:
        worker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT_ROOT)
    write_atomic(lock, lambda tmp: tmp.write_text(f"{run_id} {worker.pid}"))  # now the worker holds it
    return run_id


def request_stop(run_id: str) -> None:
    (runs_root() / run_id / "stop").touch()


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
    run = Run(
        run_id,
        status["status"],
        json.loads((run_dir / "config.json").read_text()),
        events,
        status.get("model"),
        status.get("error"),
    )
    if run.status == "running" and active_run() != run_id:
        run.status = "interrupted"  # its worker is gone: killed, or the server restarted
    elif run.status == "running" and (run_dir / "stop").exists():
        run.status = "stopping"
    return run


def keep_checkpoint(run_id: str, store: ModelStore) -> StoredModel:
    """Store an interrupted run's best checkpoint as its model, evaluated like any trained one,
    so the epochs it finished are not lost."""
    run = read_run(run_id)
    if run.status != "interrupted" or run.model or not run.checkpoint.exists():
        raise ValueError(f"run {run_id} has no checkpoint to keep (it is {run.status})")
    c = TrainConfig.from_dict(run.config)
    model = build_model(c)
    model.load_weights(run.checkpoint)
    history = history_of(run.events)
    evaluation = evaluate(Predictor(model, c.normalization))
    seconds = run.latest.elapsed if run.latest else 0.0
    best = best_epoch(history, c.monitor)  # the checkpoint holds the best finished epoch
    record = make_record(c, model, history, evaluation, seconds, "interrupted", reports_of(run.events), best)
    entry = store.save(model, record, evaluation.probabilities)
    _write_status(runs_root() / run_id, "interrupted", model=entry.name)
    return entry


def latest_run() -> str | None:
    """The newest run's id: the one every page view shows."""
    root = runs_root()
    runs = sorted(p.name for p in root.iterdir() if (p / "status.json").exists()) if root.is_dir() else []
    return runs[-1] if runs else None


# ---------------------------------------------------------------- used by the worker


def _write_status(run_dir: Path, status: str, **extra) -> None:
    write_atomic(run_dir / "status.json", lambda tmp: tmp.write_text(json.dumps({"status": status, **extra})))


class EventLog:
    """Progress reports appended to events.jsonl, one JSON object a line."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "events.jsonl"

    def __call__(self, p: Progress) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(asdict(p)) + "\n")


class StopFile:
    """The stop signal: the run's `stop` file exists (checked after every batch, a stat call).

    If the server that started the worker is gone, the run ends at once, unsaved: it then reads
    as interrupted, its best checkpoint kept, and no orphan keeps the CPU busy.
    """

    def __init__(self, run_dir: Path, server_pid: int):
        self.path = run_dir / "stop"
        self.server = server_pid  # passed in: the server may be gone before the worker looks

    def is_set(self) -> bool:
        if os.getppid() != self.server:
            raise SystemExit("the server that started this run is gone")
        return self.path.exists()
