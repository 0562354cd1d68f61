"""The Draw page's states, headless (AppTest): blank, a digit, unsure, bad uploads."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model_store import ModelStore
from model_store.database import models
from tests.browser import FIRST_UPLOAD
from tests.conftest import (
    animated_gif,
    cmyk_jpeg,
    digit_on_canvas,
    image_file,
    open_page,
    run_clean,
    sixteen_bit_png,
    transparent_png,
)
from tests.people import TEACHER


@pytest.fixture
def page(tiny_store, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    return open_page("draw")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="draw_upload").set_value([(name, data, "image/png") for name, data in files])
    return run_clean(at)


def test_a_blank_canvas_shows_a_dash_and_an_invitation_not_a_guess(page):
    assert [(m.label, m.value) for m in page.metric] == [("Prediction", "-")] * FIRST_UPLOAD  # the canvas, the grid
    assert "Draw a digit" in page.info[0].value
    assert not page.warning


def test_the_bundled_model_is_offered_first_and_is_the_default(page):
    picker = page.selectbox(key="draw_model")
    assert picker.options[0].startswith("lab-default") and picker.value == "lab-default"
    assert any(o.startswith("tiny") for o in picker.options)


def test_an_uploaded_digit_is_read_with_its_probabilities(page, mnist_test):
    x, y = mnist_test
    upload(page, ("seven.png", image_file(digit_on_canvas(x[0], dark_on_light=True))))
    assert y[0] == 7
    answer = page.metric[FIRST_UPLOAD]
    assert answer.label == "Prediction" and answer.value == "7"
    assert "Confidence" in page.get("progress")[0].proto.text
    assert not page.error


def test_why_on_an_upload_shows_the_training_images_it_is_most_alike_and_its_place_on_the_map(page, mnist_test):
    x, _ = mnist_test
    upload(page, ("seven.png", image_file(digit_on_canvas(x[0], dark_on_light=True))))
    page.toggle(key="draw_why_upload_0").set_value(True)
    run_clean(page)  # the bundled model, whose map ships with it
    near = [e.proto.imgs for e in page.get("image") if len(e.proto.imgs) == 8]
    assert len(near) == 1 and sum(": a 7" in image.caption for image in near[0]) >= 6
    assert any(m.value.startswith("**Where it lands among MNIST's test images**") for m in page.markdown)


def test_an_ambiguous_image_gets_an_unsure_notice_naming_two_digits(page, mnist_test):
    x, _ = mnist_test
    blend = np.maximum(digit_on_canvas(x[0]), digit_on_canvas(x[1])).astype(np.uint8)  # a 7 over a 2
    upload(page, ("blend.png", image_file(blend)))
    warning = page.warning[0].value
    assert warning.startswith("Not sure: it could be a ") and " or a " in warning


def test_an_uploaded_star_does_not_look_like_a_digit(page):
    from tests.browser import STAR

    star = cv2.polylines(np.zeros((280, 280), np.uint8), [np.array(STAR[0], np.int32)], False, 255, 22, cv2.LINE_AA)
    upload(page, ("star.png", image_file(star)))
    assert page.warning[0].value.startswith("That doesn't look like a digit (")
    assert page.metric[-1].value == "Not a digit"  # the upload's answer, after the canvas's
    # Nothing to agree with: "Right" is off, and a real digit turned away can still be labelled.
    assert page.button(key="draw_keep_upload_0_right").disabled
    assert page.button_group(key="draw_keep_upload_0_label").options == [str(d) for d in range(10)]


def test_bad_files_get_their_own_error_and_the_good_ones_still_work(page, mnist_test):
    """Every bad file of the reliability list, uploaded at once with good ones in odd formats."""
    x, y = mnist_test
    dot = cv2.circle(np.zeros((280, 280), np.uint8), (140, 140), 10, 255, -1)
    upload(
        page,
        ("notes.png", b"this is a text file with a .png name"),
        ("paper.png", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj"),
        ("empty.png", b""),
        ("bomb.png", image_file(np.zeros((10_000, 10_000), bool))),  # 100 megapixels in a few kB
        ("strip.png", image_file(np.full((1, 10_000), 255, np.uint8))),
        ("good.png", image_file(digit_on_canvas(x[1], dark_on_light=True))),
        ("deep.png", sixteen_bit_png(digit_on_canvas(x[0]))),
        ("print.jpg", cmyk_jpeg(digit_on_canvas(x[2]))),
        ("clear.png", transparent_png(digit_on_canvas(x[3]))),
        ("moving.gif", animated_gif(digit_on_canvas(x[4]), digit_on_canvas(x[5]))),
        ("blank.png", image_file(np.full((100, 100), 255, np.uint8))),
        ("dot.png", image_file(dot)),
    )
    assert [e.value for e in page.error] == [
        "notes.png: not an image we can read (PNG, JPEG, BMP, WebP or GIF expected)",
        "paper.png: not an image we can read (PNG, JPEG, BMP, WebP or GIF expected)",
        "empty.png: the file is empty",
        "bomb.png: the image is 10000x10000 pixels; the limit is 64 megapixels",
        "strip.png: the image is 10000x1 pixels, too small or thin to hold a digit",
    ]
    read = [m.value for m in page.metric[FIRST_UPLOAD:]]
    assert read == [str(d) for d in y[[1, 0, 2, 3, 4]]]  # good, 16-bit, CMYK, transparent, the GIF's first frame
    assert [w.value for w in page.warning] == [
        "blank.png: no ink found (the image is one even shade)",
        "dot.png: just a dot or a blob, not a digit",
    ]


def test_a_corrupted_model_is_left_out_and_the_page_falls_back_to_the_default(tiny_store, tmp_path, monkeypatch, mnist_test):
    root = tmp_path / "models"
    shutil.copytree(tiny_store.root, root)
    store = ModelStore(root)
    store.save(store.load("tiny")[0], {**store.get("tiny").record, "name": "spare"})
    store.set_default("tiny", TEACHER)
    monkeypatch.setenv("MNIST_LAB_MODELS", str(root))
    at = open_page("draw")
    assert at.selectbox(key="draw_model").value == "tiny"
    with store.db.write() as c:  # its record damaged in the class database, the page still open
        c.execute(models.update().where(models.c.name == "tiny").values(record="{ half a record", saved="now"))

    run_clean(at)
    picker = at.selectbox(key="draw_model")
    assert picker.value == "lab-default" and [o.split(" ")[0] for o in picker.options] == ["lab-default", "spare"]
    assert any("Not offered, broken: tiny." in c.value for c in at.caption), [c.value for c in at.caption] + [
        e.value for e in at.exception
    ]
    x, y = mnist_test
    for name in ("lab-default", "spare"):  # every other model still reads digits
        at.selectbox(key="draw_model").set_value(name)
        upload(at, ("digit.png", image_file(digit_on_canvas(x[0], dark_on_light=True))))
        assert at.metric[FIRST_UPLOAD].value == str(y[0]), name
    assert open_page("draw").selectbox(key="draw_model").value == "lab-default"  # a new visitor too


def test_the_answer_a_screen_reader_hears_is_the_one_the_page_shows():
    from model_store import Prediction
    from pages.common.announce import answer_text

    def reading(*p: float, not_digit: float = 0.0) -> Prediction:
        probabilities = np.array(p + (0.0,) * (10 - len(p)), np.float32)
        return Prediction(int(probabilities.argmax()), float(probabilities.max()), probabilities, None, None, not_digit)

    assert answer_text(Prediction(None, 0.0, None, None, "a speck")) == "Nothing to read: a speck"
    assert answer_text(reading(0.02, 0.9, 0.08), unsure_below=0.79) == "Prediction: 1, 90% sure"
    # Under the model's threshold the page warns "Not sure": the sentence says so, and names the runner-up.
    assert answer_text(reading(0.0, 0.2, 0.5, 0.3), unsure_below=0.79) == "Prediction: 2, 50% sure; not sure, it could be a 3"
    assert answer_text(reading(0.0, 0.9, not_digit=0.8)) == "Not a digit, 80% sure"


def test_the_model_is_traced_as_the_page_opens_not_at_the_first_stroke(page):
    """The model function's trace (0.2 s) and the preparing's first calls are done when the
    predictor loads: the page has only a blank canvas, and the model has already read a drawing."""
    from pages.common import predictor_of

    predictor = predictor_of(ModelStore().get("lab-default"))  # the page's own, from the cache
    assert predictor._forward.experimental_get_tracing_count() == 1


def test_before_a_digit_the_toggles_show_switched_off_and_disabled(page):
    """A first stroke that added them made the browser fetch their code and lay the page out again."""
    shown = [(t.key, t.value, t.disabled) for t in page.toggle]
    assert shown == [("draw_why", False, True), ("draw_inside", False, True), ("draw_compare", False, True)]  # two models
