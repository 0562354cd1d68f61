"""The gallery: selection, sorting and comparison logic, and the page itself (AppTest)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model_store import ModelStore
from model_store.evaluation import compare, select
from tests.conftest import open_page, run_clean

# Six images: labels and each image's probabilities (argmax is the prediction).
LABELS = np.array([0, 1, 2, 1, 0, 2])
PROBS = np.array(
    [
        [0.9, 0.1, 0.0],  # 0 -> 0 right, 0.9
        [0.6, 0.4, 0.0],  # 1 -> 0 wrong, 0.6
        [0.0, 0.3, 0.7],  # 2 -> 2 right, 0.7
        [0.0, 0.2, 0.8],  # 1 -> 2 wrong, 0.8
        [0.55, 0.45, 0.0],  # 0 -> 0 right, 0.55
        [0.0, 0.95, 0.05],  # 2 -> 1 wrong, 0.95
    ]
)


def test_select_splits_right_and_wrong_most_confident_first():
    assert select(PROBS, LABELS, correct=False).tolist() == [5, 3, 1]
    assert select(PROBS, LABELS, correct=True).tolist() == [0, 2, 4]
    assert select(PROBS, LABELS, correct=False, most_confident_first=False).tolist() == [1, 3, 5]


def test_select_filters_by_true_and_predicted_digit():
    assert select(PROBS, LABELS, correct=False, true=1).tolist() == [3, 1]
    assert select(PROBS, LABELS, correct=False, predicted=0).tolist() == [1]
    assert select(PROBS, LABELS, correct=False, true=2, predicted=1).tolist() == [5]
    assert select(PROBS, LABELS, correct=True, true=1).tolist() == []


def test_compare_two_models_both_ways():
    other = np.eye(3)[[0, 1, 0, 1, 1, 1]]  # right on 0, 1, 3; wrong on 2, 4, 5
    c = compare(PROBS, other, LABELS)
    assert (c.both_right.tolist(), c.only_a.tolist(), c.only_b.tolist(), c.both_wrong.tolist()) == ([0], [2, 4], [1, 3], [5])


def test_on_real_data_the_counts_add_up_to_10000(tiny_store, mnist_test):
    _, y = mnist_test
    bundled = ModelStore().get("lab-default")
    a = ModelStore().test_probabilities(bundled).astype(np.float32)
    b = tiny_store.test_probabilities(tiny_store.get("tiny"))
    assert len(select(a, y, True)) + len(select(a, y, False)) == 10_000
    assert sum(len(select(a, y, False, true=t)) for t in range(10)) == len(select(a, y, False))
    c = compare(a, b, y)
    assert len(c.both_right) + len(c.only_a) + len(c.only_b) + len(c.both_wrong) == 10_000
    assert len(c.only_a) > len(c.only_b)  # the bundled CNN beats a one-epoch dense net


def test_the_occlusion_map_points_at_the_digit(tiny, mnist_test):
    _, _, predictor = tiny
    x, y = mnist_test
    heat = predictor.occlusion(x[0] / 255.0, int(y[0]))
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0)
    inside = x[0] > 0
    assert heat[inside].mean() > heat[~inside].mean()  # hiding ink hurts more than hiding background


@pytest.fixture
def page(tiny_store, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    return open_page("gallery", timeout=120)


def count_shown(at: AppTest) -> int:
    return int(next(c.value for c in at.caption if c.value.endswith(" images")).split()[0].replace(",", ""))


def rerun(at: AppTest) -> float:
    """Seconds one rerun takes: the gallery's redraw time."""
    started = time.perf_counter()
    run_clean(at)
    return time.perf_counter() - started


def test_the_page_shows_the_mistakes_first_and_filters_them(page, mnist_test):
    _, y = mnist_test
    errors = ModelStore().get("lab-default").record["metrics"]["test_errors"]
    assert page.metric[2].value == f"{errors} of 10,000" and count_shown(page) == errors
    page.selectbox(key="gallery_true").set_value(9)
    page.selectbox(key="gallery_pred").set_value(4)
    seconds = rerun(page)
    probs = ModelStore().test_probabilities(ModelStore().get("lab-default"))
    assert count_shown(page) == len(select(probs.astype(np.float32), y, False, true=9, predicted=4))
    page.segmented_control(key="gallery_kind").set_value("Right")
    page.selectbox(key="gallery_true").set_value("any")
    page.selectbox(key="gallery_pred").set_value("any")
    rerun(page)
    assert count_shown(page) == 10_000 - errors
    page.number_input(key="gallery_page").set_value(5)
    seconds = max(seconds, rerun(page))
    print(f"\ngallery redraw after a filter or page change, headless: {seconds * 1000:.0f} ms")


def test_inspecting_a_tile_shows_its_detail(page):
    first = next(b for b in page.button if b.key and b.key.startswith("gallery_inspect_"))
    index = int(first.key.rsplit("_", 1)[1])
    first.click()
    rerun(page)
    assert any(h.value.startswith(f"MNIST test image #{index}:") for h in page.subheader)


def test_why_shows_the_training_images_an_inspected_image_is_most_alike(page):
    first = next(b for b in page.button if b.key and b.key.startswith("gallery_inspect_"))
    first.click()
    rerun(page)
    page.toggle(key="gallery_why").set_value(True)
    rerun(page)
    said = [m.value for m in page.markdown] + [c.value for c in page.caption]
    assert any("The 8 training images it finds most alike" in text for text in said)
    assert any(text.startswith(("All of them are", "1 of them", "2 of them", "3 of them", "4 of them")) for text in said)
    near = [e.proto.imgs for e in page.get("image") if len(e.proto.imgs) == 8]
    assert len(near) == 1 and all(": a " in image.caption and image.caption.startswith("#") for image in near[0])
    assert any(i.caption.startswith("Where it looked for a") for e in page.get("image") for i in e.proto.imgs)


def test_comparing_with_another_model_counts_both_ways(page):
    page.selectbox(key="gallery_other").set_value("tiny")
    rerun(page)
    values = {
        m.label: int(m.value.replace(",", ""))
        for m in page.metric
        if m.label in ("Both right", "Both wrong") or m.label.startswith("Only")
    }
    assert sum(values.values()) == 10_000 and len(values) == 4


def test_the_confusion_counts_are_white_on_the_darkest_cells_and_black_elsewhere():
    from pages.common.charts import confusion_chart

    confusion = np.eye(10, dtype=int) * 100
    confusion[9, 4], confusion[5, 3], confusion[1, 7] = 5, 4, 1  # mistakes: the darkest cell is the 5
    colour = confusion_chart(confusion).to_dict()["layer"][1]["encoding"]["color"]
    assert colour["condition"]["value"] == "white" and colour["value"] == "black"
    assert colour["condition"]["test"].startswith("datum.mistake > ")
    assert 4 <= float(colour["condition"]["test"].split(">")[1]) < 5  # the 5 in white; the 4 and under in black
