"""Every page runs headless without an exception (Streamlit's AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "pages/draw.py",
    "pages/train.py",
    "pages/experiments.py",
    "pages/gallery.py",
    "pages/data.py",
    "pages/models.py",
    "pages/classroom.py",
    "pages/present.py",
]


@pytest.fixture
def app(tiny_store, monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()
    st.cache_data.clear()
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_an_exception(app, page):
    app.run()
    if page != PAGES[0]:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value


def test_the_draw_page_is_the_default_and_shows_a_dash_before_drawing(app):
    app.run()
    assert app.title[0].value == "Draw a digit"
    assert app.metric[0].label == "Prediction" and app.metric[0].value == "-"


def test_the_models_page_lists_the_bundled_model_first_then_the_store(app):
    app.run()
    app.switch_page("pages/models.py").run()
    table = app.dataframe[0].value
    assert table["name"].tolist() == ["lab-default", "tiny"]
    assert table["architecture"].tolist() == ["cnn-lab", "dense-128"] and table["status"].tolist() == ["bundled", "ok"]


def test_the_server_config_limits_uploads_as_the_code_does_and_keeps_xsrf_protection():
    import tomllib

    from model_store.preprocess import MAX_FILE_BYTES
    from model_store.store import MAX_UPLOAD_BYTES

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_FILE_BYTES == MAX_UPLOAD_BYTES
    assert config["server"]["enableXsrfProtection"] is True
    assert config["runner"]["postScriptGC"] is False  # a full GC after every rerun queued every session behind it


def test_streamlit_no_longer_resets_keras_after_every_script_run():
    """Streamlit calls keras.backend.clear_session() after each run; the pages switch it off
    (see pages/common). A Streamlit upgrade that renames the hook would bring the cost back."""
    from streamlit.runtime.scriptrunner import script_runner

    import pages.common  # noqa: F401

    assert script_runner._clean_problem_modules.__name__ == "<lambda>"
    source = Path(script_runner.__file__).read_text()
    assert "_log_if_error(_clean_problem_modules)" in source
