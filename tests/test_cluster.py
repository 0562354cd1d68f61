"""The queue end to end: the app's own Ray, three browser sessions pressing Train at once, a
cluster of two Ray nodes joined through RAY_ADDRESS, and nothing of Ray left once the app stops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.browser import ROOT, free_port, running_app
from training.cluster import end_session

pytestmark = pytest.mark.browser
TOKEN = {"RAY_AUTH_MODE": "token"}  # the token itself: ~/.ray/auth_token, made by the first Ray started here


def wait_for(condition, seconds: float):
    """The condition's first true value within `seconds`; its last value if none came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    return condition()


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
    return all((models / f"{name}.json").exists() for name in names)


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
        assert wait_for(lambda: stored(app.models, names), 240)
        for page in pages:
            assert page.get_by_text("Not started").count() == 0  # none refused
            page.close()
        records = [json.loads((app.models / f"{name}.json").read_text()) for name in names]
        assert all(r["config"]["epochs"] == 1 and r["metrics"]["test_accuracy"] > 0.8 for r in records)
        ray_processes = [p for p in descendants(app.pid) if "ray" in " ".join(p.cmdline())]
        assert any("raylet" in " ".join(p.cmdline()) for p in ray_processes)
    # running_app stopped the server with SIGTERM, as a person does with Ctrl-C or systemd.
    assert wait_for(lambda: not alive(ray_processes), 30), [" ".join(p.cmdline())[:200] for p in alive(ray_processes)]


@pytest.fixture
def two_nodes():
    """A Ray cluster of two nodes on this machine, one CPU each: `ray start --head`, then a second
    `ray start --address=...`. Yields the address; ends both afterwards."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    temp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = free_port()
    common = ["--num-cpus=1", f"--temp-dir={temp}", "--disable-usage-stats"]
    env = {**os.environ, **TOKEN}  # as the README's recipe: token authentication on every node
    if not (Path.home() / ".ray" / "auth_token").exists():  # never replace one a running Ray uses
        subprocess.run([ray_cli, "get-auth-token", "--generate"], check=True, capture_output=True, env=env)
    head = [ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", *common]
    subprocess.run(head, check=True, capture_output=True, env=env)
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([ray_cli, "start", f"--address={address}", *common], check=True, capture_output=True, env=env)
        yield address
    finally:
        for session in Path(temp).glob("session_2*"):
            end_session(str(session))
        shutil.rmtree(temp, ignore_errors=True)


def test_the_app_joins_a_two_node_cluster_through_ray_address_and_runs_go_to_both(browser, tmp_path, two_nodes):
    names = ["node-a", "node-b"]
    with running_app(tmp_path, RAY_ADDRESS=two_nodes, **TOKEN) as app:
        pages = [train_page(browser, app.url, name) for name in names]
        for page in pages:
            page.get_by_role("spinbutton", name="Epochs").fill("3")  # long enough to overlap
            page.get_by_role("button", name="Train", exact=True).click()
        assert wait_for(lambda: stored(app.models, names), 300)
        runs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/status.json")]
        assert {r["status"] for r in runs} == {"done"}
        # Each ran on its own node: one CPU each, and both wanted one at the same time.
        assert len({r["node"] for r in runs}) == 2
        for page in pages:
            page.close()
        started_here = [p for p in descendants(app.pid) if "raylet" in " ".join(p.cmdline())]
        assert started_here == []  # joined the cluster: started no Ray of its own


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
