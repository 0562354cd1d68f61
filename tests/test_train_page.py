"""The Train page's form, headless (AppTest): presets fill it, bad values are refused by name.
(Queueing a run from the form: tests/test_runs.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_page, run_clean
from training.runs import list_runs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    return open_page("train")


def submit(at: AppTest) -> AppTest:
    at.button[[b.label for b in at.button].index("Train")].click()
    return run_clean(at)


def test_a_preset_fills_the_whole_form(page):
    assert page.selectbox(key="train_preset").value == "quick"  # the class's recipe comes first
    assert page.selectbox(key="train_arch").value == "cnn-fast" and page.number_input(key="train_epochs").value == 2
    page.selectbox(key="train_preset").set_value("seed-c").run()
    assert page.selectbox(key="train_arch").value == "cnn-small" and page.number_input(key="train_validation_split").value == 0.3
    page.selectbox(key="train_preset").set_value("seed-a").run()
    assert page.selectbox(key="train_arch").value == "dense-128-128"
    assert page.selectbox(key="train_normalization").value == "l2" and page.selectbox(key="train_loss").value == "sparse"
    assert page.number_input(key="train_epochs").value == 3
    assert "No run yet" in page.info[0].value


@pytest.mark.parametrize(
    "key, widget, value, named",
    [
        ("train_learning_rate", "number_input", 0.0, "learning rate"),
        ("train_validation_split", "number_input", 1.0, "validation split"),
        ("train_batch_size", "number_input", 60000, "batch size"),
        ("train_name", "text_input", "../escape", "invalid model name"),
    ],
)
def test_bad_values_are_refused_at_the_form_naming_the_field(page, key, widget, value, named):
    page.radio(key="train_validation").set_value("split")  # the quick recipe holds nothing back
    getattr(page, widget)(key=key).set_value(value)
    submit(page)
    assert page.error[0].value.startswith("Not started") and named in page.error[0].value
    assert list_runs() == []


def test_a_students_run_over_a_class_limit_is_refused_at_the_form_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "a-long-password")  # a class: this browser is a student's
    page = open_page("train")
    page.number_input(key="train_epochs").set_value(25)
    submit(page)
    said = page.error[0].value
    assert said.startswith("Not started") and "the class limit is 20 epochs for a student run (this one asks for 25)" in said
    page.number_input(key="train_epochs").set_value(2)
    page.number_input(key="train_batch_size").set_value(4)
    submit(page)
    assert "the class limit is a batch of at least 8 (this one asks for 4)" in page.error[0].value
    assert list_runs() == []  # refused before anything was queued


def test_a_students_hundred_million_parameter_network_is_refused_at_the_form_naming_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "a-long-password")  # a class: this browser is a student's
    page = open_page("train")
    page.selectbox(key="train_arch").set_value("custom-cnn")
    page.text_input(key="train_conv_filters").set_value("256")  # one conv layer: 14x14x256 into...
    page.text_input(key="train_dense_units").set_value("2048")  # ...2,048 units: within every other limit
    page.number_input(key="train_epochs").set_value(1)
    submit(page)
    said = page.error[0].value
    assert (
        said.startswith("Not started")
        and "the class limit is 3,000,000 parameters a network (this one asks for 102,785,546)" in said
    )
    assert list_runs() == []


def test_custom_layer_sizes_must_be_numbers(page):
    page.selectbox(key="train_arch").set_value("custom-dense")
    page.text_input(key="train_dense_units").set_value("128, lots")
    submit(page)
    assert "dense units" in page.error[0].value
