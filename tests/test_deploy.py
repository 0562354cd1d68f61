"""The school's deployment files (deploy/, docs/deploy.md) say what the app reads."""

from __future__ import annotations

import subprocess

from benchmarks.replicas import HAPROXY
from tests.conftest import ROOT


def test_the_proxy_config_is_valid_and_sticky_by_cookie():
    checked = subprocess.run([HAPROXY, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "cookie MNISTLAB insert" in config and "timeout tunnel" in config


def test_the_environment_file_names_what_the_app_reads():
    from model_store.database import URL_VARIABLE

    names = {line.split("=")[0] for line in (ROOT / "deploy" / "mnist-lab.env").read_text().splitlines() if "=" in line}
    names = {n.lstrip("# ") for n in names}
    assert {URL_VARIABLE, "STREAMLIT_SERVER_COOKIE_SECRET", "RAY_ADDRESS", "RAY_AUTH_MODE", "MNIST_LAB_MODELS"} <= names
