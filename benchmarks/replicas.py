"""Several app processes behind HAProxy on this machine, with sticky sessions, and one Ray for all.

    python -m benchmarks.replicas --replicas 2 [--port 8501] [--address 0.0.0.0] [--database URL]

Streamlit keeps each session in one process, so every request of a browser must reach the process
that holds its session (Streamlit's deployment docs ask for session affinity). HAProxy inserts a
cookie (MNISTLAB=app1) in its first answer and sends that browser's later requests, the websocket
included, to the same process. Not by address: a whole class behind a school's NAT, and every
test client, comes from one address.

The processes share what the class shares. By default that is the disk: the model store, the runs
folder and the class data folder, as the environment names them ($MNIST_LAB_MODELS,
$MNIST_LAB_RUNS, $MNIST_LAB_DATA). With `--database URL` (a school's PostgreSQL) they share only
that database, and each process gets folders of its own, as an app machine of a school would
(docs/deploy.md). All of them get one `server.cookieSecret`. Training goes to one Ray that this
starts first (`ray start --head`) unless $RAY_ADDRESS names a cluster: with a local Ray each, two
processes would run two queues. Ctrl-C or SIGTERM stops everything it started. The load test and
`benchmarks.classroom` use it too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = "/usr/sbin/haproxy"
CONFIG = """global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 2h          # an open websocket: a student's whole lesson
    timeout http-request 10s
frontend classroom
    bind {address}:{port}
    default_backend apps
backend apps
    balance roundrobin
    cookie MNISTLAB insert indirect nocache httponly
    option httpchk GET /_stcore/health
{servers}
"""


@dataclass
class Replicas:
    url: str  # the proxy: what students open
    apps: list[subprocess.Popen]  # the app processes
    ray_address: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


@contextlib.contextmanager
def local_ray(folder: Path) -> Iterator[str]:
    """`ray start --head --block` in a process group of its own, ended with it; its address."""
    port = free_port()
    # Workers kept warm (TensorFlow loaded); on 127.0.0.1 only, as the app's own Ray (training/__init__).
    env = {**os.environ, "RAY_idle_worker_killing_time_threshold_ms": "3600000", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    log = (folder / "ray.log").open("wb")
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--block",
            "--disable-usage-stats",
            "--include-dashboard=false",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Ray did not start: " + (folder / "ray.log").read_text()[-1500:])
            time.sleep(0.3)
        yield address
    finally:
        _stop_group(head, signal.SIGINT, 30)  # --block ends its Ray on Ctrl-C


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, seconds: float = 15) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def replicas(
    count: int,
    port: int = 8501,
    address: str = "127.0.0.1",
    folder: Path | None = None,
    ray: bool = True,
    database: str | None = None,
) -> Iterator[Replicas]:
    """`count` app processes and HAProxy in front of them; stopped on leaving the block. With
    `database`, each process has folders of its own and shares only that database."""
    with contextlib.ExitStack() as stack:
        folder = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replicas-")))
        folder.mkdir(parents=True, exist_ok=True)
        ray_address = os.environ.get("RAY_ADDRESS") or (stack.enter_context(local_ray(folder)) if ray else None)
        env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
        if ray_address:
            env["RAY_ADDRESS"] = ray_address
        if database:
            env["MNIST_LAB_DATABASE"] = database
        # One secret for all: a cookie one process signs, another reads. Streamlit takes it only
        # from the environment or a config file, never from the command line.
        env["STREAMLIT_SERVER_COOKIE_SECRET"] = secrets.token_hex(32)
        apps, servers = [], []
        for n in range(1, count + 1):
            app_port = free_port()
            command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true"]
            command += [f"--server.port={app_port}", "--server.address=127.0.0.1"]
            log = (folder / f"app{n}.log").open("wb")
            app_env = {**env, **machine_folders(folder / f"app{n}")} if database else env
            app = subprocess.Popen(command, cwd=ROOT, env=app_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(_stop_group, app)
            apps.append(app)
            servers.append(f"    server app{n} 127.0.0.1:{app_port} check cookie app{n}")
        for line in servers:
            wait_for(f"http://{line.split()[2]}/_stcore/health")
        config = folder / "haproxy.cfg"
        config.write_text(CONFIG.format(address=address, port=port, servers="\n".join(servers)))
        proxy_log = (folder / "haproxy.log").open("wb")
        proxy = subprocess.Popen(
            [HAPROXY, "-f", str(config), "-db"], stdout=proxy_log, stderr=subprocess.STDOUT, start_new_session=True
        )
        stack.callback(_stop_group, proxy)
        url = f"http://{'127.0.0.1' if address in ('0.0.0.0', '::') else address}:{port}"
        wait_for(f"{url}/_stcore/health", 30)
        yield Replicas(url, apps, ray_address)


def machine_folders(folder: Path) -> dict[str, str]:
    """An app machine's own local folders: its data, its cache of models, its scratch for runs."""
    return {f"MNIST_LAB_{kind.upper()}": str(folder / kind) for kind in ("data", "models", "runs")}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=2, help="app processes (default 2; about one per core)")
    p.add_argument("--port", type=int, default=8501, help="the port students open (default 8501)")
    p.add_argument("--address", default="0.0.0.0", help="where HAProxy listens (default: every address)")
    p.add_argument("--database", help="a class database URL (postgresql://...) the processes share; each gets folders of its own")
    args = p.parse_args(argv)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with replicas(args.replicas, args.port, args.address, database=args.database) as running:
        print(f"{args.replicas} app processes behind HAProxy: {running.url} (Ray at {running.ray_address}); Ctrl-C stops them")
        try:
            while not stop["now"] and all(a.poll() is None for a in running.apps):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print("stopping...")


if __name__ == "__main__":
    main()
