"""A class drawing through HAProxy on two app processes, driven by the protocol-level generator
(`benchmarks.classroom`): every answer right, no error, both processes serving, sessions sticky.

    LOAD_STUDENTS=60 LOAD_SECONDS=60 python -m pytest tests/test_replicas.py -s

The figures are printed (`-s`); docs/performance.md has them. Speed is never asserted.
"""

from __future__ import annotations

import asyncio
import os
import urllib.request

import psutil
import pytest

from benchmarks.classroom import classroom, report
from benchmarks.replicas import free_port, replicas

pytestmark = pytest.mark.load

STUDENTS = int(os.environ.get("LOAD_STUDENTS", 40))
SECONDS = float(os.environ.get("LOAD_SECONDS", 60))


@pytest.fixture
def two_processes(tmp_path, monkeypatch):
    for name in ("MODELS", "RUNS", "DATA"):
        monkeypatch.setenv(f"MNIST_LAB_{name}", str(tmp_path / name.lower()))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # No Ray: drawing needs none, and no page here starts training.
    with replicas(2, port=free_port(), folder=tmp_path / "replicas", ray=False) as running:
        yield running


def test_a_class_draws_through_the_proxy_on_two_processes_with_every_answer_right(two_processes):
    servers = [psutil.Process(app.pid) for app in two_processes.apps]
    tally, seconds, per_process = asyncio.run(classroom(two_processes.url, STUDENTS, SECONDS, servers))
    result = report(tally, STUDENTS, seconds, per_process)
    assert tally.errors == [] and result["errors"] == 0
    assert tally.digits >= STUDENTS  # every student finished digits, each read right
    assert min(per_process) > 0.25 * sum(per_process), per_process  # both processes served the class


def test_a_browser_stays_with_the_process_that_holds_its_session(two_processes):
    """The proxy's cookie sends each browser back to the same process; new browsers are spread."""
    import http.cookiejar

    seen = []
    for _ in range(4):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(two_processes.url).read()
        sticky = {c.name: c.value for c in jar}["MNISTLAB"]
        for _ in range(3):  # later requests carry the cookie and keep it
            opener.open(f"{two_processes.url}/_stcore/health").read()
            assert {c.name: c.value for c in jar}["MNISTLAB"] == sticky
        seen.append(sticky)
    assert sorted(set(seen)) == ["app1", "app2"]
