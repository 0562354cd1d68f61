"""A run as it is queued: its config and who it is for, resolved once when it is submitted
(`training.runs.submit_run`) and handed whole to the board and the run's worker across Ray.

The class database keeps it flat, as every release has written a run's record (`record`): the
config's fields beside the extras below. `of` reads one back, an older release's too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from model_store.database import MAIN
from training.config import TrainConfig


@dataclass(frozen=True)
class RunSpec:
    config: TrainConfig  # resolved and checked: the worker trains it as it is
    owner: str  # the person's name (a name is one person's, whichever of their browsers)
    session: str = ""  # the person's id: whose run it is (`roles.maker`) and whose waiting runs it counts in
    teacher: bool = False  # the teacher's runs start first
    running_limit: int = 0  # the most runs of this person training at once; 0: no limit
    experiment: dict = field(default_factory=dict)  # the experiment it is one value of: name, variable, value
    queue: str = ""  # which training queue's app processes may recover it (`copying.queue_key`)
    class_id: str = MAIN  # the class it was queued in: its Train page lists it (older runs: the install's own)

    def record(self) -> dict:
        """The flat record the class database keeps."""
        extras = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"}
        return {**self.config.to_dict(), **extras}

    @classmethod
    def of(cls, record: dict) -> RunSpec:
        """From a record the database keeps (a field an older release did not write takes its default)."""
        extras = {f.name for f in dataclasses.fields(cls) if f.name != "config"}
        given = {k: v for k, v in record.items() if k in extras and v is not None}
        given["owner"] = given.get("owner") or "?"
        return cls(TrainConfig.from_dict(record), **given)
