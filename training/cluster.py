"""Ray, where every training run started from the browser goes: the app's own local Ray by
default, or the cluster that RAY_ADDRESS names (Ray's own convention).

    connect()       once per process, on first use: joins or starts Ray; ClusterUnavailable says why not

(The one named actor that every app process and run shares: `training.board.shared_board`.)

A local Ray started here is the app's to clean up. Ray's shutdown at exit leaves some of its
agents running (its dashboard and runtime-env agents outlive a stopped Streamlit server), and
nothing runs at all when the server is killed. So a small guard process watches the app's pid
and, once the app is gone, ends every process of that Ray session: `python -m training.cluster
guard APP_PID SESSION_DIR`. With RAY_ADDRESS the app starts nothing and stops nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

NAMESPACE = "mnist-lab"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # not imported: the guard process stays light
# What a worker gets of the project: its code (Ray packs and ships it, so a worker machine needs
# no copy of its own), not the environment, the stores or the run records.
# (.git and .venv Ray leaves out by itself.)
WORKING_DIR_EXCLUDES = ["models", "runs", "/data", "docs", "tests", "benchmarks", "__pycache__", ".*_cache", "*.log"]

_lock = threading.Lock()
_connected: dict = {}


class ClusterUnavailable(RuntimeError):
    """Ray could not be started or joined; the message says why, in one line."""


def address() -> str | None:
    return os.environ.get("RAY_ADDRESS") or None


def connect(owner: Path | None = None) -> None:
    """Join the cluster RAY_ADDRESS names, or start a local Ray sized to this machine. Once per
    process; later calls return at once (or raise the first failure's reason again).

    `owner`: a lock file that a process starting its own Ray holds for as long as it lives. Two
    app processes sharing one runs folder must share one Ray (one queue, one board); the second
    one to start is refused instead of starting another Ray beside the first.
    """
    with _lock:
        if _connected.get("error"):
            raise ClusterUnavailable(_connected["error"])
        if _connected.get("ok"):  # not any entry: the lock's descriptor is kept here before Ray starts
            return
        if owner is not None and not address() and not _hold(owner):
            _connected["error"] = (
                "Training is unavailable here: another app process on this machine runs the training queue "
                f"of {owner.parent}. To serve a class from several processes, start them with "
                "`python -m benchmarks.replicas` (one Ray for all) or give each the same RAY_ADDRESS."
            )
            raise ClusterUnavailable(_connected["error"])
        # Never a Ray started behind our back: without this, a call after ray.shutdown() (at exit)
        # starts a fresh local Ray that nobody stops.
        os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
        import ray

        try:
            _join_or_start(ray)
        except ClusterUnavailable as err:  # already in a person's words
            _connected["error"] = str(err)
            raise
        except Exception as err:  # a port taken, too little memory, a cluster that is not there
            where = f"the Ray cluster at {address()}" if address() else "a local Ray"
            reason = " ".join(str(err).split())[:300] or type(err).__name__
            _connected["error"] = f"Training is unavailable: {where} could not be reached or started ({reason})."
            raise ClusterUnavailable(_connected["error"]) from None
        _connected["ok"] = True


def _join_or_start(ray) -> None:
    """ray.init: the cluster RAY_ADDRESS names, or a local Ray of the app's own."""
    runtime_env = {
        "working_dir": str(PROJECT_ROOT),
        "excludes": WORKING_DIR_EXCLUDES,
        # Each worker loads TensorFlow and MNIST as it starts, before any run is handed to it:
        # Ray hands a queued run to any idle worker, and a cold one would spend seconds importing.
        "worker_process_setup_hook": "training.worker.warm_worker",
    }
    # Ray's notes (starting, packing the code, its token) stay off the app's terminal; errors do not.
    options = dict(namespace=NAMESPACE, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.ERROR)
    if address():
        reachable(address())  # Ray itself would wait minutes for an address that never answers
        ray.init(address=address(), **options)
        return
    # "local": a Ray of our own, even when another was started on this machine by `ray start`.
    # Idle workers stay (Ray would end those past one per CPU within a second): those
    # Ray starts with it hold TensorFlow and MNIST loaded, ready for the first runs.
    keep_warm = {"idle_worker_killing_time_threshold_ms": 3_600_000}
    _own_token()
    # On 127.0.0.1 only (with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, set in training/__init__).
    ray.init(
        address="local",
        num_cpus=training_cpus(),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _system_config=keep_warm,
        **options,
    )
    _start_guard(session_dir())


def _own_token() -> None:
    """Ray's token authentication for the app's own Ray, with a token of its own that only this
    process and the Ray it starts hold (in their environment, which only this account and root
    can read): whoever else can reach 127.0.0.1 cannot run code as the app. Not Ray's default
    token file (~/.ray/auth_token, world-readable as Ray writes it, and shared by every Ray
    this account starts), and never off (RAY_AUTH_MODE=disabled in the environment)."""
    import secrets

    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    with contextlib.suppress(ImportError):  # Ray reads its mode once; as Ray itself does when it turns the mode on
        from ray._raylet import Config

        Config.initialize("")


def training_cpus() -> int:
    """The CPUs the app's own Ray trains on: all of a machine of one or two (a run trains while
    the web server waits on the network most of the time), all but one of a larger one, left to
    the web server so that drawing stays quick while the class trains."""
    cores = os.cpu_count() or 1
    return cores if cores <= 2 else cores - 1


def reachable(where: str, seconds: float = 5.0) -> None:
    """Raise ConnectionError unless something answers at HOST:PORT, and ClusterUnavailable naming the
    token when that Ray head refuses this machine's token.

    Ray itself retries for 20 s and then says only that it failed to connect; its reason
    (InvalidAuthToken) goes to the log. So one call to the head's GCS, as Ray makes it, asks first.
    """
    host, _, port = where.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=seconds).close()
    except (OSError, ValueError) as err:
        raise ConnectionError(f"nothing answers at {where}: {err}") from None
    if token_refused(f"{host or '127.0.0.1'}:{port}", seconds):
        raise ClusterUnavailable(
            f"Training is unavailable: the Ray cluster at {where} refused this app's token (InvalidAuthToken). "
            "Start the app with RAY_AUTH_MODE=token and copy the head's ~/.ray/auth_token to this machine "
            "(README, 'Training on several machines')."
        )


def token_refused(where: str, seconds: float) -> bool:
    """True when the GCS at `where` answers UNAUTHENTICATED to the token Ray would send (none
    unless RAY_AUTH_MODE=token: then RAY_AUTH_TOKEN, or the file RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token names)."""
    import grpc

    token = None
    if os.environ.get("RAY_AUTH_MODE") == "token":
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        token = os.environ.get("RAY_AUTH_TOKEN") or (path.read_text().strip() if path.is_file() else None)
    with grpc.insecure_channel(where) as channel:
        ask = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId", lambda b: b, lambda b: b)
        try:
            ask(b"", timeout=seconds, metadata=[("authorization", f"Bearer {token}")] if token else None)
        except grpc.RpcError as err:
            return err.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


def _hold(path: Path) -> bool:
    """Take the lock file for this process's life (closed, and so freed, when it ends); False when
    another process holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _connected["owner_fd"] = fd
    return True


def problem() -> str | None:
    """Why Ray is unavailable, once a connection failed; None otherwise."""
    return _connected.get("error")


def session_dir() -> str:
    """The folder of the Ray session this process is connected to (/tmp/ray/session_...)."""
    import ray

    return ray._private.worker._global_node.get_session_dir_path()


# ---------------------------------------------------------------- cleaning up a local Ray


def _start_guard(session_dir: str) -> None:
    command = [sys.executable, "-m", "training.cluster", "guard", str(os.getpid()), session_dir]
    subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def session_processes(session_dir: str) -> list:
    """Every process of one Ray session: those naming the session's folder on their command line
    (its GCS server, raylets and monitors) and everything under them (workers and agents rename
    themselves, "ray::IDLE", and name no folder)."""
    import psutil

    name = Path(session_dir).name
    found = {}
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if process.pid != os.getpid() and any(name in part for part in process.info["cmdline"] or []):
                found[process.pid] = process
                found.update((child.pid, child) for child in process.children(recursive=True) if child.pid != os.getpid())
    return list(found.values())


def end_processes(processes: list) -> None:
    """SIGTERM, five seconds' grace, then SIGKILL."""
    import psutil

    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=5)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def end_session(session_dir: str) -> None:
    end_processes(session_processes(session_dir))


def guard(app_pid: int, session_dir: str) -> None:
    """While the app runs, note every Ray process under it; once it ends, however it ends, end
    them all (psutil checks each is still the process noted, not a new one with a reused pid)."""
    import psutil

    app, ray_processes = psutil.Process(app_pid), {}
    with contextlib.suppress(psutil.NoSuchProcess):
        while app.is_running() and app.status() != psutil.STATUS_ZOMBIE:
            for child in app.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    if child.pid != os.getpid() and "ray" in " ".join(child.cmdline()):
                        ray_processes[child.pid] = child
            time.sleep(1)
    left = [p for p in ray_processes.values() if p.is_running()]
    end_processes(left + [p for p in session_processes(session_dir) if p.pid not in ray_processes])


if __name__ == "__main__":
    if sys.argv[1:2] == ["guard"]:
        guard(int(sys.argv[2]), sys.argv[3])
