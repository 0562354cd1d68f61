"""The training worker: `python -m training.worker RUN_DIR STORE_DIR SERVER_PID`, from `runs.start_run`.

Trains the run's config, appending progress to the run folder, and records how it ended.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from model_store import ModelStore
from training.config import TrainConfig
from training.engine import train
from training.runs import EventLog, StopFile, _write_status


def main(run_dir: Path, store_dir: Path, server_pid: int) -> int:
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    try:
        result = train(
            config, ModelStore(store_dir), on_progress=EventLog(run_dir), stop=StopFile(run_dir, server_pid), run_dir=run_dir
        )
    except Exception as err:  # a crash is shown on the page as a failed run, with its error
        traceback.print_exc()
        _write_status(run_dir, "failed", error=f"{type(err).__name__}: {err}")
        return 1
    finally:
        lock = run_dir.parent / "active.lock"
        if lock.exists() and lock.read_text().startswith(f"{run_dir.name} "):
            lock.unlink(missing_ok=True)  # the next run may start
    _write_status(run_dir, "stopped" if result.stopped_by == "user" else "done", model=result.entry.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
