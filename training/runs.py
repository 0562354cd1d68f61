"""Training runs from the browser, queued on Ray: everyone's runs, many at a time, on this machine
or a cluster (`training.cluster`). What the pages and the command line call:

    submit_run(config, store, by)               queue a run (within the class limits); returns its id
    request_stop(run_id, by)                    cancel it while it waits, stop it while it runs
    clear_queue(by)                             the teacher cancels every waiting run
    read_run(run_id), list_runs()               what the pages show (list_runs reads no events)
    queue_places(runs)                          each waiting run's place and rough wait
    keep_checkpoint(run_id, store)              an interrupted run's best epoch, as a model
    rename_person(old, new, by)                 a person's runs, models and drawings follow a new name
    archive_runs(days)                          finished runs older than that, out of the lists
    warm_up(), start_sync(), problem()          the engine thread that copies the board

A run waits on the board in fair-share order (`training.board`: the teacher's runs first, then
round robin by person) and outlives the app process that queued it. Its records (config, status,
progress, checkpoints) are rows of the class database (`training.records`), which every app
process of a school shares; a thread in each copies the board into them and stores finished
models (`training.copying`). The pages only read the records.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path

import ray
from ray import exceptions

from model_store import ModelStore, StoredModel
from model_store.database import MAIN
from model_store.drawings import Drawings
from model_store.people import Register
from model_store.roles import Person, is_teacher, require
from model_store.status import Status
from model_store.store import StoreError
from training import cluster
from training.board import shared_board
from training.config import TrainConfig
from training.copying import BOARD_SECONDS, SYNC_SECONDS, copier, queue, queue_key, records, teaching_kept
from training.limits import check_run, read_limits
from training.records import CHECKPOINT, Run, progress_of
from training.spec import RunSpec
from training.teach import teaching_of

__all__ = ["Run", "SYNC_SECONDS", "progress_of"]


# ---------------------------------------------------------------- the app's side


def submit_run(config: TrainConfig, store: ModelStore, by: Person, experiment: dict | None = None) -> str:
    """Check the config, the name, the class limits and the database's disk, then queue the run
    in `by`'s class; its id. Raises ConfigError, StoreError, OverLimit, DatabaseError, or cluster.ClusterUnavailable
    (each with the reason in one line)."""
    c = config.resolved()
    c.name = c.name or f"{c.arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(1)}"
    store.check_free(c.name)
    runs = list_runs()
    if any(r.config.get("name") == c.name and not r.finished for r in runs):
        raise StoreError(f"a queued run will store a model named {c.name!r}; choose another name")
    teacher = is_teacher(by)  # now, not as the tab last knew it: a sign-in may have ended since
    limits = read_limits(by.class_id)
    check_run(c, by, waiting_of(by, runs), limits)
    records().db.check_room(0)  # its progress and checkpoints go there: refused on a nearly full disk, before Ray
    teaching = None
    if c.teach:  # the base model and the drawings go with the run: a worker has no access to them
        c, teaching = teaching_of(c, store, Drawings(class_id=by.class_id))
    start_sync()  # connects to Ray first: ClusterUnavailable before anything is written
    now = datetime.now()
    run_id = f"{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}-{secrets.token_hex(2)}"  # sorts in the order submitted
    spec = RunSpec(
        c,
        owner=by.name,
        session=by.session,
        teacher=teacher,  # their runs go first
        running_limit=0 if teacher else limits.running,  # the board starts no more of theirs at once
        experiment=experiment or {},
        queue=queue_key(),
        class_id=by.class_id,
    )
    records().add(run_id, spec.record(), teaching.to_bytes() if teaching is not None else None)
    queue(run_id, spec, teaching)
    return run_id


def waiting_of(by: Person, runs: list[Run] | None = None) -> int:
    """How many runs queued from `by`'s browser wait now: each run counts, an experiment's too, so
    an experiment queued again under the same name counts again."""
    runs = list_runs() if runs is None else runs
    return sum(1 for r in runs if r.status == Status.WAITING and r.config.get("session") == by.session)


def request_stop(run_id: str, by: Person) -> None:
    """Cancel a waiting run (it never starts), or stop a running one after its batch (its best weights are kept). A person's own runs are those queued from their
    browser; anyone's, for the teacher."""
    run = read_run(run_id)
    require(by, "stop_any_run", f" ({run.owner}'s {run.config.get('name')})", owner=run.maker)
    _stop(shared_board(), [run_id])


def clear_queue(by: Person) -> int:
    """Cancel every waiting run of `by`'s class (the running ones go on); how many were cancelled."""
    require(by, "clear_queue")
    waiting = [r.id for r in list_runs(by.class_id) if r.status == Status.WAITING]
    _stop(shared_board(), waiting)
    return len(waiting)


def _stop(board, run_ids: list[str]) -> None:
    try:
        ray.get([board.stop.remote(run_id) for run_id in run_ids], timeout=BOARD_SECONDS)
    except (exceptions.GetTimeoutError, exceptions.RayActorError):
        raise cluster.ClusterUnavailable(
            "The training queue is reconnecting (its board restarted); try again in a moment."
        ) from None
    copier.wake.set()


def read_run(run_id: str) -> Run:
    """A run with its events (read incrementally: only those recorded since this process last read)."""
    return records().get(run_id)


def list_runs(class_id: str | None = None) -> list[Run]:
    """Every run on record but the archived, oldest first (the order they were submitted), without
    their events: only the rows that changed since this process last listed are read. With
    `class_id`, that class's only; None: the whole school's (the queue is shared)."""
    listed = records().listed()
    return listed if class_id is None else [r for r in listed if r.class_id == class_id]


def queue_places(runs: list[Run]) -> dict[str, tuple[int, float | None]]:
    """Each waiting run's place in the queue (1 = next) and a rough wait in seconds: the n-th
    waiting run starts about when the n-th of the running runs ends (unknown past them). The
    order is the board's (fair share, `training.board`), as this process's engine thread last
    copied it; a waiting run not in it has its CPU already, or is not on the board yet, and comes
    first."""
    running = [r for r in runs if r.status in (Status.RUNNING, Status.STOPPING)]
    known = [r.latest.eta for r in running if r.latest and r.latest.eta is not None]
    # A run still starting (no estimate yet) ends after every run that has one.
    remaining = sorted(known) + [None] * (len(running) - len(known))
    line = {run_id: place for place, run_id in enumerate(copier.order)}
    waiting = sorted((r.id for r in runs if r.status == Status.WAITING), key=lambda i: (i in line, line.get(i, 0), i))
    return {run_id: (i + 1, remaining[i] if i < len(remaining) else None) for i, run_id in enumerate(waiting)}


def keep_checkpoint(run_id: str, store: ModelStore) -> StoredModel:
    """Store an interrupted run's best checkpoint as its model, through the finish every trained
    model goes through (`training.engine.finish`), so the epochs it finished are not lost."""
    from training.curves import best_epoch, history_of, reports_of
    from training.engine import Fitted, build_model, finish, load_base, make_record

    run = read_run(run_id)
    weights = records().file(run_id, CHECKPOINT)
    if run.status != Status.INTERRUPTED or run.model or weights is None:
        raise ValueError(f"run {run_id} has no checkpoint to keep (it is {run.status})")
    c = TrainConfig.from_dict(run.config)
    teaching = teaching_kept(run_id)  # a teaching run's weights fit its base model, not c.arch's
    model = load_base(teaching) if teaching is not None else build_model(c)
    with tempfile.TemporaryDirectory() as tmp:  # Keras reads weights from a file
        path = Path(tmp) / "best.weights.h5"
        path.write_bytes(weights)
        model.load_weights(path)
    history = history_of(run.events)
    seconds = run.latest.elapsed if run.latest else 0.0
    # The checkpoint holds the best finished epoch; the record says the run was interrupted.
    fitted = Fitted(history, seconds, "interrupted", best_epoch(history, c.monitor), reports_of(run.events))
    record = lambda evaluation: {**make_record(c, model, fitted, evaluation), "class_id": run.config.get("class_id", MAIN)}  # noqa: E731
    entry, _ = finish(model, c.normalization, store, record)
    records().set_status(run_id, {"model": entry.name})
    return entry


def has_checkpoint(run_id: str) -> bool:
    """Whether the run's best epoch so far is recorded (an interrupted run's, to keep as a model)."""
    return records().file(run_id, CHECKPOINT) is not None


def rename_person(old: str, new: str, by: Person, merge: bool = False) -> str:
    """A person of `by`'s class gets a new name for their browsers and drawings (`Register.rename`,
    which checks who may), carried to their models' records and their runs' too; the name they now have."""
    new, renamed = Register(class_id=by.class_id).rename(old, new, by, merge)
    ModelStore().rename_owner(renamed, new)
    records().rename_owner(renamed, new)
    return new


def archive_runs(days: float, class_id: str | None = None) -> int:
    """Finished runs submitted more than `days` ago (of one class, or the whole school's), out of
    every list (their models stay in the store, their records in the class database); how many."""
    cutoff = datetime.now().timestamp() - days * 86400
    old = [r.id for r in list_runs(class_id) if r.finished and datetime.strptime(r.id[:15], "%Y%m%d-%H%M%S").timestamp() < cutoff]
    return records().archive(old)


# ---------------------------------------------------------------- the engine thread


def warm_up() -> None:
    """Ray started in the background as soon as someone opens the Train page (`Copier.warm_up`)."""
    copier.warm_up()


def pick_up() -> None:
    """At the app's start: runs a stopped app left unfinished go on now (queued again, resumed, or
    copied from the cluster where they trained on), not when someone next opens the Train page."""
    if any(not r.finished for r in list_runs()):
        warm_up()


def start_sync(timeout: float = 180) -> None:
    """Ray up, what a restart left recovered, and this process's copy of the board kept fresh;
    raises ClusterUnavailable with the reason when Ray cannot be started or joined."""
    warm_up()
    if not copier.ready.wait(timeout):
        raise cluster.ClusterUnavailable(f"Training is unavailable: Ray did not start within {timeout:.0f} s.")
    if cluster.problem():
        raise cluster.ClusterUnavailable(cluster.problem())


def problem() -> str | None:
    """What keeps the training queue from working right now, for the pages; None when all is well."""
    notice, until = copier.notice
    return cluster.problem() or copier.problem or (notice if time.monotonic() < until else None)
