"""The board's changes copied into the class database, and finished runs' models stored.

A queued run waits on the board (`training.board`), which gives it a detached Ray actor asking
for CPUS_PER_RUN CPU (`training.worker`) once one is free. The run tells the board its progress,
checkpoints and result, and never touches a database or a disk of the app's, so a worker machine
needs neither. A thread in each app process (the engine) copies what changed every SYNC_SECONDS
into the class database (`training.records`) and stores finished models; every app process of a
school does, and each event is recorded once, whoever copies it.

When the app restarts and the board has never heard of an unfinished run (the app's own Ray went
with the app), the run is recovered from its records: a waiting one is queued again (it keeps its
place), a running one resumes from its last finished epoch. A board that restarts is told again
what the records hold, and the runs still training in the cluster carry on.
"""

from __future__ import annotations

import atexit
import logging
import secrets
import socket
import threading
import time

import ray
from ray import exceptions

from model_store import ModelStore
from model_store.database import MAIN, not_counted
from model_store.files import runs_root
from model_store.roles import maker
from model_store.status import FINISHED, Status
from model_store.store import StoreError
from training import cluster
from training.board import shared_board
from training.curves import history_of, reports_of
from training.engine import Resume
from training.records import CHECKPOINT, LAST, RESULT, TEACHING, Records, Run
from training.spec import RunSpec
from training.teach import Teaching
from training.worker import actor_name

SYNC_SECONDS = 0.5
BOARD_SECONDS = 10  # a board call that takes longer: the board is restarting
RETRY_STORE_SECONDS = 5  # between tries to store a model the store refused
APP_ID = secrets.token_hex(4)  # this app process, to the board
log = logging.getLogger("mnist_lab.runs")


def records() -> Records:
    """The configured class database's runs, one Records (and its copies of rows) per database."""
    from model_store.database import Database

    db = Database()
    if db.where not in _records:
        _records[db.where] = Records(db)
    return _records[db.where]


_records: dict[str, Records] = {}


def queue_key() -> str:
    """Which training queue this process's runs wait on: the cluster $RAY_ADDRESS names, shared by
    every app process that names it; else this machine's own local Ray, one per runs folder. Only
    the processes of a run's queue recover it: another app machine with a Ray of its own sharing
    the class database must not train it a second time."""
    return cluster.address() or f"local {socket.gethostname()}:{runs_root().resolve()}"


def queue(run_id: str, spec: RunSpec, teaching: Teaching | None, resume: Resume | None = None) -> None:
    """A run on the board's queue, with what it trains on. A board that is restarting gets it when
    it is back (Ray retries the call), so this never waits long."""
    board = shared_board()
    first = records().written([run_id])[run_id]
    ray.wait([board.queue.remote(run_id, spec, teaching, resume, first)], timeout=BOARD_SECONDS)


class Copier:
    """This process's copy of the board: which board (its incarnation), each run's version and how
    many of its events are recorded, the checkpoints fetched, when a refused store is tried
    again; and the engine thread that keeps it fresh."""

    def __init__(self):
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()  # starting the engine thread: never held while Ray or a database works
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.wake = threading.Event()  # a stop pressed: copy now, not in half a second
        self.incarnation = None
        self.versions: dict[str, int] = {}
        self.checkpoints: dict[str, int] = {}
        self.resumes: dict[str, int] = {}
        self.trimmed: set[str] = set()  # finished runs whose events the board was told it may drop
        self.retry: dict[str, float] = {}  # run id: when to try again to store its model
        self.kept: set[str] = set()  # runs whose result this process has kept in the records
        self.problem: str | None = None  # what the copying met last time, cleared by its next success
        self.notice: tuple[str | None, float] = (None, 0.0)  # the engine died and was started again: said for a minute
        self.death: str | None = None
        self.order: list[str] = []  # the board's queued runs, in the order they will start

    # ------------------------------------------------------------ the engine thread

    def warm_up(self) -> None:
        """Start Ray in the background as soon as someone opens the Train page: the first start
        takes seconds, better spent before they press Train. A failure waits in `problem`. An
        engine thread that died is started again (and its death said)."""
        with self.start_lock:
            thread = self.thread
            if thread is not None and (thread.is_alive() or self.stop.is_set()):
                return
            if thread is not None:
                said = f"The training queue's engine stopped ({self.death or 'no reason given'}) and was started again."
                self.notice = (said, time.monotonic() + 60)
            self.thread = threading.Thread(target=self.engine, name="runs-engine", daemon=True)
            self.thread.start()

    def engine(self) -> None:
        """Connects to Ray, then copies the board every SYNC_SECONDS for as long as the process runs.

        Ray is started from this thread because it lives as long as the app: Ray ties the processes
        it starts to the life of the *thread* that started them (Linux' parent-death signal), so a
        Ray started from a page's short-lived script thread dies a moment after it starts. Every
        failure is logged and shown (`problem`); none ends the copying.
        """
        not_counted()  # its copying, every SYNC_SECONDS, is no page's or command's statement
        try:
            cluster.connect(owner=runs_root() / ".local-ray.lock")
            self.recover()
        except cluster.ClusterUnavailable:
            return  # the reason is in cluster.problem()
        except Exception as err:
            self.problem = f"The training queue could not be recovered from the class database ({type(err).__name__}: {err})."
            log.exception("recovering the training queue")
        finally:
            self.ready.set()
        atexit.register(self.end)  # runs before Ray's own shutdown, registered earlier
        try:
            while not self.stop.is_set():
                self.sync_once()
                self.wake.wait(SYNC_SECONDS)
                self.wake.clear()
        except BaseException as err:  # said by the next page that starts it again (warm_up)
            self.death = f"{type(err).__name__}: {err}"
            log.exception("the training queue's engine thread died")
            raise

    def sync_once(self) -> None:
        try:
            self.sync()
        except (exceptions.GetTimeoutError, exceptions.RayActorError, exceptions.ActorUnavailableError) as err:
            self.problem = (
                "Reconnecting to the training queue: its board is starting, or restarting after a failure; runs train on."
            )
            log.warning("the board does not answer: %s", str(err).splitlines()[0] if str(err) else type(err).__name__)
        except Exception as err:
            self.problem = f"Copying the training queue failed ({type(err).__name__}: {err}); trying again."
            log.exception("copying the training queue")
        else:
            self.problem = None

    def end(self) -> None:
        """At exit: no copying while Ray shuts down (it would touch a Ray already gone)."""
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=5)

    # ------------------------------------------------------------ copying

    def sync(self) -> None:
        """Copy every change on the board into the records, then store finished models. Only the
        engine thread calls it: a page never waits behind a model being saved."""
        board = shared_board()
        # A finished run recorded whole (trimmed) has no events left on the board: not counted.
        written = records().written([r for r in self.versions if r not in self.trimmed])
        known = {r: (v, written.get(r, 0)) for r, v in self.versions.items()}
        incarnation, changed, order = ray.get(board.changes.remote(known), timeout=BOARD_SECONDS)
        if incarnation != self.incarnation:
            if self.incarnation is not None:  # the board restarted, empty: tell it what the records hold
                log.warning("the board restarted; recovering the runs from the class database")
                for kept in (self.versions, self.checkpoints, self.resumes):
                    kept.clear()
                self.trimmed.clear()
                self.recover()
            self.incarnation = incarnation
        self.order = order
        results = [run_id for run_id, state in changed.items() if self.copied(board, run_id, state)]
        results += [run_id for run_id, when in self.retry.items() if when <= time.monotonic() and run_id not in results]
        for run_id in results:
            self.store_result(board, run_id)

    def copied(self, board, run_id: str, state: dict) -> bool:
        """`copy`, one run at a time: a run whose records cannot be written or read is logged and
        left for the next pass, and every other run's progress is copied still."""
        try:
            return self.copy(board, run_id, state)
        except Exception as err:
            log.warning("copying run %s failed (%s: %s); the other runs go on", run_id, type(err).__name__, err)
            self.versions.pop(run_id, None)  # copied again next time
            return False

    def copy(self, board, run_id: str, state: dict) -> bool:
        """One run's changes into its records; True when it has a result to store."""
        self.versions[run_id] = state["version"]
        if records().status_of(run_id) is None:
            return False  # another class's run, in another class database
        if state["status"] == Status.LOST:  # its actor died before it started: queued again, as it was
            run = records().get(run_id)  # (if another app process queued it again first, the board keeps that)
            queue(run_id, run.spec, teaching_kept(run_id), resume_of(run))
            return False
        if state["events"]:
            records().add_events(run_id, state["events"])
        self.fetch(board, run_id, "checkpoint", self.checkpoints, board.checkpoint_of, CHECKPOINT, state)
        self.fetch(board, run_id, "resume", self.resumes, board.resume_of, LAST, state)
        fields = ("status", "error", "node", "pid", "threads", "model", "given_cpu", "started", "finished", "resume_epoch")
        new = {k: state[k] for k in fields if k in state}
        if state["events"]:
            new["latest"] = state["events"][-1]
        records().set_status(run_id, new)
        pending = bool(state.get("has_result")) and not state.get("model")
        if state["status"] in FINISHED and not pending and run_id not in self.trimmed:
            board.written.remote(run_id, records().written([run_id])[run_id])  # recorded: the board may forget the bytes
            self.trimmed.add(run_id)
        return pending and run_id not in self.retry

    def fetch(self, board, run_id: str, counter: str, kept: dict, method, kind: str, state: dict) -> None:
        if state.get(counter) and state[counter] != kept.get(run_id):
            data = ray.get(method.remote(run_id), timeout=BOARD_SECONDS)
            if data:
                records().put_file(run_id, kind, data)
            kept[run_id] = state[counter]

    def store_result(self, board, run_id: str) -> None:
        """Store a finished run's model, then tell the board (which drops its copy only then). The
        result is first kept in the records (`keep_result`): a board that restarts before the model
        is stored loses its copy, not the model. A store that refuses is tried again every
        RETRY_STORE_SECONDS; a name taken since the run was queued gets the next free one (NAME-2, ...)."""
        first = run_id not in self.retry
        self.retry[run_id] = time.monotonic() + RETRY_STORE_SECONDS  # tried again, whatever fails below, unless stored
        result = ray.get(board.result_of.remote(run_id, APP_ID), timeout=BOARD_SECONDS)
        if result is None:  # stored already by another app process, or lost with a board that restarted
            result = records().kept_result(run_id) if not (records().status_of(run_id) or {}).get("model") else None
            if result is None:
                self.retry.pop(run_id, None)
                return
        elif "claimed" in result:  # another app process stores it now: look again later, in case it dies
            return
        elif run_id not in self.kept:
            records().keep_result(run_id, result)
            self.kept.add(run_id)
        config = records().get(run_id).config
        store = ModelStore()  # this machine's cache of the class database's models; never a path a record names
        owner = maker(config.get("owner"), config.get("session"))
        record = {**result["record"], "name": _free_name(store, result["record"]["name"]), "owner": owner}
        record["class_id"] = config.get("class_id", MAIN)  # the class the run was queued in: its model is that class's
        try:
            entry = store.save(result["model"], record, result["probabilities"])
        except (StoreError, OSError) as err:  # a full disk, a store that is not a folder, a save under way
            note = f"not stored yet: {err}. The model waits on the training queue and is stored as soon as the store takes it."
            if first:
                log.warning("run %s: %s", run_id, note)
            self.say_stored(board, run_id, None, note)
            return
        self.retry.pop(run_id, None)
        # The model is stored: its epochs' checkpoints and the kept result are not needed.
        records().drop_files(run_id, (CHECKPOINT, LAST, RESULT))
        self.kept.discard(run_id)
        taken = (
            None if entry.name == result["record"]["name"] else f"stored as {entry.name}: {result['record']['name']} was taken"
        )
        self.say_stored(board, run_id, entry.name, taken)

    def say_stored(self, board, run_id: str, model: str | None, note: str | None) -> None:
        """The board told (it forgets its copy once a model is stored); a run the board does not
        know any more (it restarted) has its record told directly."""
        if ray.get(board.knows.remote([run_id]), timeout=BOARD_SECONDS):
            ray.get(board.stored.remote(run_id, model, note), timeout=BOARD_SECONDS)
        else:
            records().set_status(run_id, {"model": model, "error": note})

    def recover(self) -> None:
        """Unfinished runs the board does not know: left by an app that stopped, or by a board
        that restarted. A run whose actor still lives in the cluster is told to the board as it
        is; a waiting one is queued again; a running one resumes after its last finished epoch (or
        starts again, if it had finished none). A run that was stopping stays interrupted, its
        best checkpoint kept. A finished run whose model was not stored yet is stored from the
        result kept in its records. Only the runs of this process's queue (`queue_key`)."""
        key = queue_key()
        ours = [r for r in records().listed() if r.config.get("queue", key) == key]
        for run_id in records().with_file(RESULT) & {r.id for r in ours if r.finished and not r.model}:
            self.retry[run_id] = time.monotonic()  # finished, its model not stored yet: stored from the kept result
        unfinished = [r for r in ours if not r.finished]
        if not unfinished:
            return
        board = shared_board()
        known = set(ray.get(board.knows.remote([r.id for r in unfinished]), timeout=BOARD_SECONDS))
        for run in unfinished:
            if run.id in known:
                continue  # alive in the cluster, watched by another app process
            try:
                actor = ray.get_actor(actor_name(run.id), namespace=cluster.NAMESPACE)
            except ValueError:
                actor = None
            if actor is not None:  # training on: the board had only forgotten it
                ray.wait([board.add.remote(run.id, [actor], run.status, run.spec)], timeout=BOARD_SECONDS)
            elif run.status == Status.STOPPING:
                records().set_status(run.id, {"status": Status.INTERRUPTED, "error": "the app restarted while it stopped"})
            else:
                resume = resume_of(run)
                if resume is None:  # it starts again from its first epoch: the curves too
                    records().drop_events(run.id)
                queue(run.id, run.spec, teaching_kept(run.id), resume)


def _free_name(store: ModelStore, name: str) -> str:
    candidates = [name] + [f"{name}-{n}" for n in range(2, 100)]
    for candidate in candidates:
        try:
            return store.check_free(candidate)
        except StoreError:
            continue
    return name  # refused by the save, with its reason


def teaching_kept(run_id: str) -> Teaching | None:
    kept = records().file(run_id, TEACHING)
    return Teaching.from_bytes(kept) if kept is not None else None


def resume_of(run: Run) -> Resume | None:
    """Where a run that was training picks up: its last finished epoch, as the records have it."""
    epoch = (records().status_of(run.id) or {}).get("resume_epoch")
    last = records().file(run.id, LAST) if epoch else None
    if last is None:
        return None
    events = [e for e in records().get(run.id).events if e.epoch <= epoch and e.phase in ("batch", "epoch")]
    ended = [e for e in events if e.phase == "epoch"]
    return Resume(
        model=last,
        epoch=epoch,
        history=history_of(events),
        reports=[list(r) for r in reports_of(events)],
        elapsed=ended[-1].elapsed if ended else 0.0,
        best=records().file(run.id, CHECKPOINT),
    )


copier = Copier()
