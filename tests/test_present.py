"""The presenter view (/present): the class wall and its confusion matrix, headless (AppTest) and
in real Chromium at a projector's 1920x1080."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from model_store.drawings import Drawings
from model_store.wall import class_address, confusion, hardest, qr_code
from tests.browser import ONE, SEVEN, draw, running_app
from tests.conftest import open_page, run_clean


def one_hot(digit: int) -> np.ndarray:
    p = np.full(10, 0.01)
    p[digit] = 0.91
    return p


def test_the_confusion_counts_labels_against_answers_and_the_worst_read_digit_comes_first():
    counts = confusion([5, 5, 5, 5, 1, 1, 1, 7, 7], [5, 3, 3, 5, 1, 1, 1, 7, 1])
    assert counts.sum() == 9 and counts[5, 3] == 2 and counts[5, 5] == 2 and counts[7, 1] == 1
    # 5: 2 of 4 right; 1: 3 of 3; 7: drawn twice, too few to judge.
    assert hardest(counts) == [(5, 0.5, 4), (1, 1.0, 3)]


def test_the_class_address_is_the_servers_name_and_its_qr_code_reads_back_as_it():
    import cv2

    assert class_address("http://localhost:8501/present?embed=true", "lab-pc", 8501) == "http://lab-pc:8501"
    assert class_address("http://192.168.1.5:8502/present", None, 8502) == "http://192.168.1.5:8502"  # as the browser came
    code = qr_code("http://lab-pc:8501", box=4)
    assert set(np.unique(code)) == {0, 255} and code[:16].min() == 255  # a white quiet zone round it
    assert cv2.QRCodeDetector().detectAndDecode(cv2.cvtColor(code, cv2.COLOR_GRAY2BGR))[0] == "http://lab-pc:8501"


@pytest.fixture
def wall_page(tiny_store, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    drawings, blank = Drawings(), np.zeros((28, 28), np.uint8)
    for writer, label, answer in [("ada", 7, 7), ("bo", 5, 3), ("ada", 5, 5), ("cy", 5, 3), ("bo", 5, 5)]:
        drawings.add(blank, label, writer, model="lab-default", probabilities=one_hot(answer))
    return open_page("present")


def test_the_wall_shows_the_newest_drawings_first_with_their_writers_and_marks_the_mistakes(wall_page):
    [images] = [e for e in wall_page.get("image") if len(e.proto.imgs) == 5]
    assert [i.caption for i in images.proto.imgs] == ["bo: 5", "✗ cy: a 5, read 3", "ada: 5", "✗ bo: a 5, read 3", "ada: 7"]
    assert any("Hardest for the model: 5 (50% of 4 read right)" in m.value for m in wall_page.markdown)
    wall_page.toggle(key="present_names").set_value(False)
    run_clean(wall_page)
    [images] = [e for e in wall_page.get("image") if len(e.proto.imgs) == 5]
    assert [i.caption for i in images.proto.imgs][:2] == ["5", "✗ a 5, read 3"]  # names hidden


def test_a_frozen_wall_keeps_what_it_showed_until_it_is_unfrozen(wall_page):
    wall_page.button(key="present_freeze").click()
    run_clean(wall_page)
    Drawings().add(np.zeros((28, 28), np.uint8), 2, "dee", model="lab-default", probabilities=one_hot(2))
    run_clean(wall_page)
    assert not any(len(e.proto.imgs) == 6 for e in wall_page.get("image"))
    wall_page.button(key="present_freeze").click()
    run_clean(wall_page)
    [images] = [e for e in wall_page.get("image") if len(e.proto.imgs) == 6]
    assert images.proto.imgs[0].caption == "dee: 2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("present")) as app:
        yield app


def answer(page) -> str:
    return page.locator(".st-key-present_answer").inner_text().strip()


@pytest.mark.browser
def test_at_1920x1080_the_presenter_answers_a_7_in_huge_type_and_shows_a_drawing_saved_elsewhere_within_2_s(browser, server):
    present = browser.new_page(viewport={"width": 1920, "height": 1080})
    present.goto(f"{server.url}/present")
    present.get_by_text("The class wall").wait_for(timeout=60_000)
    canvas = present.locator("canvas").last
    assert canvas.bounding_box()["width"] == 440
    draw(present, SEVEN, scale=440 / 280)
    present.wait_for_function("() => document.querySelector('.st-key-present_answer').innerText.trim() === '7'", timeout=15_000)
    size, height = present.evaluate(
        "() => { const p = document.querySelector('.st-key-present_answer p');"
        " return [parseFloat(getComputedStyle(p).fontSize), p.getBoundingClientRect().height]; }"
    )
    assert size >= 100 and height >= 100
    # Everything the class looks at is on the screen at once: no scrolling on the projector.
    for part in (canvas, present.locator(".st-key-present_answer"), present.get_by_text("The class wall")):
        box = part.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 1080

    student = browser.new_page(viewport={"width": 1280, "height": 1000})
    student.goto(server.url)
    student.locator("canvas").last.wait_for(timeout=60_000)
    draw(student, ONE)
    student.get_by_role("button", name="Right, it is a 1").click(timeout=15_000)
    drawings = Drawings(server.models.parent / "data" / "drawings.sqlite3")
    shown = present.get_by_text(re.compile(r"^guest-\w+: 1$"))
    saved = seen = None
    deadline = time.monotonic() + 20
    while seen is None and time.monotonic() < deadline:
        if saved is None and drawings.count() == 1:
            saved = time.monotonic()
        if shown.count():
            seen = time.monotonic()
        present.wait_for_timeout(50)
    assert saved is not None and seen is not None and seen - saved <= 2.0, (saved, seen)

    # The QR code on the projector is the class's address, read back from the screen itself.
    import cv2

    qr = present.get_by_test_id("stImage").filter(has=present.get_by_text("Join the class", exact=True))
    shot = cv2.imdecode(np.frombuffer(qr.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert cv2.QRCodeDetector().detectAndDecode(shot)[0] == server.url  # the address this browser came by
    assert present.get_by_text(f"Join the class: {server.url.split('://')[1]}").is_visible()

    # The keyboard: F freezes the wall (a drawing saved meanwhile waits), F again brings it; X clears (C and R are Streamlit's own).
    present.locator("body").press("f")
    present.get_by_role("button", name="Unfreeze the wall (F)").wait_for(timeout=10_000)
    student.wait_for_timeout(500)
    draw(student, SEVEN)
    student.get_by_role("button", name="Right, it is a 7").click(timeout=15_000)
    present.wait_for_timeout(3_000)
    assert present.get_by_text(re.compile(r"^guest-\w+: 7$")).count() == 0
    present.locator("body").press("f")
    present.get_by_text(re.compile(r"^guest-\w+: 7$")).wait_for(timeout=5_000)
    present.screenshot(path="/tmp/present-1920.png")
    present.locator("body").press("x")
    present.wait_for_function("() => document.querySelector('.st-key-present_answer').innerText.trim() === '-'", timeout=10_000)
