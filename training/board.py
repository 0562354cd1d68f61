"""The board: one named Ray actor holding what every run tells and every app process reads.

A run (`training.worker`) reports here its progress, its best checkpoint, its last finished
epoch and its result, and asks here whether someone pressed Stop; the app processes read what
changed and copy it into the class database (`training.copying`). A Ray actor runs its methods one at
a time, so nothing here needs a lock.

The board is rebuilt, never a single point of failure: Ray restarts it when it dies
(`max_restarts=-1`), and calls made while it restarts are retried (`max_task_retries=-1`). A
restarted board knows nothing; each has its own `incarnation`, and an app process that sees a new
one tells it again what the runs' records hold (`Copier.recover`). A result stays here until
an app process says it is stored: store first, forget after.

Each event carries its number in the run (`seq`, given by the run itself), so an app records only
those not recorded yet, whichever board they came through; once a finished run is recorded
whole, its events, checkpoints and result are dropped here.

The board is also the queue. A queued run waits here, not in Ray: it gets its actor
(`training.worker.Trainer`) only when a CPU is free for it, and the next one is chosen in
fair-share order (`fair_order`), not in the order pressed. Ray would start waiting actors in the
order they were created, so one student's three runs pressed first would hold everyone back.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass

import ray
from ray import exceptions

from model_store.status import FINISHED, Status
from training.cluster import NAMESPACE, connect
from training.spec import RunSpec
from training.worker import CPUS_PER_RUN, Trainer, actor_name


def _new_state(status: Status = Status.WAITING) -> dict:
    return {"status": status, "events": [], "version": 0, "checkpoint": 0, "resume": 0}


@dataclass(frozen=True)
class Queued:
    """A run's claim to a CPU: whose it is, and how many of theirs may train at once."""

    id: str  # run ids sort in the order the runs were pressed
    owner: str  # the person (a name is one person's, whichever of their browsers)
    teacher: bool
    running_limit: int = 0  # the most runs of this person training at once; 0: no limit

    @classmethod
    def of(cls, run_id: str, spec: RunSpec) -> Queued:
        return cls(run_id, spec.owner, spec.teacher, spec.running_limit)


def fair_order(waiting: list[Queued], served: Counter) -> list[Queued]:
    """The order waiting runs start in: the teacher's first, then round robin by person: a
    person's next run waits behind everyone's with fewer turns before it (`served`: runs each
    person has had started while others waited), and runs level on turns go in the order pressed.
    An experiment's runs are its person's like any other."""
    turns = Counter(served)
    keyed = []
    for run in sorted(waiting, key=lambda r: r.id):
        keyed.append(((not run.teacher, turns[run.owner], run.id), run))
        turns[run.owner] += 1
    return [run for _, run in sorted(keyed, key=lambda k: k[0])]


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class Board:
    def __init__(self):
        self.incarnation = secrets.token_hex(4)
        self.runs: dict[str, dict] = {}
        self.checkpoints: dict[str, bytes] = {}  # the best epoch's weights
        self.resumes: dict[str, bytes] = {}  # the last finished epoch: the whole model, optimizer included
        self.results: dict[str, dict] = {}
        self.claims: dict[str, tuple[str, float]] = {}  # a result being stored: by which app process, since when
        self.watches: dict[str, ray.ObjectRef] = {}  # each run's `join`: it fails when its actor dies
        self.queued: dict[str, tuple] = {}  # waiting runs without an actor yet: what it is made with
        self.who: dict[str, Queued] = {}  # every queued or training run: whose, for the order
        self.actors: dict[str, ray.actor.ActorHandle] = {}  # runs given an actor, until they finish
        # Runs started per person since the queue was last empty, those training included: the
        # turns each has had (fair_order). Counted afresh once nobody waits.
        self.served: Counter = Counter()

    def _state(self, run_id: str) -> dict:
        return self.runs.setdefault(run_id, _new_state())

    def _change(self, run_id: str, **fields) -> None:
        state = self._state(run_id)
        state.update(fields)
        state["version"] += 1

    # ------------------------------------------------------------ from the app

    def queue(self, run_id: str, spec: RunSpec, teaching, resume, first_seq: int) -> str:
        """A run to start when a CPU is free for it, in fair-share order, with what its actor is
        made with (`training.worker.Trainer`). Also how an app queues again a run left on its disk
        (a restart, a lost run). A run queued already, or finished, is left as it is."""
        state = self.runs.get(run_id)
        if run_id in self.queued or run_id in self.actors or (state and state["status"] in FINISHED):
            return self.incarnation
        self.queued[run_id] = (spec, teaching, resume, first_seq)
        self.who[run_id] = Queued.of(run_id, spec)
        if state is None or state["status"] == Status.LOST:
            self.runs[run_id] = _new_state(Status.WAITING)
            self._change(run_id)
        self._dispatch()
        return self.incarnation

    def add(self, run_id: str, actor: list, status: str, spec: RunSpec) -> str:
        """A run whose actor lives in the cluster (in a list: Ray hands over the handle as it is),
        as an app re-tells a restarted board of it, with the status its disk gives. A run the
        board knows (it may have reported here first) keeps its state."""
        self._watch(run_id, actor[0], spec)
        if run_id not in self.runs or self.runs[run_id]["status"] == Status.LOST:
            self.runs[run_id] = _new_state(status)
            self._change(run_id)
        return self.incarnation

    def _watch(self, run_id: str, actor, spec: RunSpec) -> None:
        self.actors[run_id] = actor
        self.watches[run_id] = actor.join.remote()
        self.who[run_id] = Queued.of(run_id, spec)

    def _dispatch(self) -> None:
        """Give queued runs an actor while CPUs are free, in fair-share order, each person within
        their limit of runs training at once. Ray's own queue stays empty: an actor made now waits
        there only for the CPU of a run that has just finished and is ending."""
        free = int(ray.cluster_resources().get("CPU", 0) // CPUS_PER_RUN) - len(self.actors) if self.queued else 0
        training = Counter(self.who[r].owner for r in self.actors)
        for run in self.order():
            if free <= 0:
                break
            if run.running_limit and training[run.owner] >= run.running_limit:
                continue
            spec, teaching, resume, first_seq = self.queued.pop(run.id)
            me = ray.get_runtime_context().current_actor
            options = dict(name=actor_name(run.id), namespace=NAMESPACE, lifetime="detached")
            try:
                actor = Trainer.options(**options).remote(run.id, spec, me, teaching, resume, first_seq)
            except ValueError:  # its actor lives on already (a board that restarted was not told yet)
                actor = ray.get_actor(actor_name(run.id), namespace=NAMESPACE)
            self._watch(run.id, actor, spec)
            self._change(run.id, given_cpu=time.time())  # its worker starts it seconds later (TensorFlow loads)
            training[run.owner] += 1
            self.served[run.owner] += 1
            free -= 1
        if not self.queued:
            self.served = training

    def order(self) -> list[Queued]:
        """The queued runs, in the order they will start (a person at their running limit is
        passed over until one of theirs ends)."""
        return fair_order([self.who[r] for r in self.queued], self.served)

    def _done_with(self, run_id: str) -> None:
        """A run that finished, or was cancelled: its CPU goes to the next in line."""
        self._release(run_id)
        self._dispatch()

    def _release(self, run_id: str) -> None:
        """The run holds no CPU any more, nor a claim to one."""
        self.actors.pop(run_id, None)
        self.who.pop(run_id, None)

    def knows(self, run_ids: list[str]) -> list[str]:
        return [run_id for run_id in run_ids if run_id in self.runs]

    def stop(self, run_id: str) -> str:
        """A waiting run is cancelled at once (it never starts); a running one stops after its
        current batch. The status it had."""
        state = self._state(run_id)
        was = state["status"]
        if was == Status.WAITING:
            self._change(run_id, status=Status.CANCELLED, finished=time.time())
            self.queued.pop(run_id, None)
            if run_id in self.actors:  # made, not yet started: out of Ray's queue, it never starts
                ray.kill(self.actors[run_id], no_restart=True)
            self._done_with(run_id)
        elif was == Status.RUNNING:
            self._change(run_id, status=Status.STOPPING)
        return was

    def changes(self, known: dict[str, tuple[int, int]]) -> tuple[str, dict[str, dict], list[str]]:
        """This board's incarnation; every run whose version differs from `known` (run id:
        (version, the number of the first event not yet written)), with only the events from there
        on, without the bytes; and the queued runs' ids in the order they will start."""
        self._notice_ended_actors()
        self._dispatch()  # a machine may have joined the cluster
        changed = {}
        for run_id, state in self.runs.items():
            version, written = known.get(run_id, (None, 0))
            if version != state["version"]:
                changed[run_id] = {**state, "events": [e for e in state["events"] if e["seq"] >= written]}
        return self.incarnation, changed, [run.id for run in self.order()]

    def _notice_ended_actors(self) -> None:
        """A run whose actor ended while the run is unfinished died with its worker: Ray says why."""
        watched = {ref: run_id for run_id, ref in self.watches.items()}
        ended, _ = ray.wait(list(watched), num_returns=len(watched), timeout=0) if watched else ([], [])
        for ref in ended:
            run_id = watched[ref]
            del self.watches[run_id]
            self._release(run_id)  # the next in line gets its CPU at once: `changes` dispatches next
            try:
                ray.get(ref)
            except exceptions.RayError as err:
                status = self.runs[run_id]["status"]
                # Never started: its worker died, or the owner of its arguments (a board before a
                # restart) did. The app processes queue it again from their disk.
                if status == Status.WAITING:
                    self._change(run_id, status=Status.LOST)
                elif status not in FINISHED:
                    self._change(run_id, status=Status.INTERRUPTED, error=why_ended(err), finished=time.time())

    def checkpoint_of(self, run_id: str) -> bytes | None:
        return self.checkpoints.get(run_id)

    def resume_of(self, run_id: str) -> bytes | None:
        return self.resumes.get(run_id)

    def result_of(self, run_id: str, claimant: str) -> dict | None:
        """The finished run's model files, to one app process at a time (another is told who has
        them, for a minute: two never store one model twice); they stay here until `stored` says
        they are safe. None once stored."""
        holder, since = self.claims.get(run_id, (claimant, 0.0))
        if run_id not in self.results:
            return None
        if holder != claimant and time.time() - since < 60:
            return {"claimed": holder}
        self.claims[run_id] = (claimant, time.time())
        return self.results[run_id]

    def stored(self, run_id: str, model: str | None, error: str | None = None) -> None:
        """An app stored the result as `model`, or could not (`error`: it keeps it to try again)."""
        self.claims.pop(run_id, None)
        if model is not None:
            self.results.pop(run_id, None)
        self._change(run_id, model=model, error=error)

    def written(self, run_id: str, written: int) -> None:
        """An app has recorded a finished run's events up to number `written`, and its checkpoints:
        they go."""
        state = self.runs.get(run_id)
        if state is None or state["status"] not in FINISHED or run_id in self.results:
            return
        state["events"] = [e for e in state["events"] if e["seq"] >= written]
        self.checkpoints.pop(run_id, None)
        self.resumes.pop(run_id, None)

    def sizes(self) -> dict[str, int]:
        """What the board holds: for tests and for a look at its memory."""
        return {
            "runs": len(self.runs),
            "events": sum(len(s["events"]) for s in self.runs.values()),
            "checkpoints": len(self.checkpoints) + len(self.resumes),
            "results": len(self.results),
            "queued": len(self.queued),
        }

    # ------------------------------------------------------------ from a run's actor

    def start(self, run_id: str, node: str, pid: int, threads: dict) -> bool:
        """The run begins, with these threads; False if it was cancelled while it waited. A
        resumed run says 'running' again on its new worker."""
        if self._state(run_id)["status"] not in (Status.WAITING, Status.RUNNING):
            return False
        self._change(run_id, status=Status.RUNNING, node=node, pid=pid, started=time.time(), threads=threads)
        return True

    def stop_asked(self, run_id: str) -> bool:
        return self._state(run_id)["status"] == Status.STOPPING

    def report(self, run_id: str, event: dict) -> None:
        """One progress event, numbered by the run (`seq`)."""
        self._state(run_id)["events"].append(event)
        self._change(run_id)

    def save_checkpoint(self, run_id: str, weights: bytes) -> None:
        self.checkpoints[run_id] = weights
        self._change(run_id, checkpoint=self._state(run_id)["checkpoint"] + 1)

    def save_resume(self, run_id: str, model: bytes, epoch: int) -> None:
        self.resumes[run_id] = model
        self._change(run_id, resume=self._state(run_id)["resume"] + 1, resume_epoch=epoch)

    def finish(self, run_id: str, status: Status, result: dict | None = None, error: str | None = None) -> None:
        if result is not None:
            self.results[run_id] = result
        self._change(run_id, status=status, error=error, has_result=result is not None, finished=time.time())
        self._done_with(run_id)


_shared: dict = {}  # this process's handle on the board


def shared_board() -> ray.actor.ActorHandle:
    """The shared board actor, created by whichever process asks first (Ray joined or started
    first: `training.cluster.connect`)."""
    connect()
    if "board" not in _shared:
        _shared["board"] = Board.options(name="board", namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()
    return _shared["board"]


def why_ended(err: exceptions.RayError) -> str:
    """Ray's reason a run's actor ended before the run finished, in the words the pages show."""
    if isinstance(err, exceptions.OutOfMemoryError):
        return "Ray stopped its worker because the machine was running out of memory"
    if isinstance(err, exceptions.OwnerDiedError):
        return "the app process that queued it stopped"
    if isinstance(err, exceptions.NodeDiedError):
        return "its machine left the cluster"
    if isinstance(err, exceptions.WorkerCrashedError):
        return "its worker process ended suddenly: killed, or crashed"
    if isinstance(err, exceptions.ActorDiedError):
        return _actor_death(err)
    if isinstance(err, exceptions.RayTaskError):  # raised by the run's own code: the cause says it
        return f"its task failed: {type(err.cause).__name__}: {err.cause}"[:300]
    return f"its task ended: {str(err).strip().splitlines()[0][:200]}"


def _actor_death(err: exceptions.ActorDiedError) -> str:
    """Ray's own sentences for a dead actor (its GCS writes them), in the pages' words."""
    text = str(err)
    if "NODE_OUT_OF_MEMORY" in text:
        return "Ray stopped its worker because the machine was running out of memory"
    if "its node has died" in text:
        return "its machine left the cluster"
    if "killed by `ray.kill`" in text:
        return "it was ended by hand (ray.kill)"
    if err.actor_init_failed:  # its constructor raised: the cause is the last line
        return f"it could not start: {text.strip().splitlines()[-1][:200]}"
    return "its worker process ended suddenly: killed, or crashed"
