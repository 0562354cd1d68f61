"""A school on several machines: two app processes with folders of their own, sharing only one
PostgreSQL (as two app machines of a school would), driven in real Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from model_store.database import Database
from model_store.drawings import Drawings
from tests.browser import ROOT, SEVEN, draw, running_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def school(postgres, tmp_path_factory):
    """Two app processes, each its own models, runs and data folders, one class database."""
    url = postgres.create()
    with (
        running_app(tmp_path_factory.mktemp("a"), MNIST_LAB_DATABASE=url) as a,
        running_app(tmp_path_factory.mktemp("b"), MNIST_LAB_DATABASE=url) as b,
    ):
        yield url, a, b


def test_a_drawing_saved_through_one_machines_draw_page_is_listed_by_the_other(browser, school):
    url, a, b = school
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(a.url)
    page.locator("canvas").last.wait_for(timeout=60_000)
    page.wait_for_selector('[data-testid="stFileUploader"]', timeout=60_000)
    draw(page, SEVEN)
    answer = "() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '7'"
    page.wait_for_function(answer, timeout=15_000)
    page.get_by_role("button", name="Right, it is a 7").click()
    page.get_by_text("1 by the class").wait_for(timeout=15_000)
    assert Drawings(Database(url)).arrays()[2].tolist() == [7]
    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(f"{b.url}/data")
    other.get_by_text("The class's drawings").wait_for(timeout=60_000)
    other.get_by_test_id("stDataFrame").last.wait_for(timeout=30_000)
    assert not other.get_by_text("None yet").count()  # machine b lists machine a's drawing
    assert not (b.models.parent / "data" / "drawings.sqlite3").exists()  # from the database, not a file of b's
    page.close()
    other.close()


def test_a_run_queued_on_one_machine_is_watched_to_its_end_on_the_other_which_reads_its_model(browser, school, mnist_test):
    """Each machine has a Ray of its own here: a trains the run, b watches it from the records and,
    once a has stored the model, lists it and reads a digit with it."""
    url, a, b = school
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(f"{a.url}/train")
    page.get_by_role("textbox", name="Model name").wait_for(timeout=60_000)
    page.get_by_role("spinbutton", name="Epochs").fill("2")
    page.get_by_role("spinbutton", name="Training images").fill("3000")
    page.get_by_role("textbox", name="Model name").fill("school-net")
    page.get_by_role("button", name="Train", exact=True).click()
    other = browser.new_page(viewport={"width": 1280, "height": 1400})
    other.goto(f"{b.url}/train")
    other.get_by_text("school-net", exact=False).first.wait_for(timeout=120_000)  # listed on b
    other.get_by_text("Epoch 2/2, batch", exact=False).wait_for(timeout=240_000)  # its progress, live
    other.get_by_text("Test accuracy").wait_for(timeout=240_000)  # stored by a, shown by b
    other.goto(f"{b.url}/models")
    other.get_by_text("school-net").first.wait_for(state="attached", timeout=60_000)  # a cell of its table
    page.close()
    other.close()
    from PIL import Image

    x, y = mnist_test
    Image.fromarray(x[0]).save(b.models.parent / "digit.png")
    env = {**os.environ, "MNIST_LAB_DATABASE": url, "MNIST_LAB_MODELS": str(b.models)}
    command = [
        sys.executable,
        "-m",
        "model_store",
        "predict",
        "--model",
        "school-net",
        "--json",
        str(b.models.parent / "digit.png"),
    ]
    read = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.splitlines()[-1])["digit"] == int(y[0])
