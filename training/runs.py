"""Training runs from the browser, queued on Ray: everyone's runs, many at a time, on this machine
or a cluster (`training.cluster`).

    submit_run(config, store, by)               queue a run (within the class limits); returns its id
    request_stop(run_id, by)                    cancel it while it waits, stop it while it runs
    clear_queue(by)                             the teacher cancels every waiting run
    read_run(run_id), list_runs()               what the pages show (list_runs reads no events)
    keep_checkpoint(run_id, store)              an interrupted run's best epoch, as a model
    archive_runs(days)                          finished runs older than that move to runs/archive/

A queued run waits on the board (`training.board`), which gives it a detached Ray actor asking for
CPUS_PER_RUN CPU (`training.worker`) once one is free, in fair-share order: the teacher's runs
first, then round robin by person. A run outlives the app process that queued it. The run tells
the board its progress, checkpoints and result;
a thread in each app process copies what changed to the app's own disk and stores finished models
in the app's store. The run never touches the app's disk, so a worker machine needs none of it,
and the pages only read the disk:

    runs/                       $MNIST_LAB_RUNS, default `runs/` beside app.py (ignored by git)
      20261121-064512-123456-ab12/  run ids sort in the order the runs were submitted
        config.json             the TrainConfig, plus who started it, from which session
        status.json             waiting | running | stopping | done | stopped | failed | cancelled
                                | interrupted; the stored model, the error, the node, the latest progress,
                                when the board gave it a CPU and when its worker started it
        events.jsonl            its progress, one event a line, appended
        best.weights.h5         the best epoch so far
        last.keras              the last finished epoch, optimizer included: where a run resumes
        teaching.npz            a teaching run's base model and class drawings (training.teach)
      archive/                  old finished runs, out of the lists
      .renamed                  written when a person's rename rewrote owners in config files
      .queue.json               the board's waiting runs, in the order they will start

When the app restarts and the board has never heard of a run on disk (the app's own Ray went
with the app), the run is recovered from this folder: a waiting one is queued again (it keeps its
place), a running one resumes from its last finished epoch. A board that restarts is told again
what the disk holds, and the runs still training in the cluster carry on.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import ray
from ray import exceptions

from model_store import ModelStore, StoredModel
from model_store.files import runs_root, write_atomic
from model_store.people import Register
from model_store.roles import Person, require
from model_store.store import StoreError
from training import cluster
from training.board import FINISHED
from training.config import TrainConfig
from training.engine import CHECKPOINT, LAST_EPOCH, Progress, Resume
from training.limits import check_run, read_limits
from training.teach import Teaching, teaching_of
from training.worker import actor_name

TEACHING = "teaching.npz"
SYNC_SECONDS = 0.5
BOARD_SECONDS = 10  # a board call that takes longer: the board is restarting
RETRY_STORE_SECONDS = 5  # between tries to store a model the store refused
APP_ID = secrets.token_hex(4)  # this app process, to the board
log = logging.getLogger("mnist_lab.runs")


@dataclass
class Run:
    id: str
    status: str
    config: dict
    events: list[Progress] = field(default_factory=list)  # read by read_run only
    model: str | None = None  # the stored model's name, once saved
    error: str | None = None
    node: str | None = None  # the Ray node it ran on
    pid: int | None = None  # its worker process there
    last: dict | None = None  # its latest progress, as status.json keeps it

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def latest(self) -> Progress | None:
        if self.events:
            return self.events[-1]
        return progress_of(self.last) if self.last else None

    @property
    def owner(self) -> str:
        return self.config.get("owner", "?")

    @property
    def maker(self) -> dict:
        """Who queued it, as `roles.owns` reads it: their name and browser."""
        return {"name": self.owner, "browser": self.config.get("session")}

    @property
    def checkpoint(self) -> Path:
        """The best epoch's weights, copied to the app's disk as the run goes."""
        return runs_root() / self.id / CHECKPOINT


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
    limits = read_limits()
    check_run(c, by, 0 if group in waiting else len(waiting), limits)
    teaching = None
    if c.teach:  # the base model and the drawings go with the run: a worker has no access to them
        c, teaching = teaching_of(c, store)
    start_sync()  # connects to Ray first: ClusterUnavailable before anything is written
    now = datetime.now()
    run_id = f"{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}-{secrets.token_hex(2)}"  # sorts in the order submitted
    run_dir = runs_root() / run_id
    run_dir.mkdir(parents=True)
    record = {
        **c.to_dict(),
        "owner": by.name,
        "session": by.session,
        "teacher": by.teacher,  # their runs go first
        "running_limit": 0 if by.teacher else limits.running,  # the board starts no more of theirs at once
        "experiment": experiment or {},
        "store": str(store.root),
    }
    (run_dir / "config.json").write_text(json.dumps(record))
    if teaching is not None:
        (run_dir / TEACHING).write_bytes(teaching.to_bytes())
    _write_status(run_dir, {"status": "waiting"})
    _queue(run_id, record, teaching)
    return run_id


def _queue(run_id: str, record: dict, teaching: Teaching | None, resume: Resume | None = None) -> None:
    """A run on the board's queue, with what it trains on. A board that is restarting gets it when
    it is back (Ray retries the call), so this never waits long."""
    board = cluster.board()
    ray.wait([board.queue.remote(run_id, record, teaching, resume, _written(run_id))], timeout=BOARD_SECONDS)


def request_stop(run_id: str, by: Person) -> None:
    """Cancel a waiting run (it never starts), or stop a running one after its batch (its best weights are kept). A person's own runs are those queued from their
    browser; anyone's, for the teacher."""
    run = read_run(run_id)
    require(by, "stop_any_run", f" ({run.owner}'s {run.config.get('name')})", owner=run.maker)
    _stop(cluster.board(), [run_id])


def clear_queue(by: Person) -> int:
    """Cancel every waiting run (the running ones go on); how many were cancelled."""
    require(by, "clear_queue")
    waiting = [r.id for r in list_runs() if r.status == "waiting"]
    _stop(cluster.board(), waiting)
    return len(waiting)


def _stop(board, run_ids: list[str]) -> None:
    try:
        ray.get([board.stop.remote(run_id) for run_id in run_ids], timeout=BOARD_SECONDS)
    except (exceptions.GetTimeoutError, exceptions.RayActorError):
        raise cluster.ClusterUnavailable(
            "The training queue is reconnecting (its board restarted); try again in a moment."
        ) from None
    _sync["wake"].set()


def read_run(run_id: str) -> Run:
    """A run with its events (read incrementally: only what was appended since the last read)."""
    _forget_renamed_owners(runs_root())
    run = _listed(run_id, runs_root())
    run.events = _events(runs_root() / run_id / "events.jsonl")
    return run


def list_runs() -> list[Run]:
    """Every run on record, oldest first (the order they were submitted), without their events:
    a status file each, read again only when it changed."""
    root = runs_root()
    _forget_renamed_owners(root)
    runs = []
    ids = sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name != ARCHIVE) if root.is_dir() else []
    for run_id in ids:
        try:
            runs.append(_listed(run_id, root))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder being written, or broken by hand: the others still show
    return runs


_cache: dict = {"configs": {}, "statuses": {}, "events": {}, "renamed": None}  # this process's copies of files read
RENAMED = ".renamed"  # in the runs folder: written after a rename changed owners in config files


def _forget_renamed_owners(root: Path) -> None:
    """A config file is written once, and again only when its owner is renamed (`rename_person`),
    which then writes RENAMED: one stat of it tells every app process to read the configs again,
    not a stat of each of a term's thousands of config files at every listing."""
    try:
        found = (root / RENAMED).stat()
        stamp = (found.st_mtime_ns, found.st_ino)
    except OSError:
        stamp = None
    if stamp != _cache["renamed"]:
        _cache["configs"].clear()
        _cache["renamed"] = stamp


def _listed(run_id: str, root: Path) -> Run:
    folder = root / run_id
    found = (folder / "status.json").stat()
    stamp = (found.st_mtime_ns, found.st_ino, found.st_size)  # each write is a new file (write_atomic)
    kept = _cache["statuses"].get(folder)
    if kept is None or kept[0] != stamp:
        kept = (stamp, json.loads((folder / "status.json").read_text()))
        _cache["statuses"][folder] = kept
    if folder not in _cache["configs"]:  # written before its status; again only by `rename_person`
        _cache["configs"][folder] = json.loads((folder / "config.json").read_text())
    status = kept[1]
    fields = {k: status.get(k) for k in ("model", "error", "node", "pid")}
    return Run(run_id, status["status"], _cache["configs"][folder], [], **fields, last=status.get("latest"))


def _events(path: Path) -> list[Progress]:
    """The events in `path`, reading only what was appended since this process last read it."""
    size = path.stat().st_size if path.exists() else 0
    done, events = _cache["events"].get(path, (0, []))
    if size < done:  # rewritten (a run recovered by hand): from the start
        done, events = 0, []
    if size > done:
        with open(path, "rb") as f:
            f.seek(done)
            tail = f.read(size - done)
        whole = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits for the next read
        events = events + [e for line in whole.splitlines() if (e := _event(line))]
        done += len(whole)
        _cache["events"][path] = (done, events)
    return list(events)


def progress_of(event: dict) -> Progress:
    """An event as the board and the disk keep it (with its number, `seq`) as a Progress."""
    return Progress(**{k: v for k, v in event.items() if k != "seq"})


def _event(line: bytes) -> Progress | None:
    try:
        return progress_of(json.loads(line))
    except (ValueError, TypeError):
        return None  # damaged by hand: the others still count


def queue_places(runs: list[Run]) -> dict[str, tuple[int, float | None]]:
    """Each waiting run's place in the queue (1 = next) and a rough wait in seconds: the n-th
    waiting run starts about when the n-th of the running runs ends (unknown past them). The
    order is the board's (fair share, `training.board`), as the engine thread last wrote it; a
    waiting run not in it has its CPU already, or is not on the board yet, and comes first."""
    running = [r for r in runs if r.status in ("running", "stopping")]
    known = [r.latest.eta for r in running if r.latest and r.latest.eta is not None]
    # A run still starting (no estimate yet) ends after every run that has one.
    remaining = sorted(known) + [None] * (len(running) - len(known))
    line = {run_id: place for place, run_id in enumerate(_board_order())}
    waiting = sorted((r.id for r in runs if r.status == "waiting"), key=lambda i: (i in line, line.get(i, 0), i))
    return {run_id: (i + 1, remaining[i] if i < len(remaining) else None) for i, run_id in enumerate(waiting)}


ORDER = ".queue.json"  # in the runs folder: the board's queued runs, in the order they will start


def _board_order() -> list[str]:
    try:
        return json.loads((runs_root() / ORDER).read_text())
    except (OSError, ValueError):
        return []


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


ARCHIVE = "archive"


def rename_person(old: str, new: str, by: Person, merge: bool = False) -> str:
    """A person's new name for their browsers and drawings (`Register.rename`, which checks who
    may), carried to their models' records and their runs' too; the name they now have."""
    new = Register().rename(old, new, by, merge)
    ModelStore().rename_owner(old, new)
    for run in list_runs():
        if run.owner == old:
            config = {**run.config, "owner": new}
            write_atomic(runs_root() / run.id / "config.json", lambda p, c=config: p.write_text(json.dumps(c)))
    if runs_root().is_dir():
        write_atomic(runs_root() / RENAMED, lambda p: p.write_text(f"{old} -> {new}"))  # every process reads configs again
    return new


def archive_runs(days: float) -> int:
    """Move finished runs submitted more than `days` ago into runs/archive/, out of every list
    (their models stay in the store); how many moved."""
    cutoff = datetime.now().timestamp() - days * 86400
    moved = 0
    for run in list_runs():
        submitted = datetime.strptime(run.id[:15], "%Y%m%d-%H%M%S").timestamp()
        if run.finished and submitted < cutoff:
            (runs_root() / ARCHIVE).mkdir(exist_ok=True)
            shutil.move(runs_root() / run.id, runs_root() / ARCHIVE / run.id)
            moved += 1
    return moved


# ---------------------------------------------------------------- copying the board to the disk


# This process's copy of the board: which board (its incarnation), each run's version and how
# many of its events are on disk, the checkpoints fetched, when a refused store is tried again.
_sync = {
    "thread": None,
    "start_lock": threading.Lock(),  # starting the engine thread: never held while Ray or a disk works
    "ready": threading.Event(),
    "stop": threading.Event(),
    "wake": threading.Event(),  # a stop pressed: copy now, not in half a second
    "incarnation": None,
    "versions": {},
    "written": {},  # each events.jsonl: (its size, the number of the first event not in it)
    "checkpoints": {},
    "resumes": {},
    "trimmed": set(),
    "retry": {},
    "problem": None,  # what the copying met last time, cleared by its next success
    "notice": (None, 0.0),  # the engine thread died and was started again: said for a minute
    "order": None,  # the board's queued runs, in the order they will start, as last written to ORDER
}


def warm_up() -> None:
    """Start Ray in the background as soon as someone opens the Train page: the first start takes
    seconds, better spent before they press Train. A failure waits in `problem()`. An engine
    thread that died is started again (and its death said by `problem()`)."""
    with _sync["start_lock"]:
        thread = _sync["thread"]
        if thread is not None and (thread.is_alive() or _sync["stop"].is_set()):
            return
        if thread is not None:
            said = f"The training queue's engine stopped ({_sync.get('death') or 'no reason given'}) and was started again."
            _sync["notice"] = (said, time.monotonic() + 60)
        _sync["thread"] = threading.Thread(target=_engine, name="runs-engine", daemon=True)
        _sync["thread"].start()


def pick_up() -> None:
    """At the app's start: runs a stopped app left unfinished go on now (queued again, resumed, or
    copied from the cluster where they trained on), not when someone next opens the Train page."""
    if any(not r.finished for r in list_runs()):
        warm_up()


def start_sync(timeout: float = 180) -> None:
    """Ray up, what a restart left recovered, and this process's copy of the board kept fresh;
    raises ClusterUnavailable with the reason when Ray cannot be started or joined."""
    warm_up()
    if not _sync["ready"].wait(timeout):
        raise cluster.ClusterUnavailable(f"Training is unavailable: Ray did not start within {timeout:.0f} s.")
    if cluster.problem():
        raise cluster.ClusterUnavailable(cluster.problem())


def problem() -> str | None:
    """What keeps the training queue from working right now, for the pages; None when all is well."""
    notice, until = _sync["notice"]
    return cluster.problem() or _sync["problem"] or (notice if time.monotonic() < until else None)


def _engine() -> None:
    """Connects to Ray, then copies the board every SYNC_SECONDS for as long as the process runs.

    Ray is started from this thread because it lives as long as the app: Ray ties the processes
    it starts to the life of the *thread* that started them (Linux' parent-death signal), so a
    Ray started from a page's short-lived script thread dies a moment after it starts. Every
    failure is logged and shown (`problem()`); none ends the copying.
    """
    try:
        cluster.connect(owner=runs_root() / ".local-ray.lock")
        recover()
    except cluster.ClusterUnavailable:
        return  # the reason is in cluster.problem()
    except Exception as err:
        _sync["problem"] = f"The training queue could not be recovered from {runs_root()} ({type(err).__name__}: {err})."
        log.exception("recovering the training queue")
    finally:
        _sync["ready"].set()
    atexit.register(_stop_engine)  # runs before Ray's own shutdown, registered earlier
    try:
        while not _sync["stop"].is_set():
            _sync_once()
            _sync["wake"].wait(SYNC_SECONDS)
            _sync["wake"].clear()
    except BaseException as err:  # said by the next page that starts it again (warm_up)
        _sync["death"] = f"{type(err).__name__}: {err}"
        log.exception("the training queue's engine thread died")
        raise


def _sync_once() -> None:
    try:
        sync()
    except (exceptions.GetTimeoutError, exceptions.RayActorError, exceptions.ActorUnavailableError) as err:
        _sync["problem"] = (
            "Reconnecting to the training queue: its board is starting, or restarting after a failure; runs train on."
        )
        log.warning("the board does not answer: %s", str(err).splitlines()[0] if str(err) else type(err).__name__)
    except Exception as err:
        _sync["problem"] = f"Copying the training queue to {runs_root()} failed ({type(err).__name__}: {err}); trying again."
        log.exception("copying the training queue")
    else:
        _sync["problem"] = None


def _stop_engine() -> None:
    """At exit: no copying while Ray shuts down (it would touch a Ray already gone)."""
    _sync["stop"].set()
    _sync["wake"].set()
    _sync["thread"].join(timeout=5)


def sync() -> None:
    """Copy every change on the board to the runs folder, then store finished models. Only the
    engine thread calls it: a page never waits behind a model being saved."""
    board = cluster.board()
    # A finished run on disk (trimmed) has no events left on the board: its file is not looked at.
    known = {r: (v, 0 if r in _sync["trimmed"] else _written(r)) for r, v in _sync["versions"].items()}
    incarnation, changed, order = ray.get(board.changes.remote(known), timeout=BOARD_SECONDS)
    if incarnation != _sync["incarnation"]:
        if _sync["incarnation"] is not None:  # the board restarted, empty: tell it what the disk holds
            log.warning("the board restarted; recovering the runs from %s", runs_root())
            for kept in ("versions", "checkpoints", "resumes"):
                _sync[kept].clear()
            _sync["trimmed"].clear()
            recover()
        _sync["incarnation"] = incarnation
    if order != _sync["order"] and runs_root().is_dir():  # no folder: this app has queued nothing yet
        write_atomic(runs_root() / ORDER, lambda p: p.write_text(json.dumps(order)))
        _sync["order"] = order
    results = [run_id for run_id, state in changed.items() if _copied(board, run_id, state)]
    results += [run_id for run_id, when in _sync["retry"].items() if when <= time.monotonic() and run_id not in results]
    for run_id in results:
        _store_result(board, run_id)


def _copied(board, run_id: str, state: dict) -> bool:
    """`_copy`, one run at a time: a run whose folder cannot be written or read is logged and
    left for the next pass, and every other run's progress is copied still."""
    try:
        return _copy(board, run_id, state)
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("copying run %s failed (%s: %s); the other runs go on", run_id, type(err).__name__, err)
        _sync["versions"].pop(run_id, None)  # copied again next time
        return False


def _copy(board, run_id: str, state: dict) -> bool:
    """One run's changes to its folder; True when it has a result to store."""
    run_dir = runs_root() / run_id
    _sync["versions"][run_id] = state["version"]
    if not run_dir.is_dir():
        return False  # another app's run, with another runs folder
    if state["status"] == "lost":  # its actor died before it started: queued again, as it was
        run = read_run(run_id)  # (if another app process queued it again first, the board keeps that)
        _queue(run_id, run.config, _teaching(run_id), _resume_of(run))
        return False
    if state["events"]:
        _append_events(run_dir, state["events"])
    _fetch(board, run_id, "checkpoint", "checkpoints", board.checkpoint_of, CHECKPOINT, state)
    _fetch(board, run_id, "resume", "resumes", board.resume_of, LAST_EPOCH, state)
    fields = ("status", "error", "node", "pid", "threads", "model", "given_cpu", "started", "finished", "resume_epoch")
    new = {k: state[k] for k in fields if k in state}
    if state["events"]:
        new["latest"] = state["events"][-1]
    _write_status(run_dir, {**_status_of(run_id), **new})
    pending = bool(state.get("has_result")) and not state.get("model")
    if state["status"] in FINISHED and not pending and run_id not in _sync["trimmed"]:
        board.written.remote(run_id, _written(run_id))  # on disk now: the board may forget the bytes
        _sync["trimmed"].add(run_id)
    return pending and run_id not in _sync["retry"]


def _fetch(board, run_id: str, counter: str, kept: str, method, file_name: str, state: dict) -> None:
    if state.get(counter) and state[counter] != _sync[kept].get(run_id):
        data = ray.get(method.remote(run_id), timeout=BOARD_SECONDS)
        if data:
            write_atomic(runs_root() / run_id / file_name, lambda p: p.write_bytes(data))
        _sync[kept][run_id] = state[counter]


def _written(run_id: str) -> int:
    """The number of the run's first event not yet in its events.jsonl: one past its last line's
    (`seq`), read from the file's end, so the cost does not grow with the file."""
    path = runs_root() / run_id / "events.jsonl"
    size = path.stat().st_size if path.exists() else 0
    kept = _sync["written"].get(path)
    if kept is None or kept[0] != size:
        tail = _tail(path, size)
        seq = _last_seq(tail[: tail.rfind(b"\n") + 1].splitlines())
        if seq is None:  # written before events were numbered: one a line
            seq = path.read_bytes().count(b"\n") - 1
        kept = (size, seq + 1)
        _sync["written"][path] = kept
    return kept[1]


def _last_seq(lines: list[bytes]) -> int | None:
    """The `seq` of the last whole event among `lines` (-1 when there is none; None when events
    were not numbered yet). A line that is not an event (a torn write's remains) is passed over."""
    for line in reversed(lines):
        try:
            return json.loads(line).get("seq")
        except (ValueError, AttributeError):
            continue
    return -1


def _append_events(run_dir: Path, events: list[dict]) -> None:
    """Append the events the file lacks, each with its number (`seq`). Under a lock: app processes
    sharing a runs folder each copy the board, and each event is written once. A torn last line
    (a process killed mid-write) is cut back to the last newline first, so the next event starts
    a line of its own."""
    import fcntl

    with open(run_dir / "events.jsonl", "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # freed when the file closes
        _cut_torn_line(f)
        written = _written(run_dir.name)
        f.write("".join(json.dumps(e) + "\n" for e in events if e["seq"] >= written).encode())


def _cut_torn_line(f) -> None:
    """Truncate the open events file `f` after its last newline, when it does not end with one."""
    size = f.seek(0, os.SEEK_END)
    tail = _tail(Path(f.name), size)
    if tail and not tail.endswith(b"\n"):  # its start is in the tail
        f.truncate(size - len(tail) + tail.rfind(b"\n") + 1)


def _tail(path: Path, size: int) -> bytes:
    """The last 4 KB of the events file of `size` bytes (an event line is ~300 bytes)."""
    if not size:
        return b""
    with open(path, "rb") as f:
        f.seek(max(0, size - 4096))
        return f.read()


def _store_result(board, run_id: str) -> None:
    """Store a finished run's model, then tell the board (which drops its copy only then). A store
    that refuses keeps the model on the board, tried again every RETRY_STORE_SECONDS; a name taken
    since the run was queued gets the next free one (NAME-2, ...)."""
    result = ray.get(board.result_of.remote(run_id, APP_ID), timeout=BOARD_SECONDS)
    if result is None:
        _sync["retry"].pop(run_id, None)
        return  # stored already, by another app process
    if "claimed" in result:  # another app process stores it now: look again later, in case it dies
        _sync["retry"][run_id] = time.monotonic() + RETRY_STORE_SECONDS
        return
    config = json.loads((runs_root() / run_id / "config.json").read_text())
    store = ModelStore(config.get("store"))
    owner = {"name": config.get("owner"), "browser": config.get("session")}
    record = {**result["record"], "name": _free_name(store, result["record"]["name"]), "owner": owner}
    try:
        entry = store.save(result["model"], record, result["probabilities"])
    except (StoreError, OSError) as err:  # a full disk, a store that is not a folder, a save under way
        note = f"not stored yet: {err}. The model waits on the training queue and is stored as soon as the store takes it."
        if run_id not in _sync["retry"]:
            log.warning("run %s: %s", run_id, note)
        _sync["retry"][run_id] = time.monotonic() + RETRY_STORE_SECONDS
        ray.get(board.stored.remote(run_id, None, note), timeout=BOARD_SECONDS)
        return
    _sync["retry"].pop(run_id, None)
    for file_name in (CHECKPOINT, LAST_EPOCH):  # the model is stored: its epochs' checkpoints are not needed
        (runs_root() / run_id / file_name).unlink(missing_ok=True)
    taken = None if entry.name == result["record"]["name"] else f"stored as {entry.name}: {result['record']['name']} was taken"
    ray.get(board.stored.remote(run_id, entry.name, taken), timeout=BOARD_SECONDS)


def _free_name(store: ModelStore, name: str) -> str:
    candidates = [name] + [f"{name}-{n}" for n in range(2, 100)]
    for candidate in candidates:
        try:
            return store.check_free(candidate)
        except StoreError:
            continue
    return name  # refused by the save, with its reason


def recover() -> None:
    """Runs on disk that the board does not know: left by an app that stopped, or by a board that
    restarted. A run whose actor still lives in the cluster is told to the board as it is; a
    waiting one is queued again; a running one resumes after its last finished epoch (or starts
    again, if it had finished none). A run that was stopping stays interrupted, its best
    checkpoint kept."""
    unfinished = [r for r in list_runs() if not r.finished]
    if not unfinished:
        return
    board = cluster.board()
    known = set(ray.get(board.knows.remote([r.id for r in unfinished]), timeout=BOARD_SECONDS))
    for run in unfinished:
        if run.id in known:
            continue  # alive in the cluster, watched by another app process
        try:
            actor = ray.get_actor(actor_name(run.id), namespace=cluster.NAMESPACE)
        except ValueError:
            actor = None
        if actor is not None:  # training on: the board had only forgotten it
            ray.wait([board.add.remote(run.id, [actor], run.status, run.config)], timeout=BOARD_SECONDS)
        elif run.status == "stopping":
            error = "the app restarted while it stopped"
            _write_status(runs_root() / run.id, {**_status_of(run.id), "status": "interrupted", "error": error})
        else:
            resume = _resume_of(run)
            if resume is None:  # it starts again from its first epoch: the curves too
                (runs_root() / run.id / "events.jsonl").unlink(missing_ok=True)
            _queue(run.id, run.config, _teaching(run.id), resume)


def _teaching(run_id: str) -> Teaching | None:
    kept = runs_root() / run_id / TEACHING
    return Teaching.from_bytes(kept.read_bytes()) if kept.exists() else None


def _resume_of(run: Run) -> Resume | None:
    """Where a run that was training picks up: its last finished epoch, as the disk has it."""
    from training.curves import history_of, reports_of

    folder = runs_root() / run.id
    epoch = _status_of(run.id).get("resume_epoch")
    if not epoch or not (folder / LAST_EPOCH).exists():
        return None
    events = [e for e in read_run(run.id).events if e.epoch <= epoch and e.phase in ("batch", "epoch")]
    ended = [e for e in events if e.phase == "epoch"]
    best = folder / CHECKPOINT
    return Resume(
        model=(folder / LAST_EPOCH).read_bytes(),
        epoch=epoch,
        history=history_of(events),
        reports=[list(r) for r in reports_of(events)],
        elapsed=ended[-1].elapsed if ended else 0.0,
        best=best.read_bytes() if best.exists() else None,
    )


def _status_of(run_id: str) -> dict:
    try:
        return json.loads((runs_root() / run_id / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_status(run_dir: Path, status: dict) -> None:
    write_atomic(run_dir / "status.json", lambda tmp: tmp.write_text(json.dumps(status)))
