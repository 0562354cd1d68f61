"""The board: one named Ray actor holding what every run tells and every app process reads.

A run's task reports here (its progress, its best checkpoint, a heartbeat, its result) and asks
here whether someone pressed Stop; the app processes read what changed and copy it to their own
disk (`training.runs.sync`). A Ray actor runs its methods one at a time, so nothing here needs a
lock, and a result is handed out once only.
"""

from __future__ import annotations

import time

import ray

HEARTBEAT_TIMEOUT = 10.0  # seconds without a word from a running run's task: its worker is gone


@ray.remote(num_cpus=0, max_restarts=0)
class Board:
    def __init__(self):
        self.runs: dict[str, dict] = {}
        self.checkpoints: dict[str, bytes] = {}
        self.results: dict[str, dict] = {}

    def _state(self, run_id: str) -> dict:
        return self.runs.setdefault(run_id, {"status": "waiting", "events": [], "version": 0, "checkpoint": 0})

    def _change(self, run_id: str, **fields) -> None:
        state = self._state(run_id)
        state.update(fields)
        state["version"] += 1

    # ------------------------------------------------------------ from the app

    def add(self, run_id: str) -> None:
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
        now = time.time()
        for run_id, state in self.runs.items():
            quiet = now - state.get("heartbeat", now)
            if state["status"] in ("running", "stopping") and quiet > HEARTBEAT_TIMEOUT:
                self._change(run_id, status="interrupted", error="its worker stopped answering (killed, or its machine left)")
        changed = {}
        for run_id, state in self.runs.items():
            version, had = known.get(run_id, (None, 0))
            if version != state["version"]:
                changed[run_id] = {**state, "events": state["events"][had:]}
        return changed

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
        self._change(run_id, status="running", node=node, pid=pid, heartbeat=time.time(), started=time.time())
        return True

    def beat(self, run_id: str) -> bool:
        """The task is alive; True once someone asked it to stop."""
        state = self._state(run_id)
        state["heartbeat"] = time.time()
        return state["status"] == "stopping"

    def report(self, run_id: str, event: dict) -> None:
        self._state(run_id)["events"].append(event)
        self._change(run_id, heartbeat=time.time())

    def save_checkpoint(self, run_id: str, weights: bytes) -> None:
        self.checkpoints[run_id] = weights
        self._change(run_id, checkpoint=self._state(run_id)["checkpoint"] + 1)

    def finish(self, run_id: str, status: str, result: dict | None = None, error: str | None = None) -> None:
        if result is not None:
            self.results[run_id] = result
        self._change(run_id, status=status, error=error, has_result=result is not None, finished=time.time())
