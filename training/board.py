"""The board: one named Ray actor holding what every run tells and every app process reads.

A run's task reports here (its progress, its best checkpoint, its result) and asks here whether
someone pressed Stop; the app processes read what changed and copy it to their own disk
(`training.runs.sync`). A Ray actor runs its methods one at a time, so nothing here needs a lock,
and a result is handed out once only.

The board also holds each run's Ray task, so that a run whose worker died (killed, out of
memory, its machine gone, the app process that queued it stopped) reads as interrupted with
Ray's own reason, within a second. (A heartbeat did this before; a loaded machine delayed it past
its 10 s limit and live runs read as dead.)
"""

from __future__ import annotations

import time

import ray
from ray import exceptions

FINISHED = ("done", "stopped", "failed", "cancelled", "interrupted")  # the rest: waiting, running, stopping


@ray.remote(num_cpus=0, max_restarts=0)
class Board:
    def __init__(self):
        self.runs: dict[str, dict] = {}
        self.checkpoints: dict[str, bytes] = {}
        self.results: dict[str, dict] = {}
        self.tasks: dict[str, ray.ObjectRef] = {}

    def _state(self, run_id: str) -> dict:
        return self.runs.setdefault(run_id, {"status": "waiting", "events": [], "version": 0, "checkpoint": 0})

    def _change(self, run_id: str, **fields) -> None:
        state = self._state(run_id)
        state.update(fields)
        state["version"] += 1

    # ------------------------------------------------------------ from the app

    def add(self, run_id: str, task: list[ray.ObjectRef]) -> None:
        """A queued run and its task (in a list, so that Ray hands over the reference and does not
        wait for the result). Its task may have started already: then it stays as it is."""
        self.tasks[run_id] = task[0]
        if run_id not in self.runs:
            self._change(run_id, status="waiting")

    def knows(self, run_ids: list[str]) -> list[str]:
        return [run_id for run_id in run_ids if run_id in self.runs]

    def stop(self, run_id: str) -> str:
        """A waiting run is cancelled at once; a running one stops after its current batch."""
        state = self._state(run_id)
        if state["status"] == "waiting":
            self._change(run_id, status="cancelled")
        elif state["status"] == "running":
            self._change(run_id, status="stopping")
        return state["status"]

    def changes(self, known: dict[str, tuple[int, int]]) -> dict[str, dict]:
        """Every run whose version differs from `known` (run id: (version, events already had)),
        with only the events that are new to the caller, and without the bytes."""
        self._notice_ended_tasks()
        changed = {}
        for run_id, state in self.runs.items():
            version, had = known.get(run_id, (None, 0))
            if version != state["version"]:
                changed[run_id] = {**state, "events": state["events"][had:]}
        return changed

    def _notice_ended_tasks(self) -> None:
        """A task that ended while its run is unfinished died with its worker: Ray says why."""
        tasks = {ref: run_id for run_id, ref in self.tasks.items()}
        ended, _ = ray.wait(list(tasks), num_returns=len(tasks), timeout=0) if tasks else ([], [])
        for ref in ended:
            run_id = tasks[ref]
            del self.tasks[run_id]
            try:
                ray.get(ref)
            except exceptions.RayError as err:
                if self.runs[run_id]["status"] not in FINISHED:
                    self._change(run_id, status="interrupted", error=why_ended(err))

    def checkpoint_of(self, run_id: str) -> bytes | None:
        return self.checkpoints.get(run_id)

    def take_result(self, run_id: str) -> dict | None:
        """The finished run's model files, to one app process only: that one stores them."""
        return self.results.pop(run_id, None)

    def stored(self, run_id: str, model: str | None, error: str | None = None) -> None:
        self._change(run_id, model=model, error=error, status="failed" if error else self.runs[run_id]["status"])

    # ------------------------------------------------------------ from a run's task

    def start(self, run_id: str, node: str, pid: int) -> bool:
        """The task begins; False if the run was cancelled while it waited."""
        if self._state(run_id)["status"] != "waiting":
            return False
        self._change(run_id, status="running", node=node, pid=pid, started=time.time())
        return True

    def stop_asked(self, run_id: str) -> bool:
        return self._state(run_id)["status"] == "stopping"

    def report(self, run_id: str, event: dict) -> None:
        self._state(run_id)["events"].append(event)
        self._change(run_id)

    def save_checkpoint(self, run_id: str, weights: bytes) -> None:
        self.checkpoints[run_id] = weights
        self._change(run_id, checkpoint=self._state(run_id)["checkpoint"] + 1)

    def finish(self, run_id: str, status: str, result: dict | None = None, error: str | None = None) -> None:
        if result is not None:
            self.results[run_id] = result
        self._change(run_id, status=status, error=error, has_result=result is not None, finished=time.time())


def why_ended(err: exceptions.RayError) -> str:
    """Ray's reason a run's task ended before the run finished, in the words the pages show."""
    if isinstance(err, exceptions.OutOfMemoryError):
        return "Ray stopped its worker because the machine was running out of memory"
    if isinstance(err, exceptions.OwnerDiedError):
        return "the app process that queued it stopped"
    if isinstance(err, exceptions.NodeDiedError):
        return "its machine left the cluster"
    if isinstance(err, exceptions.WorkerCrashedError):
        return "its worker process ended suddenly: killed, or crashed"
    if isinstance(err, exceptions.RayTaskError):  # raised by the task's own code: the cause says it
        return f"its task failed: {type(err.cause).__name__}: {err.cause}"[:300]
    return f"its task ended: {str(err).strip().splitlines()[0][:200]}"
