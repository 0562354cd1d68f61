"""Training runs queued on Ray: many at once, in fair-share order, cancelled, stopped, killed,
crashed and recovered after a restart, with nothing lost. One local Ray serves the whole module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model_store import ModelStore
from model_store.networks import dense_128
from model_store.roles import NotAllowed, Person
from tests.browser import FIRST_UPLOAD
from tests.conftest import open_page, recorded_run, run_clean
from tests.people import TEACHER
from tests.waiting import wait_for
from training import runs as runs_module
from training.board import shared_board
from training.config import ConfigError, TrainConfig
from training.copying import copier, records
from training.limits import Limits, OverLimit, save_limits
from training.records import CHECKPOINT, LAST, RESULT, TEACHING
from training.runs import (
    clear_queue,
    has_checkpoint,
    keep_checkpoint,
    list_runs,
    queue_places,
    read_run,
    request_stop,
    start_sync,
    submit_run,
)
from training.worker import CPUS_PER_RUN, Trainer, actor_name

SMALL = dict(arch="dense-128", train_limit=3000, batch_size=32, validation="split")
LONG = dict(SMALL, epochs=300)  # stopped or killed long before it ends
PROJECT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # real Ray: a local cluster, its board and workers (minutes together)


@pytest.fixture
def store(tmp_path, monkeypatch) -> ModelStore:
    """The class's store; the app process that stores a finished model caches it in $MNIST_LAB_MODELS."""
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tmp_path / "models"))
    save_limits(Limits(epochs=0), TEACHER)  # LONG runs, queued by students: the class's epochs unlimited
    return ModelStore(tmp_path / "models", bundled_dir=None)


def status(run_id: str) -> str:
    return read_run(run_id).status


def finished(run_id: str):
    run = read_run(run_id)
    return run if run.finished and (run.model or run.status not in ("done", "stopped")) else None


@pytest.fixture
def idle():
    """Whatever a test leaves running is stopped before the next one starts."""
    yield
    for run in list_runs():
        if not run.finished:
            request_stop(run.id, TEACHER)
    wait_for(lambda: all(r.finished for r in list_runs()), 60)


def files_of(run_id: str) -> list[str]:
    """The run's files the class database holds."""
    return [kind for kind in (CHECKPOINT, LAST, TEACHING, RESULT) if records().file(run_id, kind) is not None]


def test_three_sessions_press_train_at_once_and_every_model_is_stored(engine, store, idle):
    ids = [submit_run(TrainConfig(name=f"run-{i}", epochs=1, **SMALL), store, Person(f"student-{i}", f"s{i}")) for i in range(3)]
    runs = [wait_for(lambda i=i: finished(i)) for i in ids]
    assert [r.status for r in runs] == ["done"] * 3
    assert sorted(m.name for m in store.list()) == ["run-0", "run-1", "run-2"]
    record = store.get("run-1").record
    assert record["config"]["epochs"] == 1 and record["metrics"]["test_accuracy"] > 0.7 and len(record["progress"]) >= 1
    assert [r.owner for r in runs] == ["student-0", "student-1", "student-2"]
    # The models are stored: the runs' epoch checkpoints (best and last) are gone from the database.
    assert [files_of(i) for i in ids] == [[]] * 3
    assert all([e.epoch for e in r.events if e.phase == "epoch"] == [1] for r in map(read_run, ids))
    assert all(r.node for r in runs)  # each tells the Ray node it ran on
    # Level on turns, they start in the order pressed: the run submitted last started last, once
    # a CPU was free; never more runs training at once than there are CPUs.
    times = [records().status_of(i) for i in ids]
    assert times[2]["started"] >= min(t["finished"] for t in times[:2])
    cpus = int(__import__("ray").cluster_resources()["CPU"])
    assert all(sum(t["started"] <= s["started"] < t["finished"] for t in times) <= cpus for s in times)
    # Each trained with as many threads as the CPUs it asked Ray for, no more.
    assert Trainer._default_options["num_cpus"] == CPUS_PER_RUN
    assert [t["threads"] for t in times] == [{"intra_op": CPUS_PER_RUN, "inter_op": CPUS_PER_RUN, "omp": CPUS_PER_RUN}] * 3


def test_runs_start_in_fair_share_order_whoever_pressed_first(store, idle):
    """Three people with uneven queues, behind the teacher's runs holding every CPU: everyone's
    first run starts before anyone's second, and no student has two training at once."""
    import ray

    start_sync()
    cpus = int(ray.cluster_resources()["CPU"])
    blockers = [submit_run(TrainConfig(name=f"lesson-{i}", **LONG), store, TEACHER) for i in range(cpus)]
    wait_for(lambda: all(status(i) == "running" for i in blockers))
    ada, bob, cy = Person("ada", "ada"), Person("bob", "bob"), Person("cy", "cy")
    pressed = [(ada, 0), (ada, 1), (ada, 2), (cy, 0), (cy, 1), (bob, 0)]  # in this order
    ids = {f"{p.name}-{k}": submit_run(TrainConfig(name=f"{p.name}-{k}", epochs=1, **SMALL), store, p) for p, k in pressed}
    wanted = ["ada-0", "cy-0", "bob-0", "ada-1", "cy-1", "ada-2"]
    wait_for(lambda: sorted(ids, key=lambda name: queue_places(list_runs())[ids[name]][0]) == wanted, 10)  # as the board has it
    assert all(actor_name(i) not in ray.util.list_named_actors() for i in ids.values())  # on the board, not in Ray
    for run_id in blockers:
        request_stop(run_id, TEACHER)
    times = {name: wait_for(lambda i=i: finished(i) and records().status_of(i)) for name, i in ids.items()}
    # The order the board gave them a CPU in. (Each starts when its fresh worker has loaded
    # TensorFlow, seconds later on a loaded machine: a run given its CPU third may start fourth.)
    given = sorted(times, key=lambda name: times[name]["given_cpu"])
    assert given[:3] == ["ada-0", "cy-0", "bob-0"] and given[-1] == "ada-2", given  # ada-1, cy-1: as ada's limit allows
    for person in ("ada", "cy"):
        own = sorted((t["started"], t["finished"]) for name, t in times.items() if name.startswith(person))
        assert all(later[0] >= earlier[1] for earlier, later in zip(own, own[1:])), own  # one at a time


def test_fair_share_order_puts_the_teacher_first_then_takes_turns_by_person():
    from collections import Counter

    from training.board import Queued, fair_order

    def queued(i, owner, teacher=False):
        return Queued(f"{i:02d}", owner, teacher)

    pressed = [queued(1, "ada"), queued(2, "ada"), queued(3, "ada"), queued(4, "cy"), queued(5, "bob"), queued(6, "cy")]
    pressed.append(queued(7, "teacher", teacher=True))
    order = [(r.owner, r.id) for r in fair_order(pressed, Counter())]
    assert order == [("teacher", "07"), ("ada", "01"), ("cy", "04"), ("bob", "05"), ("ada", "02"), ("cy", "06"), ("ada", "03")]
    # A run training counts as a turn taken: bob, with one training, waits behind ada's and cy's first.
    order = [r.owner for r in fair_order([queued(1, "bob"), queued(2, "ada"), queued(3, "cy")], Counter(bob=1))]
    assert order == ["ada", "cy", "bob"]
    # An experiment's eight runs are its person's: the others' single runs go between them.
    experiment = [queued(i, "dan") for i in range(8)]
    order = [r.owner for r in fair_order([*experiment, queued(8, "eve"), queued(9, "fay")], Counter())]
    assert order[:4] == ["dan", "eve", "fay", "dan"] and order[4:] == ["dan"] * 6


def test_a_waiting_run_is_cancelled_and_a_running_one_stops_with_its_best_weights(store, idle):
    import ray

    start_sync()
    cpus = int(ray.cluster_resources()["CPU"])
    running = [submit_run(TrainConfig(name=f"busy-{i}", **LONG), store, Person(f"a{i}", f"a{i}")) for i in range(cpus)]
    waiting = submit_run(TrainConfig(name="patient", **LONG), store, Person("b", "b"))
    wait_for(lambda: all(status(i) == "running" for i in running))
    assert status(waiting) == "waiting"
    assert queue_places(list_runs())[waiting][0] == 1
    assert actor_name(waiting) not in ray.util.list_named_actors()  # it waits on the board, not in Ray
    request_stop(waiting, Person("b", "b"))  # its own
    assert wait_for(lambda: status(waiting) == "cancelled")
    wait_for(lambda: any(e.phase == "epoch" and e.epoch >= 2 for e in read_run(running[0]).events))
    request_stop(running[0], TEACHER)  # anyone's
    run = wait_for(lambda: finished(running[0]), 30)
    assert run.status == "stopped" and run.model == "busy-0"
    assert store.get("busy-0").record["stopped_by"] == "user"
    time.sleep(2)
    assert status(waiting) == "cancelled" and "patient" not in [m.name for m in store.list()]  # it never ran
    assert read_run(waiting).node is None  # no worker ever took it


def test_class_limits_hold_and_only_the_teacher_stops_others_or_clears_the_queue(store, idle):
    save_limits(Limits(epochs=400, waiting=2), TEACHER)
    eager, calm, dan = Person("eager", "eager"), Person("calm", "calm"), Person("dan", "dan")
    with pytest.raises(OverLimit, match="the class limit is 400 epochs"):
        submit_run(TrainConfig(name="greedy", **dict(LONG, epochs=500)), store, eager)
    submit_run(TrainConfig(name="greedy", **dict(LONG, epochs=500)), store, TEACHER)  # the teacher's runs may
    for i in range(2):
        submit_run(TrainConfig(name=f"queued-{i}", **LONG), store, eager)
    # Submitted together, not both have started: the next one is refused, another browser's is not.
    if len([r for r in list_runs() if r.status == "waiting" and r.owner == "eager"]) == 2:
        with pytest.raises(OverLimit, match="the class limit is 2"):
            submit_run(TrainConfig(name="one-too-many", **LONG), store, eager)
    others = [submit_run(TrainConfig(name=f"{p.name}-{i}", **LONG), store, p) for p in (calm, dan) for i in range(2)]
    with pytest.raises(NotAllowed, match="Only the teacher may stop or cancel another person's run .calm's calm-0."):
        request_stop(others[0], eager)
    with pytest.raises(NotAllowed, match="Only the teacher may clear the training queue"):
        clear_queue(dan)
    time.sleep(1)
    assert status(others[0]) in ("waiting", "running")
    waiting = {r.id for r in list_runs() if r.status == "waiting"}
    assert len(waiting) >= 3  # seven runs, two CPUs
    assert clear_queue(TEACHER) >= len(waiting) - 1  # one may have started meanwhile
    wait_for(lambda: all(status(i) in ("cancelled", "running", "stopping") for i in waiting), 30)
    assert len([r for r in list_runs() if r.status == "cancelled"]) >= len(waiting) - 1


def test_bad_options_and_taken_names_are_refused_before_anything_is_queued(store):
    with pytest.raises(ConfigError, match="epochs"):
        submit_run(TrainConfig(name="bad", epochs=0, **SMALL), store, Person("x", "x"))
    store.save(dense_128(), {"name": "taken", "architecture": "dense-128", "normalization": "scale"})
    with pytest.raises(Exception, match="already exists"):
        submit_run(TrainConfig(name="taken", epochs=1, **SMALL), store, Person("x", "x"))
    assert list_runs() == []


def test_a_killed_worker_leaves_an_interrupted_run_its_checkpoint_and_a_whole_store(store, idle, monkeypatch):
    store.save(dense_128(), {"name": "keeper", "architecture": "dense-128", "normalization": "scale"})
    run_id = submit_run(TrainConfig(name="doomed", **LONG), store, Person("x", "x"))
    wait_for(lambda: any(e.phase == "epoch" for e in read_run(run_id).events))
    wait_for(lambda: read_run(run_id).latest.phase == "batch" and has_checkpoint(run_id))
    os.kill(read_run(run_id).pid, signal.SIGKILL)  # the Ray worker training it
    run = wait_for(lambda: finished(run_id), 30)
    assert run.status == "interrupted" and has_checkpoint(run_id)  # the last best checkpoint is kept
    assert run.error == "its worker process ended suddenly: killed, or crashed"  # Ray's own word
    assert [(m.name, m.broken) for m in store.list()] == [("keeper", False)]
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    page = open_page("train")
    assert "The run was interrupted (its worker process ended suddenly: killed, or crashed)." in page.warning[0].value
    page.button(key="train_keep").click()  # the finished epochs are not lost
    run_clean(page)
    record = store.get("doomed").record
    assert record["stopped_by"] == "interrupted" and record["metrics"]["test_accuracy"] > 0.8
    assert len(record["history"]["val_accuracy"]) == record["epochs_run"] >= 1
    assert read_run(run_id).model == "doomed"
    with pytest.raises(ValueError, match="no checkpoint to keep"):
        keep_checkpoint(run_id, store)  # kept once only


def test_a_run_silent_for_a_while_is_not_taken_for_dead(store, idle):
    """A loaded machine can hold a worker back for seconds; only Ray's word that it died counts."""
    run_id = submit_run(TrainConfig(name="paused", **LONG), store, Person("x", "x"))
    wait_for(lambda: any(e.phase == "epoch" for e in read_run(run_id).events))
    pid = read_run(run_id).pid
    os.kill(pid, signal.SIGSTOP)  # not a word from it for 15 s
    try:
        time.sleep(15)
        assert status(run_id) == "running"
    finally:
        os.kill(pid, signal.SIGCONT)
    seen = len(read_run(run_id).events)
    assert wait_for(lambda: len(read_run(run_id).events) > seen)  # it trains on
    request_stop(run_id, Person("x", "x"))
    assert wait_for(lambda: finished(run_id), 30).status == "stopped"


def test_the_reason_a_task_ended_is_said_in_the_pages_words(store, idle):
    import ray
    from ray import exceptions

    from training.board import why_ended

    submit_run(TrainConfig(name="ray-up", epochs=1, **SMALL), store, Person("x", "x"))  # Ray started

    @ray.remote(max_retries=0)
    def full_disk():
        raise OSError("No space left on device")

    with pytest.raises(exceptions.RayError) as raised:
        ray.get(full_disk.remote())
    assert why_ended(raised.value) == "its task failed: OSError: No space left on device"
    assert why_ended(exceptions.WorkerCrashedError()) == "its worker process ended suddenly: killed, or crashed"
    assert why_ended(exceptions.NodeDiedError("node gone")) == "its machine left the cluster"


QUEUE_AND_QUIT = """
import os, sys, time
from model_store import ModelStore
from model_store.roles import Person
from training.config import TrainConfig
from training.runs import read_run, submit_run

run_id = submit_run(TrainConfig(name="orphan", **{config}), ModelStore(sys.argv[1], bundled_dir=None), Person("x", "x"))
while not read_run(run_id).events:
    time.sleep(0.2)
print(run_id, flush=True)
os._exit(0)  # an app process that ends mid-run, without a word
"""


def test_a_run_whose_app_process_ended_trains_on_and_another_process_stores_it(store, idle, tmp_path):
    """Several app processes share one Ray (benchmarks.replicas): when the one that queued a run
    ends, the run trains on (a detached actor) and another process stores it, every epoch once."""
    import ray

    script = tmp_path / "queue_and_quit.py"
    script.write_text(QUEUE_AND_QUIT.format(config=dict(SMALL, epochs=4)))
    submit_run(TrainConfig(name="warm", epochs=1, **SMALL), store, Person("y", "y"))  # this process joins the board
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, str(script), str(store.root)], env=env, capture_output=True, text=True, timeout=180)
    run_id = done.stdout.split()[-1]
    run = wait_for(lambda: finished(run_id), 120)
    assert (run.status, run.model) == ("done", "orphan")
    assert store.get("orphan").record["epochs_run"] == 4
    assert [e.epoch for e in run.events if e.phase == "epoch"] == [1, 2, 3, 4]  # each written once, by either process


def test_a_model_the_store_refuses_waits_on_the_board_until_it_can_be_stored(store, idle, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "models-file"
    not_a_folder.write_text("a file where the store should be")
    monkeypatch.setenv("MNIST_LAB_MODELS", str(not_a_folder))  # where the storing app process caches models
    start_sync()
    board = shared_board()
    before = ray_get(board.sizes.remote())["results"]  # what other tests' ended app processes left
    run_id = submit_run(
        TrainConfig(name="patient", epochs=1, **SMALL), ModelStore(not_a_folder, bundled_dir=None), Person("x", "x")
    )
    run = wait_for(lambda: (r := read_run(run_id)).error and r)
    assert run.status == "done" and run.model is None
    assert run.error.startswith("not stored yet:") and "models-file" in run.error and "stored as soon as" in run.error
    assert ray_get(board.sizes.remote())["results"] == before + 1  # kept, not dropped
    not_a_folder.unlink()  # the teacher frees the place
    run = wait_for(lambda: read_run(run_id).model and read_run(run_id), 30)
    assert (run.model, run.error) == ("patient", None)
    assert ModelStore(not_a_folder, bundled_dir=None).get("patient").record["epochs_run"] == 1
    wait_for(lambda: ray_get(board.sizes.remote())["results"] == before, 10)  # dropped once stored


def test_the_board_killed_between_a_runs_end_and_its_model_being_stored_loses_no_model(store, idle, tmp_path, monkeypatch):
    """The result waits (the store refuses it) when the board dies, and Ray restarts it empty: the
    copy kept in the run's records is stored once the store takes it."""
    import ray

    not_a_folder = tmp_path / "models-file"
    not_a_folder.write_text("a file where the store should be")
    monkeypatch.setenv("MNIST_LAB_MODELS", str(not_a_folder))  # where the storing app process caches models
    refusing = ModelStore(not_a_folder, bundled_dir=None)
    run_id = submit_run(TrainConfig(name="kept", epochs=1, **SMALL), refusing, Person("x", "x"))
    wait_for(lambda: (r := read_run(run_id)).error and r)  # ended, its model refused: on the board
    assert RESULT in files_of(run_id)  # and kept in its records
    board = shared_board()
    first = ray_get(board.changes.remote({}))[0]
    ray.kill(board, no_restart=False)  # Ray restarts it, empty
    wait_for(lambda: ray_get(board.changes.remote({}))[0] != first, 60)
    not_a_folder.unlink()  # the teacher frees the place
    run = wait_for(lambda: read_run(run_id).model and read_run(run_id), 60)
    assert (run.model, run.error) == ("kept", None)
    assert ModelStore(not_a_folder, bundled_dir=None).get("kept").record["epochs_run"] == 1
    assert files_of(run_id) == []  # stored: the kept result and the checkpoints are gone


def ray_get(ref):
    import ray

    return ray.get(ref, timeout=30)


def test_after_a_restart_runs_left_on_disk_run_again_and_a_stopping_one_stays_interrupted(store, idle):
    """A restarted app's Ray has never heard of the runs on record: they are recovered, not lost."""
    start_sync()  # Ray and this process's copying, as an app has them
    left = {"20260101-000000-aaaaaa": "running", "20260101-000001-bbbbbb": "waiting", "20260101-000002-cccccc": "stopping"}
    for run_id, state in left.items():
        config = {**TrainConfig(name=f"left-{state}", epochs=1, **SMALL).resolved().to_dict(), "owner": "x", "session": "x"}
        records().add(run_id, config)
        records().set_status(run_id, {"status": state})
    copier.recover()
    assert (status("20260101-000002-cccccc"), read_run("20260101-000002-cccccc").error) == (
        "interrupted",
        "the app restarted while it stopped",
    )
    assert wait_for(lambda: finished("20260101-000000-aaaaaa")).model == "left-running"  # no epoch finished: from the start
    assert wait_for(lambda: finished("20260101-000001-bbbbbb")).model == "left-waiting"


def test_a_run_on_another_machines_own_ray_is_not_recovered_here(store, idle):
    """Two app machines, each with a Ray of its own, share one class database: a run of the other
    queue is watched from the records, never trained a second time here."""
    start_sync()
    config = {**TrainConfig(name="theirs", epochs=1, **SMALL).resolved().to_dict(), "owner": "x", "session": "x"}
    recorded_run("20260101-000000-dddddd", {**config, "queue": "local other-machine:/srv/runs"}, "running")
    copier.recover()
    assert ray_get(shared_board().knows.remote(["20260101-000000-dddddd"])) == []
    assert status("20260101-000000-dddddd") == "running"


KILLED_APP = """
import os, signal, sys, time
from model_store import ModelStore
from model_store.roles import Person
from training.config import TrainConfig
from training.copying import records
from training.runs import submit_run

run_id = submit_run(TrainConfig(name="resumed", **{config}), ModelStore(sys.argv[1], bundled_dir=None), Person("x", "x"))
while (records().status_of(run_id).get("resume_epoch") or 0) < 2:
    time.sleep(0.1)
print(run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the app dies; its guard ends its Ray, the run's worker with it
"""


def test_a_killed_apps_running_run_resumes_from_its_last_epoch_after_the_restart(store, idle, tmp_path):
    """The app and its own local Ray die mid-run; the app that starts again (here: this process,
    with the same class database and runs folder) resumes the run after its last finished epoch, unasked."""
    start_sync()
    script = tmp_path / "killed_app.py"
    script.write_text(KILLED_APP.format(config=dict(SMALL, train_limit=12000, epochs=5)))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, str(script), str(store.root)], env=env, capture_output=True, text=True, timeout=300)
    run_id = done.stdout.split()[-1]
    before = [e.epoch for e in read_run(run_id).events if e.phase == "epoch"]
    assert before[:2] == [1, 2] and read_run(run_id).status == "running"
    copier.recover()
    run = wait_for(lambda: finished(run_id), 180)
    assert (run.status, run.model) == ("done", "resumed")
    record = store.get("resumed").record
    assert record["epochs_run"] == 5 and len(record["history"]["val_accuracy"]) == 5
    ended = [e.epoch for e in run.events if e.phase == "epoch"]
    assert ended == before + list(range(before[-1] + 1, 6))  # epochs 1-2 not trained again
    assert record["metrics"]["test_accuracy"] > 0.9


def test_the_train_page_queues_a_run_and_shows_the_queue(store, idle, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    page = open_page("train")
    assert "No run yet" in page.info[0].value
    page.number_input(key="train_train_limit").set_value(2000)
    page.number_input(key="train_epochs").set_value(1)
    page.text_input(key="train_name").set_value("from-the-form")
    page.button[[b.label for b in page.button].index("Train")].click()
    run_clean(page)
    (run,) = list_runs()
    assert run.config["name"] == "from-the-form" and run.owner.startswith("guest-")
    assert any(s.value == "The queue" for s in page.subheader)
    assert wait_for(lambda: finished(run.id)).status == "done"
    assert runs_module.SYNC_SECONDS <= 1  # the page's copy of the board is at most a second old


UNREACHABLE = """
import json, os, time
from streamlit.testing.v1 import AppTest
from training import cluster

train = AppTest.from_file(os.path.abspath("pages/train.py"), default_timeout=60).run()
deadline = time.monotonic() + 30
while not cluster.problem() and time.monotonic() < deadline:
    time.sleep(0.2)
train.run()
shown = [e.value for e in train.error]
train.number_input(key="train_epochs").set_value(1)
train.button[[b.label for b in train.button].index("Train")].click().run()
draw = AppTest.from_file(os.path.abspath("pages/draw.py"), default_timeout=60).run()
print(json.dumps({
    "shown": shown,
    "after_train": [e.value for e in train.error],
    "exceptions": [str(e.value) for e in [*train.exception, *draw.exception]],
    "draw": [m.label for m in draw.metric],
}))
"""


def test_an_unreachable_cluster_is_named_on_the_train_page_and_drawing_still_works(tmp_path):
    """In a process of its own: this one's Ray is already up."""
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    env = {
        **os.environ,
        "RAY_ADDRESS": address,
        "MNIST_LAB_RUNS": str(tmp_path / "runs"),
        "MNIST_LAB_MODELS": str(tmp_path / "m"),
    }
    result = subprocess.run([sys.executable, "-c", UNREACHABLE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    message = f"Training is unavailable: the Ray cluster at {address} could not be reached"
    assert [m for m in report["shown"] if m.startswith(message)], report
    assert len([m for m in report["after_train"] if m.startswith(message)]) == 1, report  # named once, not twice
    assert "Not started: training is unavailable (the reason is on this page)." in report["after_train"], report
    assert (
        report["exceptions"] == [] and report["draw"] == ["Prediction"] * FIRST_UPLOAD
    )  # the canvas's and the grid's: no upload
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-queued


def test_an_experiment_from_the_page_queues_a_run_per_value_and_the_board_fills_in(store, idle, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    page = open_page("experiments")
    page.text_input(key="exp_name").set_value("sizes")
    page.selectbox(key="exp_preset").set_value("seed-d")
    page.selectbox(key="exp_variable").set_value("training images")
    run_clean(page)  # the new option fills in its example values
    assert page.text_area(key="exp_values").value == "1000\n10000\n60000"
    page.text_area(key="exp_values").set_value("1000\n2000")
    page.button(key="exp_start").click()
    run_clean(page)
    assert "Queued 2 runs of sizes" in page.success[0].value
    runs = list_runs()
    assert [r.config["experiment"]["value"] for r in runs] == ["1000", "2000"]
    assert [r.config["train_limit"] for r in runs] == [1000, 2000] and [r.config["name"] for r in runs] == [
        "sizes-1000",
        "sizes-2000",
    ]
    wait_for(lambda: all(finished(r.id) for r in runs))
    run_clean(page)
    table = page.dataframe[0].value
    assert table["value"].tolist() == ["1000", "2000"] and table["test accuracy"].notna().all()
    assert table["test accuracy"].iloc[1] > table["test accuracy"].iloc[0] - 0.05  # more images, no worse


def test_queue_places_count_from_the_front_and_estimate_only_from_known_etas():
    from training.engine import Progress

    def run(i, status, eta=None):
        events = [Progress("batch", 1, 2, 50, 100, eta=eta)] if eta is not None else []
        return runs_module.Run(str(i), status, {}, events)

    runs = [
        run(1, "running", eta=30.0),
        run(2, "running"),
        run(3, "done"),
        run(4, "waiting"),
        run(5, "waiting"),
        run(6, "waiting"),
    ]
    # The first waiting run starts when the first running one ends (30 s); the second when the run
    # with no estimate yet ends (unknown); the third after both: unknown.
    assert queue_places(runs) == {"4": (1, 30.0), "5": (2, None), "6": (3, None)}


def test_a_teaching_run_is_queued_like_any_other_and_its_record_says_what_it_did(store, idle, tiny_store, mnist_test):
    import io

    from model_store.drawings import Drawings
    from training.config import PRESETS

    x, y = mnist_test
    assert store.get("tiny").record == tiny_store.get("tiny").record  # one class database: one store
    buffer = io.BytesIO()
    np.savez(buffer, x=x[:60], y=y[:60])
    Drawings().import_npz(buffer.getvalue(), "ada", TEACHER)
    config = TrainConfig(**{**PRESETS["teach"].to_dict(), "teach": "tiny", "name": "taught", "epochs": 1, "train_limit": 2000})
    run_id = submit_run(config, store, Person("ada", "ada"))
    assert files_of(run_id) == [TEACHING]  # a restart can queue it again
    run = wait_for(lambda: finished(run_id), 180)
    assert run.status == "done" and run.model == "taught"
    teach = store.get("taught").record["teach"]
    assert teach["base"] == "tiny" and teach["drawings_taught"] + teach["drawings_held_back"] == 60
    assert teach["held_back_accuracy_after"] is not None and teach["mnist_images"] == 2000


def test_the_board_killed_mid_run_is_rebuilt_the_page_carries_on_and_the_model_is_stored(store, idle, monkeypatch):
    import ray

    run_id = submit_run(TrainConfig(name="survivor", **dict(SMALL, train_limit=12000, epochs=4)), store, Person("x", "x"))
    wait_for(lambda: any(e.phase == "epoch" for e in read_run(run_id).events))
    board = shared_board()
    first = ray.get(board.changes.remote({}))[0]
    ray.kill(board, no_restart=False)  # Ray restarts it, empty
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    open_page("train")  # no exception while it restarts
    run = wait_for(lambda: finished(run_id), 180)
    assert (run.status, run.model) == ("done", "survivor")
    assert store.get("survivor").record["epochs_run"] == 4
    # Each event recorded once. (One the old board held but no app had copied yet, in the half
    # second before the kill, died with it: the record, from the run itself, has every epoch.)
    ended = [e.epoch for e in run.events if e.phase == "epoch"]
    assert ended == sorted(set(ended)) and ended[0] == 1 and ended[-1] == 4, ended
    assert ray.get(board.changes.remote({}))[0] != first  # a new board, told again what the disk holds
    assert ray.get(board.sizes.remote())["results"] == 0  # stored, then dropped


LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1"}


def listening(processes) -> set[str]:
    """The addresses the processes listen on (TCP)."""
    import psutil

    found = set()
    for process in processes:
        try:
            found |= {c.laddr.ip for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        except psutil.NoSuchProcess:
            continue
    return found


def test_the_apps_own_ray_listens_on_loopback_only(store):
    import psutil

    from training.cluster import session_dir, session_processes

    start_sync()
    addresses = listening([*session_processes(session_dir()), psutil.Process()])
    assert addresses and addresses <= LOOPBACK, addresses


def test_the_apps_own_ray_refuses_a_client_without_its_token_even_one_with_rays_default_token_file(store, tmp_path):
    """Another account on this machine can reach 127.0.0.1: without the token it runs nothing as
    the app. Ray's default token file (~/.ray/auth_token) is world-readable as Ray writes it, so it
    must not open the app's Ray; nor may RAY_AUTH_MODE=disabled in the app's environment."""
    import ray

    from training.cluster import session_dir, session_processes, token_refused

    start_sync()
    gcs = ray._private.worker._global_node.gcs_address
    default_file = Path.home() / ".ray" / "auth_token"
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    if not default_file.exists():  # as `ray start` or a plain ray.init() leaves it on a fresh machine
        ray_cli = str(Path(sys.executable).with_name("ray"))  # without the app's token in its environment, or it writes none
        subprocess.run([ray_cli, "get-auth-token", "--generate"], env=base, check=True, capture_output=True)
    ask = "import sys; from training.cluster import token_refused; print(token_refused(sys.argv[1], 5))"
    for given in ({}, {"RAY_AUTH_MODE": "token"}, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "guessed"}):
        said = subprocess.run([sys.executable, "-c", ask, gcs], env=base | given, cwd=PROJECT, capture_output=True, text=True)
        assert said.stdout.strip() == "True", (given, said.stdout, said.stderr[-500:])
    assert not token_refused(gcs, 5)  # the app's own token opens it
    token = os.environ["RAY_AUTH_TOKEN"]
    assert len(token) >= 32 and token not in default_file.read_text()
    for process in session_processes(session_dir()):  # command lines are readable by every account
        assert token not in " ".join(process.cmdline())


def test_old_finished_runs_are_archived_out_of_the_lists(engine):
    from training.__main__ import main

    for run_id, state in [("20200101-000000-000000-aaaa", "done"), ("20200101-000001-000000-bbbb", "waiting")]:
        records().add(run_id, {})
        records().set_status(run_id, {"status": state})
    assert main(["--archive-runs", "30"]) == 0
    assert [r.id for r in list_runs()] == ["20200101-000001-000000-bbbb"]  # an unfinished run stays, however old
    assert records().status_of("20200101-000000-000000-aaaa") == {"status": "done"}  # out of the lists, kept


def test_a_failing_copy_is_shown_and_logged_and_a_dead_engine_thread_is_started_again(monkeypatch, caplog):
    import threading

    def broken():
        raise OSError("No space left on device")

    monkeypatch.setattr(copier, "sync", broken)
    copier.sync_once()
    # The engine thread an earlier test started copies too: a copy of its own under way when the
    # sync was replaced can end after this one and clear what it said, so the test waits for its next.
    wait_for(lambda: "failed (OSError: No space left on device); trying again" in (runs_module.problem() or ""))
    assert "copying the training queue" in caplog.text  # in the server's log, with its traceback
    monkeypatch.setattr(copier, "sync", lambda: None)
    copier.sync_once()
    wait_for(lambda: runs_module.problem() is None)  # said until the next copy succeeds

    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    started = []
    monkeypatch.setattr(copier, "thread", dead)
    monkeypatch.setattr(copier, "death", "RuntimeError: boom")
    monkeypatch.setattr(copier, "engine", lambda: started.append(True))
    runs_module.warm_up()
    copier.thread.join(5)
    assert started == [True]  # started again by the next page run
    assert runs_module.problem() == "The training queue's engine stopped (RuntimeError: boom) and was started again."
    monkeypatch.setattr(copier, "notice", (None, 0.0))


def event(seq: int, epoch: int) -> dict:
    return {"seq": seq, "phase": "batch", "epoch": epoch, "epochs": 3, "batch": 1, "batches": 10}


def test_each_event_is_recorded_once_whichever_app_processes_copy_it(engine):
    """Two app processes copy the same board: each has its own Records; the rows are the database's."""
    from training.records import Records

    first, second = Records(), Records()
    first.add("run-1", {"name": "n"})
    assert first.add_events("run-1", [event(0, 1), event(1, 1)]) == 2
    assert second.add_events("run-1", [event(1, 1), event(2, 2)]) == 1  # seq 1 was there
    assert [e.epoch for e in second.get("run-1").events] == [1, 1, 2]
    assert first.written(["run-1", "run-2"]) == {"run-1": 3, "run-2": 0}
    first.add_events("run-1", [event(3, 3)])
    assert [e.epoch for e in second.get("run-1").events] == [1, 1, 2, 3]  # read on from where it was
    first.add_events("run-1", [event(5, 4)])  # 4 died with a board that was killed before anyone copied it
    assert [e.epoch for e in second.get("run-1").events] == [1, 1, 2, 3, 4]
    assert [e.epoch for e in second.get("run-1").events] == [1, 1, 2, 3, 4]  # read again: nothing twice


def test_a_run_whose_record_cannot_be_read_does_not_stop_the_copying_of_another(engine, caplog):
    import types

    from sqlalchemy import update

    from model_store.database import runs

    for run_id in ("broken", "fine"):
        records().add(run_id, {})
    with records().db.read() as c:
        c.execute(update(runs).where(runs.c.id == "broken").values(status="{not json"))  # damaged by hand
    state = {"version": 1, "status": "running", "events": [event(0, 1)]}
    board = types.SimpleNamespace(checkpoint_of=None, resume_of=None)  # asked nothing: no checkpoint is new
    assert [copier.copied(board, run_id, state) for run_id in ("broken", "fine")] == [False, False]
    assert "copying run broken failed" in caplog.text
    fine = read_run("fine")
    assert (fine.status, [e.epoch for e in fine.events]) == ("running", [1])
