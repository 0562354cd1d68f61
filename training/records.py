"""Training runs' records, in the class database (`model_store.database`): shared by every app
machine of a school, so a run queued on one is watched to its end on another.

    runs          a row a run: its config (the TrainConfig, plus who queued it, from which
                  session), its state (waiting | running | stopping | done | stopped | failed |
                  cancelled | interrupted, or archived: out of the lists) and its status (the
                  stored model, the error, the node, the latest progress, when the board gave it
                  a CPU...); `version` grows at every change, so a process re-reads only the rows
                  that changed
    run_events    its progress, a row an event, numbered (`seq`): each is written once, whoever
                  copies it, as (run, seq) is the key
    run_files     the best epoch so far (checkpoint), the last finished epoch with its optimizer
                  (last: where a run resumes), a teaching run's base model and drawings (teaching)

Run ids sort in the order the runs were submitted.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, func, select, update

from model_store.database import MAIN, Database, insert_new, run_events, run_files, upsert
from model_store.database import runs as runs_table
from model_store.roles import maker
from model_store.status import FINISHED, Status
from training.engine import Progress
from training.spec import RunSpec

CHECKPOINT, LAST, TEACHING = "checkpoint", "last", "teaching"  # a run's files (run_files.kind)
RESULT = "result"  # a finished run's model, record and test probabilities, kept until the model is stored


@dataclass
class Run:
    id: str
    status: str
    config: dict
    events: list[Progress] = field(default_factory=list)  # read by `with_events` only
    model: str | None = None  # the stored model's name, once saved
    error: str | None = None
    node: str | None = None  # the Ray node it ran on
    pid: int | None = None  # its worker process there
    last: dict | None = None  # its latest progress, as the status keeps it

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
    def class_id(self) -> str:
        """The class it was queued in (a run from before classes: the install's own)."""
        return self.config.get("class_id", MAIN)

    @property
    def spec(self) -> RunSpec:
        """The run as it was queued, read back from its record."""
        return RunSpec.of(self.config)

    @property
    def maker(self) -> dict:
        """Who queued it, as `roles.owns` reads it: their name and browser."""
        return maker(self.owner, self.config.get("session"))


def progress_of(event: dict) -> Progress:
    """An event as the board and the database keep it (with its number, `seq`) as a Progress."""
    return Progress(**{k: v for k, v in event.items() if k != "seq"})


class Records:
    """The runs of one class database, with this process's copies of the rows it read: a listing
    asks each run's version (one query) and reads again only the rows whose version changed; a
    run's events are read from the first this process has not seen."""

    def __init__(self, db: Database | None = None):
        self.db = db or Database()
        self._rows: dict[str, tuple[int, Run]] = {}  # run id: (version, the run as it was read)
        self._events: dict[str, tuple[int, list[Progress]]] = {}  # run id: (the next seq to read, its events)

    # ------------------------------------------------------------ reading

    def listed(self) -> list[Run]:
        """Every run not archived, oldest first, without their events."""
        with self.db.read() as c:
            query = select(runs_table.c.id, runs_table.c.version).where(runs_table.c.state != Status.ARCHIVED)
            versions = {run_id: version for run_id, version in c.execute(query)}
            stale = [run_id for run_id, version in versions.items() if self._rows.get(run_id, (None,))[0] != version]
            for start in range(0, len(stale), 500):  # a term's first listing: thousands of rows
                query = select(runs_table).where(runs_table.c.id.in_(stale[start : start + 500]))
                for row in c.execute(query):
                    self._rows[row.id] = (row.version, _run_of(row))
        return [self._rows[run_id][1] for run_id in sorted(versions) if run_id in self._rows]

    def get(self, run_id: str) -> Run:
        """One run with its events; KeyError when there is no such run."""
        with self.db.read() as c:
            row = c.execute(select(runs_table).where(runs_table.c.id == run_id)).one_or_none()
            if row is None:
                raise KeyError(f"no run {run_id!r} in the class database {self.db.where}")
            run = _run_of(row)
            after, seen = self._events.get(run_id, (0, []))
            new = c.execute(
                select(run_events.c.seq, run_events.c.event)
                .where(run_events.c.run == run_id, run_events.c.seq >= after)
                .order_by(run_events.c.seq)
            ).all()
        run.events = seen + [_event(e) for _, e in new]
        # From the next after the last read: numbers can have gaps (an event that died with a board).
        self._events[run_id] = (new[-1][0] + 1 if new else after, run.events)
        return run

    def status_of(self, run_id: str) -> dict | None:
        """The run's status; None when the class database has no such run (another class's)."""
        with self.db.read() as c:
            value = c.execute(select(runs_table.c.status).where(runs_table.c.id == run_id)).scalar()
        return None if value is None else json.loads(value)

    def written(self, run_ids: list[str]) -> dict[str, int]:
        """For each run, the number of its first event not yet recorded (events are numbered from 0)."""
        if not run_ids:
            return {}
        query = (
            select(run_events.c.run, func.max(run_events.c.seq)).where(run_events.c.run.in_(run_ids)).group_by(run_events.c.run)
        )
        with self.db.read() as c:
            found = {run_id: seq for run_id, seq in c.execute(query)}
        return {run_id: found.get(run_id, -1) + 1 for run_id in run_ids}

    def with_file(self, kind: str) -> set[str]:
        """The runs that have a file of this kind."""
        with self.db.read() as c:
            return set(c.execute(select(run_files.c.run).where(run_files.c.kind == kind)).scalars())

    def file(self, run_id: str, kind: str) -> bytes | None:
        with self.db.read() as c:
            return c.execute(select(run_files.c.data).where(run_files.c.run == run_id, run_files.c.kind == kind)).scalar()

    # ------------------------------------------------------------ writing

    def add(self, run_id: str, config: dict, teaching: bytes | None = None) -> None:
        """A new waiting run, with its teaching file, in one transaction."""
        status = {"status": Status.WAITING}
        with self.db.write() as c:
            c.execute(
                runs_table.insert().values(id=run_id, config=json.dumps(config), state=Status.WAITING, status=json.dumps(status))
            )
            if teaching is not None:
                c.execute(run_files.insert().values(run=run_id, kind=TEACHING, data=teaching))

    def set_status(self, run_id: str, new: dict) -> bool:
        """Merge `new` into the run's status (the state follows its "status"); False when there is
        no such run. One transaction: two app processes copying the board never lose a field."""
        with self.db.write(lock=f"run {run_id}") as c:
            value = c.execute(select(runs_table.c.status).where(runs_table.c.id == run_id)).scalar()
            if value is None:
                return False
            status = {**json.loads(value), **new}
            c.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(status=json.dumps(status), state=status["status"], version=runs_table.c.version + 1)
            )
        return True

    def add_events(self, run_id: str, events: list[dict]) -> int:
        """The events (each with its `seq`) not recorded yet; how many were new."""
        rows = [{"run": run_id, "seq": e["seq"], "event": json.dumps(e)} for e in events]
        with self.db.read() as c:
            return insert_new(c, run_events, rows, ("run", "seq"))

    def drop_events(self, run_id: str) -> None:
        """A run that starts again from its first epoch: its curves too."""
        with self.db.read() as c:
            c.execute(delete(run_events).where(run_events.c.run == run_id))
        self._events.pop(run_id, None)

    def put_file(self, run_id: str, kind: str, data: bytes) -> None:
        with self.db.read() as c:
            upsert(c, run_files, {"run": run_id, "kind": kind, "data": data}, ("run", "kind"), ("data",))

    def drop_files(self, run_id: str, kinds: tuple[str, ...]) -> None:
        with self.db.read() as c:
            c.execute(delete(run_files).where(run_files.c.run == run_id, run_files.c.kind.in_(kinds)))

    def keep_result(self, run_id: str, result: dict) -> None:
        """A finished run's result, kept until its model is stored: a board that dies meanwhile
        takes its copy with it, this one stays."""
        buffer = io.BytesIO()
        model = np.frombuffer(result["model"], np.uint8)
        np.savez(buffer, model=model, record=np.array(json.dumps(result["record"])), probabilities=result["probabilities"])
        self.put_file(run_id, RESULT, buffer.getvalue())

    def kept_result(self, run_id: str) -> dict | None:
        data = self.file(run_id, RESULT)
        if data is None:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as kept:
            record = json.loads(str(kept["record"]))
            return {"model": kept["model"].tobytes(), "record": record, "probabilities": kept["probabilities"]}

    def rename_owner(self, people: set[str], new: str) -> int:
        """Every run these people (their ids) queued now shows `new` as its owner; how many runs."""
        changed = 0
        with self.db.write(lock="rename") as c:
            for run_id, value in c.execute(select(runs_table.c.id, runs_table.c.config)).tuples():
                config = json.loads(value)
                if config.get("session") in people:
                    c.execute(
                        update(runs_table)
                        .where(runs_table.c.id == run_id)
                        .values(config=json.dumps({**config, "owner": new}), version=runs_table.c.version + 1)
                    )
                    changed += 1
        return changed

    def archive(self, run_ids: list[str]) -> int:
        """These finished runs out of every list (their models stay in the store, their events
        and status in the database); how many."""
        moved = 0
        with self.db.read() as c:
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                statement = (
                    update(runs_table)
                    .where(runs_table.c.id.in_(chunk), runs_table.c.state.in_(FINISHED))
                    .values(state=Status.ARCHIVED, version=runs_table.c.version + 1)
                )
                moved += c.execute(statement).rowcount
        return moved


def _run_of(row) -> Run:
    status = json.loads(row.status)
    fields = {k: status.get(k) for k in ("model", "error", "node", "pid")}
    return Run(row.id, status["status"], json.loads(row.config), [], **fields, last=status.get("latest"))


def _event(value: str) -> Progress:
    return progress_of(json.loads(value))
