"""Background jobs on a model (calibrating it, building its map): one a model at a time, in one
small pool, started only by the model's owner or the teacher."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time

import pytest

from model_store import ModelStore
from model_store.jobs import Busy, job_of, start
from model_store.roles import NotAllowed
from tests.conftest import open_page, run_clean
from tests.people import STUDENT, TEACHER
from tests.waiting import wait_for


def test_a_student_cannot_start_a_job_on_anothers_model_and_a_second_job_for_a_model_is_not_started(tiny_store):
    theirs = tiny_store.get("tiny")  # made at the command line: nobody's but the teacher's
    ran: list[str] = []
    with pytest.raises(NotAllowed, match=r"Only the teacher may calibrate another person's model or build its map \(tiny\)"):
        start("calibration", theirs, STUDENT, lambda note: ran.append("the student's"))
    release = threading.Event()

    def slow(note) -> None:
        ran.append("first")
        release.wait(30)

    first = start("calibration", theirs, TEACHER, slow)
    try:
        wait_for(first.future.running, every=0.02)
        assert start("calibration", theirs, TEACHER, lambda note: ran.append("second")) is first  # pressed again
        with pytest.raises(Busy, match="tiny is busy with its calibration: try again once it is done"):
            start("map", theirs, TEACHER, lambda note: ran.append("map"))
        owner = {"name": STUDENT.name, "browser": STUDENT.session}
        mine = dataclasses.replace(theirs, name="mine", record={**theirs.record, "owner": owner})
        hers = start("calibration", mine, STUDENT, lambda note: ran.append("hers"))  # her own model: allowed...
        time.sleep(0.2)
        assert hers.waiting and ran == ["first"]  # ...but it waits: the pool runs one job at a time
    finally:
        release.set()
    wait_for(lambda: first.done and hers.done, every=0.02)
    assert ran == ["first", "hers"] and first.error is None
    assert job_of("tiny", "calibration") is first and job_of("tiny", "map") is None


def test_on_the_models_page_a_student_cannot_calibrate_anothers_model(tiny_store, tmp_path, monkeypatch):
    shutil.copytree(tiny_store.root, tmp_path / "models")
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr("training.calibration.CHECK_IMAGES", 60)  # a quick fit: the page's flow, not the numbers
    store = ModelStore(tmp_path / "models")
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "a-long-password")  # a class: this browser is a student's
    before = job_of("tiny", "calibration")  # jobs are the app process's: an earlier test's may be there
    at = open_page("models")
    at.selectbox(key="models_pick").set_value("tiny")
    run_clean(at)
    assert at.button(key="models_calibrate").disabled
    assert any(c.value.endswith("Only its owner or the teacher may calibrate it.") for c in at.caption)
    assert store.get("tiny").calibration is None  # a forged press is refused where the job starts (above)
    assert job_of("tiny", "calibration") is before
