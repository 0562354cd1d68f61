"""The board: one named Ray actor holding what every run tells and every app process reads.

A run (`training.worker`) reports here its progress, its best checkpoint, its last finished
epoch and its result, and asks here whether someone pressed Stop; the app processes read what
changed and copy it to their own disk (`training.runs.sync`). A Ray actor runs its methods one at
a time, so nothing here needs a lock.

The board is rebuilt, never a single point of failure: Ray restarts it when it dies
(`max_restarts=-1`), and calls made while it restarts are retried (`max_task_retries=-1`). A
restarted board knows nothing; each has its own `incarnation`, and an app process that sees a new
one tells it again what its runs folder holds (`training.runs.recover`). A result stays here until
an app process says it is stored: store first, forget after.

Each event carries its number in the run (`seq`, given by the run itself), so an app appends to
its disk only those it has not written, whichever board they came through; once a finished run
is on disk, its events, checkpoints and result are dropped.
"""

from __future__ import annotations

import secrets
import time

import ray
from ray import exceptions

FINISHED = ("done", "stopped", "failed", "cancelled", "interrupted")  # the rest: waiting, running, stopping, lost
# "lost": a waiting run whose actor died before it started (the app that queued it died with the
# files it was handed); the app processes queue it again, and their disks never say "lost".


def _new_state(status: str = "waiting") -> dict:
    return {"status": status, "events": [], "version": 0, "checkpoint": 0, "resume": 0}


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

    def _state(self, run_id: str) -> dict:
        return self.runs.setdefault(run_id, _new_state())

    def _change(self, run_id: str, **fields) -> None:
        state = self._state(run_id)
        state.update(fields)
        state["version"] += 1

    # ------------------------------------------------------------ from the app

    def add(self, run_id: str, actor: list, status: str = "waiting") -> str:
        """A queued run and its actor (in a list: Ray hands over the handle as it is). Also how an
        app re-tells a restarted board of a run on its disk, with the status the disk gives. A run
        the board knows (it may have reported here first) keeps its state."""
        self.watches[run_id] = actor[0].join.remote()
        if run_id not in self.runs or self.runs[run_id]["status"] == "lost":
            self.runs[run_id] = _new_state(status)
            self._change(run_id)
        return self.incarnation

    def knows(self, run_ids: list[str]) -> list[str]:
        return [run_id for run_id in run_ids if run_id in self.runs]

    def stop(self, run_id: str) -> str:
        """A waiting run is cancelled at once (the app then takes its actor out of Ray's queue);
        a running one stops after its current batch. The status it had."""
        state = self._state(run_id)
        was = state["status"]
        if was == "waiting":
            self._change(run_id, status="cancelled", finished=time.time())
        elif was == "running":
            self._change(run_id, status="stopping")
        return was

    def changes(self, known: dict[str, tuple[int, int]]) -> tuple[str, dict[str, dict]]:
        """This board's incarnation, and every run whose version differs from `known` (run id:
        (version, the number of the first event not yet written)), with only the events from there
        on, without the bytes."""
        self._notice_ended_actors()
        changed = {}
        for run_id, state in self.runs.items():
            version, written = known.get(run_id, (None, 0))
            if version != state["version"]:
                changed[run_id] = {**state, "events": [e for e in state["events"] if e["seq"] >= written]}
        return self.incarnation, changed

    def _notice_ended_actors(self) -> None:
        """A run whose actor ended while the run is unfinished died with its worker: Ray says why."""
        watched = {ref: run_id for run_id, ref in self.watches.items()}
        ended, _ = ray.wait(list(watched), num_returns=len(watched), timeout=0) if watched else ([], [])
        for ref in ended:
            run_id = watched[ref]
            del self.watches[run_id]
            try:
                ray.get(ref)
            except exceptions.RayError as err:
                status = self.runs[run_id]["status"]
                if status == "waiting":  # never started (its app died, taking its files): to be queued again
                    self._change(run_id, status="lost")
                elif status not in FINISHED:
                    self._change(run_id, status="interrupted", error=why_ended(err), finished=time.time())

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
        """An app has a finished run's events up to number `written` on disk, and its checkpoints:
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
        }

    # ------------------------------------------------------------ from a run's actor

    def start(self, run_id: str, node: str, pid: int) -> bool:
        """The run begins; False if it was cancelled while it waited. A resumed run says 'running'
        again on its new worker."""
        if self._state(run_id)["status"] not in ("waiting", "running"):
            return False
        self._change(run_id, status="running", node=node, pid=pid, started=time.time())
        return True

    def stop_asked(self, run_id: str) -> bool:
        return self._state(run_id)["status"] == "stopping"

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

    def finish(self, run_id: str, status: str, result: dict | None = None, error: str | None = None) -> None:
        if result is not None:
            self.results[run_id] = result
        self._change(run_id, status=status, error=error, has_result=result is not None, finished=time.time())


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
