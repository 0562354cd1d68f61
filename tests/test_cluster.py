"""The queue end to end: the app's own Ray, three browser sessions pressing Train at once, a
cluster of two Ray nodes joined through RAY_ADDRESS, and nothing of Ray left once the app stops."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from model_store import ModelStore
from tests.browser import ROOT, free_port, running_app
from tests.waiting import wait_for
from training.cluster import end_session, session_processes
from training.runs import list_runs, read_run

pytestmark = pytest.mark.browser
TOKEN = {"RAY_AUTH_MODE": "token"}  # the token itself: ~/.ray/auth_token, made by the first Ray started here


def train_page(browser, url: str, name: str):
    """A student's tab on the Train page with a short recipe filled in, ready to press Train."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(f"{url}/train")
    page.get_by_role("textbox", name="Model name").wait_for(timeout=60_000)
    page.get_by_role("spinbutton", name="Epochs").fill("1")
    page.get_by_role("spinbutton", name="Training images").fill("3000")
    page.get_by_role("textbox", name="Model name").fill(name)
    return page


def stored(models: Path, names: list[str]) -> bool:
    """Every one of `names` is in the app's store (its class database is this test's)."""
    return set(names) <= {m.name for m in ModelStore(models, bundled_dir=None).list()}


def record_of(models: Path, name: str) -> dict:
    return ModelStore(models, bundled_dir=None).get(name).record


def alive(processes: list) -> list:
    import psutil

    def running(p) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [p for p in processes if running(p)]


def descendants(pid: int) -> list:
    import psutil
    import ray  # noqa: F401  (its bundled psutil)

    return psutil.Process(pid).children(recursive=True)


def test_three_sessions_press_train_at_once_all_are_stored_and_no_ray_process_outlives_the_app(browser, tmp_path):
    names = ["ada-cnn", "bob-cnn", "cy-cnn"]
    with running_app(tmp_path) as app:
        pages = [train_page(browser, app.url, name) for name in names]
        for page in pages:  # as near to at once as three people manage
            page.get_by_role("button", name="Train", exact=True).click()
        wait_for(lambda: stored(app.models, names), 240)
        for page in pages:
            assert page.get_by_text("Not started").count() == 0  # none refused
            page.close()
        records = [record_of(app.models, name) for name in names]
        assert all(r["config"]["epochs"] == 1 and r["metrics"]["test_accuracy"] > 0.8 for r in records)
        ray_processes = [p for p in descendants(app.pid) if "ray" in " ".join(p.cmdline())]
        assert any("raylet" in " ".join(p.cmdline()) for p in ray_processes)
    # running_app stopped the server with SIGTERM, as a person does with Ctrl-C or systemd.
    wait_for(lambda: not alive(ray_processes), 30, why=lambda: str([" ".join(p.cmdline())[:200] for p in alive(ray_processes)]))


LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # as training/__init__ sets for the app's own Ray


@pytest.fixture(scope="module")
def two_nodes():
    """A Ray cluster of two nodes on this machine, one CPU each, on 127.0.0.1 only, made as Ray's own
    tests make one (`ray.cluster_utils.Cluster`: `ray start --address` refuses to add a second node
    to a loopback-only head). Ends both afterwards."""
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in LOOPBACK_ONLY}
    os.environ.update(LOOPBACK_ONLY)  # its processes inherit this process's environment
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    try:
        cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        cluster.add_node(**node)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    try:
        yield cluster
    finally:
        cluster.shutdown()


def test_the_test_clusters_listen_on_loopback_only_and_a_refused_token_is_named(two_nodes, monkeypatch):
    """A head started as the README says (`ray start --head`, token authentication), on 127.0.0.1."""
    from tests.test_runs import LOOPBACK, listening
    from training import cluster

    addresses = listening(session_processes(two_nodes.head_node.get_session_dir_path()))
    assert addresses and addresses <= LOOPBACK, addresses
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    temp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    env = {**os.environ, **TOKEN, **LOOPBACK_ONLY}
    if not (Path.home() / ".ray" / "auth_token").exists():  # never replace one a running Ray uses
        subprocess.run([ray_cli, "get-auth-token", "--generate"], check=True, capture_output=True, env=env)
    port = free_port()
    head = [ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", f"--temp-dir={temp}"]
    subprocess.run([*head, "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True, env=env)
    try:
        (session,) = temp.glob("session_2*")
        addresses = listening(session_processes(str(session)))
        assert addresses and addresses <= LOOPBACK, addresses
        monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # an app started without the README's export
        refused = r"refused this app's token \(InvalidAuthToken\). Start the app with RAY_AUTH_MODE=token"
        with pytest.raises(cluster.ClusterUnavailable, match=refused):
            cluster.reachable(f"127.0.0.1:{port}")
        monkeypatch.setenv("RAY_AUTH_MODE", "token")
        cluster.reachable(f"127.0.0.1:{port}")  # with the token: no complaint
    finally:
        for session in temp.glob("session_2*"):
            end_session(str(session))
        shutil.rmtree(temp, ignore_errors=True)


def test_the_app_joins_a_two_node_cluster_through_ray_address_and_runs_go_to_both(browser, tmp_path, two_nodes):
    names = ["node-a", "node-b"]
    with running_app(tmp_path, RAY_ADDRESS=two_nodes.address) as app:
        pages = [train_page(browser, app.url, name) for name in names]
        for page in pages:
            page.get_by_role("spinbutton", name="Epochs").fill("3")  # long enough to overlap
            page.get_by_role("button", name="Train", exact=True).click()
        wait_for(lambda: stored(app.models, names), 300)
        runs = list_runs()  # as the app recorded them in its class database, this test's
        assert [r.status for r in runs] == ["done", "done"]
        # Each ran on its own node: one CPU each, and both wanted one at the same time.
        assert len({r.node for r in runs}) == 2
        for page in pages:
            page.close()
        started_here = [p for p in descendants(app.pid) if "raylet" in " ".join(p.cmdline())]
        assert started_here == []  # joined the cluster: started no Ray of its own


KILLED_APP = """
import os, signal, sys, time
from model_store import ModelStore
from model_store.roles import Person
from training.config import TrainConfig
from training.runs import read_run, submit_run

config = TrainConfig(name="phoenix", arch="dense-128", train_limit=12000, batch_size=32, validation="split", epochs=4)
run_id = submit_run(config, ModelStore(), Person("x", "x"))
while not any(e.phase == "epoch" for e in read_run(run_id).events):
    time.sleep(0.1)
print(run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_app_killed_mid_run_on_a_cluster_comes_back_and_stores_the_run_with_all_its_epochs(browser, tmp_path, two_nodes):
    """The run is a detached actor in the cluster: it trains on while the app is dead, and the app
    started again (once anyone opens it) copies its progress and stores its model."""
    env = {
        **os.environ,
        "RAY_ADDRESS": two_nodes.address,
        "MNIST_LAB_MODELS": str(tmp_path / "models"),
        "MNIST_LAB_RUNS": str(tmp_path / "runs"),
        "MNIST_LAB_DATA": str(tmp_path / "data"),
    }
    done = subprocess.run([sys.executable, "-c", KILLED_APP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    run_id = done.stdout.split()[-1]
    with running_app(tmp_path, RAY_ADDRESS=two_nodes.address) as app:
        page = browser.new_page()
        page.goto(app.url)  # someone opens the Draw page: nobody presses anything
        wait_for(lambda: stored(app.models, ["phoenix"]), 240)
        page.close()
    record = record_of(app.models, "phoenix")
    assert record["epochs_run"] == 4 and len(record["history"]["val_accuracy"]) == 4
    assert [e.epoch for e in read_run(run_id).events if e.phase == "epoch"] == [1, 2, 3, 4]  # each once


def test_a_second_app_process_on_the_same_runs_folder_starts_no_ray_of_its_own(tmp_path):
    """Two processes serving one class share one queue: the second is told how, not given a second Ray."""
    import fcntl

    lock = tmp_path / "runs" / ".local-ray.lock"
    lock.parent.mkdir()
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held, as the first app process holds it
    code = (
        "from pathlib import Path\nfrom training import cluster\n"
        f"try:\n    cluster.connect(owner=Path({str(lock)!r}))\nexcept cluster.ClusterUnavailable as err:\n    print(err)\n"
        "print('ray' in __import__('sys').modules and __import__('ray').is_initialized())"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    os.close(fd)
    assert "another app process on this machine runs the training queue" in done.stdout, done.stderr
    assert "python -m benchmarks.replicas" in done.stdout and done.stdout.strip().endswith("False")  # no Ray started


def test_the_apps_own_ray_leaves_the_web_server_a_core_on_a_machine_of_more_than_two(monkeypatch):
    from training import cluster

    cores = {}
    for count in (1, 2, 4, 8):
        monkeypatch.setattr(cluster.os, "cpu_count", lambda count=count: count)
        cores[count] = cluster.training_cpus()
    assert cores == {1: 1, 2: 2, 4: 3, 8: 7}
