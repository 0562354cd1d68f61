"""Shared fixtures: a temporary model store and a tiny model trained in a few seconds."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from model_store import ModelStore, Predictor, load_mnist
from training.config import TrainConfig
from training.engine import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def class_folder(tmp_path, monkeypatch):
    """Every test its own class data folder, and so its own SQLite class database, and no teacher
    password unless it sets one."""
    monkeypatch.setenv("MNIST_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("MNIST_LAB_TEACHER_PASSWORD", raising=False)
    monkeypatch.delenv("MNIST_LAB_DATABASE", raising=False)
    monkeypatch.delenv("MNIST_LAB_DB", raising=False)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the whole session (`tests/postgres.py`)."""
    from tests.postgres import Server

    server = Server()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, monkeypatch) -> str:
    """The test runs on each engine: $MNIST_LAB_DATABASE names a fresh PostgreSQL database, or the
    data folder's SQLite file. The URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'drawings.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").create()
    monkeypatch.setenv("MNIST_LAB_DATABASE", url)
    return url


@pytest.fixture
def store(tmp_path) -> ModelStore:
    """An empty store in this test's class database, with no bundled model beside it."""
    return ModelStore(tmp_path / "models", bundled_dir=None)


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory) -> ModelStore:
    """'tiny': the notebook-D dense net trained on 3,000 images for one epoch, once a session, in
    a database of its own (each test's class database is new)."""
    from model_store.database import Database

    folder = tmp_path_factory.mktemp("tiny")
    store = ModelStore(folder / "models", bundled_dir=None, db=Database(folder / "tiny.sqlite3"))
    config = TrainConfig(name="tiny", arch="dense-128", epochs=1, batch_size=64, train_limit=3000, validation="none")
    train(config, store)
    return store


@pytest.fixture
def tiny_store(tiny_trained, tmp_path) -> ModelStore:
    """A store holding 'tiny', in this test's class database."""
    store = ModelStore(tmp_path / "tiny-models", bundled_dir=None)
    entry = tiny_trained.get("tiny")
    store.save(entry.model_path.read_bytes(), entry.record, tiny_trained.test_probabilities(entry))
    return store


@pytest.fixture(scope="session")
def tiny(tiny_trained):
    """(keras model, stored entry, predictor) of the tiny model."""
    model, entry = tiny_trained.load("tiny")
    return model, entry, Predictor(model, entry.normalization)


@pytest.fixture(scope="session")
def mnist_test():
    _, (x, y) = load_mnist()
    return x, y


def digit_on_canvas(image28: np.ndarray, size: int = 280, box: tuple[int, int, int] = (60, 60, 160), dark_on_light=False):
    """An MNIST digit drawn into a larger canvas: `box` is (top, left, side) of where it goes."""
    import cv2

    top, left, side = box
    canvas = np.zeros((size, size), np.uint8)
    canvas[top : top + side, left : left + side] = cv2.resize(image28, (side, side), interpolation=cv2.INTER_LINEAR)
    return 255 - canvas if dark_on_light else canvas


def image_file(image, fmt: str = "PNG", **options) -> bytes:
    """An array or a PIL image as the bytes of an image file."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, format=fmt, **options)
    return buf.getvalue()


def sixteen_bit_png(canvas: np.ndarray) -> bytes:
    return image_file(canvas.astype(np.uint16) * 257)


def cmyk_jpeg(canvas: np.ndarray) -> bytes:
    """Dark strokes on light paper, as a print shop's JPEG."""
    from PIL import Image

    return image_file(Image.fromarray(255 - canvas).convert("CMYK"), "JPEG", quality=95)


def transparent_png(canvas: np.ndarray) -> bytes:
    """Black strokes on a transparent background, as drawing programs export them."""
    rgba = np.zeros((*canvas.shape, 4), np.uint8)
    rgba[..., 3] = canvas
    return image_file(rgba)


def animated_gif(*frames: np.ndarray) -> bytes:
    from PIL import Image

    first, *rest = [Image.fromarray(f) for f in frames]
    return image_file(first, "GIF", save_all=True, append_images=rest)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def database_at(path, version: str):
    """An SQLite class database brought to schema `version` only (an earlier release's), and a
    connection in its transaction to put that release's rows in."""
    from sqlalchemy import create_engine

    from model_store.database import migrate

    with create_engine(f"sqlite:///{path}").begin() as connection:
        migrate(connection, version)
        yield connection


def recorded_run(run_id: str, config: dict, status: str = "waiting") -> str:
    """A run's records as the queue writes them, in the class database, without Ray."""
    from training.copying import records

    records().add(run_id, config)
    records().set_status(run_id, {"status": status})
    return run_id


def open_page(name: str, timeout: int = 60) -> AppTest:
    """One of the app's pages run headless, with fresh Streamlit caches; fails on any exception."""
    st.cache_data.clear()
    st.cache_resource.clear()
    return run_clean(AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout))


def run_clean(at: AppTest) -> AppTest:
    """Rerun the page after a widget change; fails on any exception, naming it."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def as_read(markdown: str) -> str:
    """Markdown escaped as plain text (`pages.common.plain`) as a person reads it: backslashes and
    word joiners gone."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")
