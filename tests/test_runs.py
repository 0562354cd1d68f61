"""Training runs in a worker process: one at a time, stoppable, and nothing lost when they die."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from model_store import ModelStore
from model_store.networks import dense_128
from tests.conftest import open_page, run_clean
from training.config import TrainConfig
from training.runs import RunBusy, active_run, keep_checkpoint, latest_run, read_run, request_stop, runs_root, start_run

SMALL = dict(arch="dense-128", train_limit=5000, batch_size=32, validation="split")


@pytest.fixture
def runs(tmp_path, monkeypatch) -> ModelStore:
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    return ModelStore(tmp_path / "models", bundled_dir=None)


def wait_for(condition, seconds=90.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def worker_pid() -> int:
    return int((runs_root() / "active.lock").read_text().split()[1])


def test_a_run_reports_progress_refuses_a_second_and_stops_with_its_model_stored(runs):
    run_id = start_run(TrainConfig(name="live", epochs=200, **SMALL), runs)
    assert active_run() == run_id == latest_run()
    with pytest.raises(RunBusy, match="in progress"):
        start_run(TrainConfig(name="second", epochs=1, **SMALL), runs)
    wait_for(lambda: any(e.phase == "epoch" and e.epoch >= 2 for e in read_run(run_id).events))
    run = read_run(run_id)
    assert run.status == "running"
    assert all(e.val_accuracy is not None for e in run.events if e.phase == "epoch")
    request_stop(run_id)
    assert read_run(run_id).status == "stopping"
    finished = wait_for(lambda: read_run(run_id) if read_run(run_id).finished else None, 30)
    assert finished.status == "stopped" and finished.model == "live"
    assert runs.get("live").record["stopped_by"] == "user"
    assert active_run() is None  # the next run may start
    start_run(TrainConfig(name="next", epochs=1, **SMALL), runs)
    assert wait_for(lambda: read_run(latest_run()).status == "done")


def test_a_killed_worker_leaves_an_interrupted_run_its_checkpoint_and_a_whole_store(runs, monkeypatch):
    runs.save(dense_128(), {"name": "keeper", "architecture": "dense-128", "normalization": "scale"})
    run_id = start_run(TrainConfig(name="doomed", epochs=200, **SMALL), runs)
    wait_for(lambda: any(e.phase == "epoch" for e in read_run(run_id).events))
    wait_for(lambda: read_run(run_id).latest.phase == "batch")  # mid-way through the next epoch
    os.kill(worker_pid(), signal.SIGKILL)
    assert wait_for(lambda: read_run(run_id).status == "interrupted", 10)
    assert active_run() is None
    assert read_run(run_id).checkpoint.exists()  # the last best checkpoint is kept
    assert [(m.name, m.broken) for m in runs.list()] == [("keeper", False)]
    monkeypatch.setenv("MNIST_LAB_MODELS", str(runs.root))
    page = open_page("train")
    assert "The run was interrupted" in page.warning[0].value
    page.button(key="train_keep").click()  # the finished epochs are not lost
    run_clean(page)
    record = runs.get("doomed").record
    assert record["stopped_by"] == "interrupted" and record["metrics"]["test_accuracy"] > 0.8
    assert len(record["history"]["val_accuracy"]) == record["epochs_run"] >= 1
    assert read_run(run_id).model == "doomed" and page.metric[0].label == "Test accuracy"
    with pytest.raises(ValueError, match="no checkpoint to keep"):
        keep_checkpoint(run_id, runs)  # kept once only


def test_a_crashing_run_is_shown_as_failed_with_its_error(runs, tmp_path):
    not_a_folder = tmp_path / "models-file"
    not_a_folder.write_text("a file where the store should be")
    run_id = start_run(TrainConfig(name="crash", epochs=1, **SMALL), ModelStore(not_a_folder, bundled_dir=None))
    run = wait_for(lambda: read_run(run_id) if read_run(run_id).finished else None)
    assert run.status == "failed" and "Error" in run.error
    assert active_run() is None


def test_bad_options_and_taken_names_are_refused_before_any_worker_starts(runs):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="epochs"):
        start_run(TrainConfig(name="bad", epochs=0, **SMALL), runs)
    assert active_run() is None and latest_run() is None


def test_a_run_whose_server_dies_ends_as_interrupted_instead_of_running_on(runs, tmp_path):
    import subprocess
    import sys
    import textwrap

    # A stand-in server: starts a run, then dies at once, as a restarted server does.
    script = textwrap.dedent(
        f"""
        from model_store import ModelStore
        from training.config import TrainConfig
        from training.runs import start_run
        print(start_run(TrainConfig(name="orphan", epochs=200, **{SMALL!r}), ModelStore({str(runs.root)!r}, bundled_dir=None)))
        """
    )
    run_id = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent
    ).stdout.strip()
    run_id = run_id.splitlines()[-1]
    assert wait_for(lambda: read_run(run_id).status == "interrupted", 60)
    assert active_run() is None and "orphan" not in [m.name for m in runs.list()]
