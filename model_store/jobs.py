"""Background work on one stored model (calibrating it, building its map), in one small pool that
every session of this app process shares: at most one job a model at a time, and only the
model's owner or the teacher may start one. A second press, from any browser, finds the job
already running instead of starting another; jobs for other models wait their turn in the pool,
so a class pressing "Calibrate it" on ten models keeps one core busy, not ten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from model_store.roles import Person, require

if TYPE_CHECKING:
    from model_store.store import StoredModel

# One worker: the pages keep the other core (a job is ~20-30 s of one core); the rest wait.
POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-job")
_JOBS: dict[str, Job] = {}  # model name -> its current or last job
_LOCK = threading.Lock()


class Busy(RuntimeError):
    """The model has another kind of job running; the message says which."""


@dataclass
class Job:
    kind: str  # what it does, as a person reads it: "calibration", "map"
    model: str
    started: float = field(default_factory=time.monotonic)
    progress: float = 0.0  # 0-1, for work that reports it
    error: str | None = None  # why it failed, once done
    future: Future | None = None

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    @property
    def waiting(self) -> bool:
        """Queued behind another model's job in the pool."""
        return self.future is not None and not self.future.running() and not self.future.done()

    def _run(self, work: Callable[[Callable[[float], None]], object]) -> None:
        try:
            work(self._note)
        except Exception as err:  # shown to whoever watches the job
            self.error = f"{type(err).__name__}: {err}"

    def _note(self, fraction: float) -> None:
        self.progress = fraction


def start(kind: str, entry: StoredModel, by: Person, work: Callable[[Callable[[float], None]], object]) -> Job:
    """Run `work(on_progress)` for this model in the pool; the job. The same kind already queued or
    running for it is that job (nothing new starts); another kind raises Busy. NotAllowed unless
    `by` owns the model or is the teacher."""
    require(by, "model_job", f" ({entry.name})", owner=entry.record.get("owner"))
    with _LOCK:
        job = _JOBS.get(entry.name)
        if job is not None and not job.done:
            if job.kind != kind:
                raise Busy(f"{entry.name} is busy with its {job.kind}: try again once it is done")
            return job
        job = _JOBS[entry.name] = Job(kind, entry.name)
        job.future = POOL.submit(job._run, work)
        return job


def job_of(name: str, kind: str) -> Job | None:
    """The model's job of this kind, running or the last one done; None when there is none."""
    job = _JOBS.get(name)
    return job if job is not None and job.kind == kind else None
