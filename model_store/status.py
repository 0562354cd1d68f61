"""A training run's status: the one set of words the board, the records, the class database and
the pages use for it. A `str` enum, so what is stored stays the plain word ("done", "waiting").

In model_store, not training: the class database (`model_store.database`, `model_store.lesson`)
reads the runs' states too, and model_store never imports training.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"  # queued, without a CPU yet
    RUNNING = "running"
    STOPPING = "stopping"  # Stop pressed: it ends after the current batch
    DONE = "done"
    STOPPED = "stopped"  # stopped by its owner or the teacher, its best weights stored
    FAILED = "failed"  # its own code raised: the error says what
    CANCELLED = "cancelled"  # cancelled while it waited: it never started
    INTERRUPTED = "interrupted"  # its worker died (killed, its machine gone)
    # On the board only: a waiting run whose actor died before it started. The app processes queue
    # it again, and their records never say "lost".
    LOST = "lost"
    # In the class database only: a finished run taken out of every list (`training.runs.archive_runs`).
    ARCHIVED = "archived"


FINISHED = (Status.DONE, Status.STOPPED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)
