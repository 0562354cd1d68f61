"""The Models and Data pages, headless (AppTest)."""

from __future__ import annotations

import shutil

import keras
import pytest
from streamlit.testing.v1 import AppTest

from model_store import ModelStore
from model_store.jobs import job_of
from tests.conftest import open_page, run_clean


@pytest.fixture
def own_store(tiny_store, tmp_path, monkeypatch) -> ModelStore:
    """A private copy of the store holding 'tiny', so a test may rename and delete."""
    root = tmp_path / "models"
    shutil.copytree(tiny_store.root, root)
    monkeypatch.setenv("MNIST_LAB_MODELS", str(root))
    return ModelStore(root)


def test_the_table_lists_every_model_and_the_default_is_shown_first(own_store):
    at = open_page("models")
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["lab-default", "tiny"] and table["default"].tolist() == [True, False]
    assert at.selectbox(key="models_pick").value == "lab-default"
    assert at.metric[0].label == "Test accuracy" and at.metric[0].value.endswith("%")
    assert any("cannot be renamed or deleted" in c.value for c in at.caption)  # the bundled model


def test_the_bundled_models_calibration_is_shown_and_another_model_can_be_calibrated(own_store, monkeypatch):
    at = open_page("models")
    ece = at.dataframe[2].value  # the overview, the summary, then the calibration
    assert ece["images"].tolist() == ["MNIST test", "canvas", "printed", "scans", "strokes"]
    assert all(float(a[:-1]) < float(b[:-1]) for a, b in zip(ece["ECE after"], ece["ECE before"]))
    # The bundled model says "not a digit": how often, of non-digits and of each set's real digits.
    turned_away = dict(zip(ece["images"], (float(v[:-1]) for v in ece["called not a digit"])))
    assert max(turned_away[s] for s in ("MNIST test", "canvas", "printed", "scans")) <= 1.0 and turned_away["strokes"] <= 3.0
    turned = {m.label: m.value for m in at.metric}
    assert (
        float(turned["Non-digits it turns away"][:-1]) >= 90 and float(turned["MNIST test digits it calls not a digit"][:-1]) <= 1
    )
    said = own_store.get("lab-default").calibration  # as sure as the pages say it, not as trained
    assert turned["MNIST test digits it calls not a digit"] == f"{said['test_not_a_digit']:.2%}"
    assert turned["Non-digits it turns away"] == f"{said['non_digits_rejected']:.1%}"
    assert any(c.value.startswith("Calibrated on held-out images") for c in at.caption)
    monkeypatch.setattr("training.calibration.CHECK_IMAGES", 60)  # a quick fit: the page's flow, not the numbers
    at.selectbox(key="models_pick").set_value("tiny")
    run_clean(at)
    assert any(c.value.startswith("Not calibrated yet") for c in at.caption)
    assert any(c.value.startswith("No: it answers every drawing with a digit") for c in at.caption)
    at.button(key="models_calibrate").click()
    run_clean(at)
    assert any(i.value.startswith("Calibrating tiny in the background") for i in at.info)  # the page goes on meanwhile
    job = job_of("tiny", "calibration")
    job.future.result(timeout=120)
    run_clean(at)
    calibration = own_store.get("tiny").calibration
    assert (
        calibration
        and calibration["temperature"] > 0
        and set(calibration["sets"]) == {"MNIST test", "canvas", "printed", "scans", "strokes"}
    )
    assert any(c.value.startswith("Calibrated on held-out images") for c in at.caption)


def test_make_default_then_rename_then_delete(own_store):
    at = open_page("models")
    at.selectbox(key="models_pick").set_value("tiny")
    run_clean(at).button(key="models_make_default").click()
    run_clean(at)
    assert own_store.default().name == "tiny"
    at.text_input(key="models_new_name").set_value("tiny-renamed")
    at.button[[b.label for b in at.button].index("Rename")].click()
    run_clean(at)
    assert [m.name for m in own_store.list()] == ["lab-default", "tiny-renamed"] and own_store.default().name == "tiny-renamed"
    assert at.selectbox(key="models_pick").value == "tiny-renamed"
    assert at.button(key="models_delete").disabled  # not before the confirmation
    at.checkbox(key="models_sure").check()
    run_clean(at).button(key="models_delete").click()
    run_clean(at)
    assert [m.name for m in own_store.list()] == ["lab-default"]


def test_a_rename_to_a_name_that_escapes_the_store_is_refused(own_store):
    at = open_page("models")
    at.selectbox(key="models_pick").set_value("tiny")
    run_clean(at).text_input(key="models_new_name").set_value("../../etc/evil")
    at.button[[b.label for b in at.button].index("Rename")].click()
    run_clean(at)
    assert "invalid model name" in at.error[0].value
    assert [m.name for m in own_store.list()] == ["lab-default", "tiny"]


def test_a_broken_entry_is_marked_and_can_be_deleted(own_store):
    from model_store.database import models

    with own_store.db.write() as c:  # a record half written by some other program
        c.execute(models.insert().values(name="garbled", record="{ half a record", saved="then"))
    at = open_page("models")
    table = at.dataframe[0].value
    assert table.set_index("name").loc["garbled", "status"].startswith("broken")
    at.selectbox(key="models_pick").set_value("garbled")
    run_clean(at)
    assert at.error[0].value.startswith("garbled is broken")
    at.button(key="models_delete_broken").click()
    run_clean(at)
    assert "garbled" not in [m.name for m in own_store.list()]


def upload_model(at: AppTest, data: bytes, name: str) -> AppTest:
    at.file_uploader(key="models_file").set_value(("model.keras", data, "application/zip"))
    at.text_input(key="models_upload_name").set_value(name)
    at.button[[b.label for b in at.button].index("Add the model")].click()
    return run_clean(at)


def test_uploading_a_model_checks_it_and_adds_it(own_store, tmp_path):
    good = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    wrong = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    for model, path in ((good, tmp_path / "good.keras"), (wrong, tmp_path / "wrong.keras")):
        model.save(path)
    at = upload_model(open_page("models"), (tmp_path / "wrong.keras").read_bytes(), "wrong")
    assert "must take one 28x28 image" in at.error[0].value
    at = upload_model(at, (tmp_path / "good.keras").read_bytes(), "uploaded-one")
    assert at.success[0].value.startswith("Added uploaded-one")
    assert own_store.get("uploaded-one").record["architecture"] == "uploaded"


def test_the_data_page_shows_samples_pixels_counts_normalisation_and_preparation(own_store):
    at = open_page("data")
    assert [h.value for h in at.subheader] == [
        "Random samples",
        "One digit's raw pixels",
        "How many of each digit, and the average one",
        "What normalisation does",
        "What the preparation pipeline does",
        "The class's drawings",
    ]
    matrix = at.dataframe[0].value
    assert matrix.shape == (28, 28) and int(matrix.values.max()) == 255
    at.number_input(key="data_index").set_value(7)
    assert int(run_clean(at).dataframe[0].value.values.sum()) > 0
    assert at.select_slider(key="data_grid").value == 3
    at.select_slider(key="data_grid").set_value(5)
    run_clean(at).button(key="data_reshuffle").click()
    run_clean(at)
    assert not at.warning  # the example image is read
