"""Explanations: the training images nearest a reading in the model's own features (exact), and
where it looked (Grad-CAM, integrated gradients); the `explain` command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_store import Predictor, load_mnist
from model_store import explain as explain_module
from model_store.__main__ import main
from model_store.explain import Explainer, build_map, stored_explainer
from model_store.networks import cnn_fast
from tests.conftest import digit_on_canvas, image_file


@pytest.fixture(scope="module")
def explainer(tiny, tmp_path_factory):
    _, entry, predictor = tiny
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(explain_module, "cache_path", lambda: folder / "mnist-uint8.npz")
        yield Explainer(predictor, entry.record["model_sha256"])


@pytest.fixture(scope="module")
def train():
    (x, y), _ = load_mnist()
    return x / np.float32(255), y


def test_a_training_image_is_its_own_nearest_neighbour_and_labels_are_mnists(explainer, train):
    x, y = train
    for index in (0, 123, 45_678):
        near = explainer.neighbours(explainer.features(x[index][None])[0], k=8)
        assert near[0].index == index and near[0].distance < 1e-4
        assert [n.label for n in near] == [int(y[n.index]) for n in near]  # MNIST's own labels
        assert [n.distance for n in near] == sorted(n.distance for n in near) and near[1].distance > 0.01


def test_neighbours_are_exact_against_a_search_of_every_training_image(explainer, mnist_test):
    features = explainer.training_features()
    for image in mnist_test[0][:5] / np.float32(255):
        query = explainer.features(image[None])[0]
        every = np.linalg.norm(features.astype(np.float64) - query.astype(np.float64), axis=1)
        assert [n.index for n in explainer.neighbours(query, k=8)] == list(np.argsort(every, kind="stable")[:8])


def test_the_training_features_are_cached_by_the_model_file(explainer, tiny):
    _, entry, predictor = tiny
    cached = explain_module.cache_path().parent / "features" / f"{entry.record['model_sha256']}.npy"
    explainer.training_features()
    assert cached.exists() and np.load(cached).shape == (60_000, 128)  # dense-128's hidden layer
    again = Explainer(predictor, entry.record["model_sha256"])
    assert np.array_equal(again.training_features(), explainer.training_features())


def test_integrated_gradients_share_out_the_probability_and_saliency_is_a_28x28_map(explainer, tiny, mnist_test):
    _, _, predictor = tiny
    image, digit = mnist_test[0][0] / np.float32(255), int(mnist_test[1][0])
    shares = explainer.integrated_gradients(image, digit, steps=64)
    gained = predictor.probabilities(image[None])[0, digit] - predictor.probabilities(np.zeros((1, 28, 28)))[0, digit]
    assert shares.shape == (28, 28) and shares.sum() == pytest.approx(gained, abs=0.03)
    assert np.all(shares[image == 0] == 0)  # a black pixel has no share: it is where the path starts
    heat = explainer.saliency(image, digit)
    assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)


def test_grad_cam_on_a_conv_model_is_a_28x28_map(mnist_test):
    predictor = Predictor(cnn_fast(), "scale")
    image = mnist_test[0][0] / np.float32(255)
    explainer = Explainer(predictor)
    heat = explainer.saliency(image, 7)
    features, same = explainer.look(image, 7)  # the features come from Grad-CAM's own pass
    assert np.allclose(features, explainer.features(image[None])[0], atol=1e-5) and np.array_equal(heat, same)
    assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)


def test_explain_prints_json_for_good_files_and_the_predict_message_for_bad_ones(
    explainer, tiny, tiny_store, tmp_path, capsys, mnist_test
):
    _, entry, _ = tiny
    small = build_map(explainer.test_features()[:500], mnist_test[1][:500], np.arange(500))
    tiny_store.attach(entry, "map", small.save)  # the tiny model's map, as one built earlier (10,000: 30 s)
    good = tmp_path / "seven.png"
    good.write_bytes(image_file(digit_on_canvas(mnist_test[0][0])))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    code = main(
        ["--store", str(tiny_store.root), "explain", "--model", "tiny", "--neighbours", "3", "--json", str(broken), str(good)]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and lines[0]["path"] == str(broken) and "error" in lines[0]
    answer = lines[1]
    assert answer["path"] == str(good) and answer["digit"] == 7 and 0 < answer["confidence"] <= 1
    assert len(answer["neighbours"]) == 3 and set(answer["neighbours"][0]) == {"index", "label", "distance"}
    assert all(n["label"] == int(load_mnist()[0][1][n["index"]]) for n in answer["neighbours"])
    assert len(answer["map"]) == 2 and all(isinstance(v, float) for v in answer["map"])


def test_a_map_of_a_small_sample_is_reproducible_groups_digits_and_places_new_points_among_their_neighbours(
    explainer, mnist_test
):
    x, y = mnist_test[0][:1500] / np.float32(255), mnist_test[1][:1500]
    seen = []
    first = build_map(explainer.features(x), y, np.arange(1500), on_progress=seen.append)
    again = build_map(explainer.features(x), y, np.arange(1500))
    assert first.xy.shape == (1500, 2) and np.allclose(first.xy, again.xy)  # the same seed, the same map
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    # Images of one digit land together: a vote of each image's 5 nearest on the map (itself left out).
    gaps = np.linalg.norm(first.xy[:, None] - first.xy[None], axis=2)
    np.fill_diagonal(gaps, np.inf)
    votes = np.array([np.bincount(y[np.argsort(row)[:5]], minlength=10).argmax() for row in gaps])
    tiny_accuracy = (explainer.predictor.probabilities(x).argmax(axis=1) == y).mean()
    assert (votes == y).mean() >= tiny_accuracy - 0.05, ((votes == y).mean(), tiny_accuracy)
    # A new image lands where the mapped images nearest to it in the model's features are: the
    # digit most of its neighbours on the map show is the one most of those show.
    new = mnist_test[0][5000:5040] / np.float32(255)
    agree = 0
    for place, feature in zip(first.place(explainer.features(new)), explainer.features(new)):
        by_feature = np.argsort(np.linalg.norm(first.features - feature, axis=1))[:10]
        by_place = np.argsort(np.linalg.norm(first.xy - place, axis=1))[:10]
        agree += np.bincount(y[by_feature], minlength=10).argmax() == np.bincount(y[by_place], minlength=10).argmax()
    assert agree >= 36, agree


def test_a_map_is_kept_beside_its_model_renamed_and_deleted_with_it_and_refused_for_a_replaced_one(
    explainer, tiny, tmp_path, mnist_test
):
    from model_store import ModelStore, StoreError
    from model_store.roles import TERMINAL

    model, _, predictor = tiny
    store = ModelStore(tmp_path / "models", bundled_dir=None)
    entry = store.save(model, {"name": "mine", "normalization": "scale"})
    built = build_map(explainer.test_features()[:300], mnist_test[1][:300], np.arange(300), seed=1)
    entry = store.attach(entry, "map", built.save)
    assert entry.map_path.name == f"{entry.record['files']['map']}.map.npz"  # this machine's copy, by its checksum
    assert kinds_of(store) == [("mine", "map"), ("mine", "model")]
    read = stored_explainer(predictor, entry, store).digit_map()  # a new explainer (after a restart) reads it
    assert np.array_equal(read.xy, built.xy) and np.array_equal(read.indices, np.arange(300))
    assert np.allclose(read.features, explainer.test_features()[:300])  # given again by the model
    renamed = store.rename("mine", "ours", TERMINAL)
    assert renamed.map_path.is_file() and kinds_of(store) == [("ours", "map"), ("ours", "model")]
    store.save(cnn_fast(), {"name": "ours", "normalization": "scale"}, overwrite=True)  # replaced by another model
    assert store.get("ours").map_path is None  # the old model's map went with it
    with pytest.raises(StoreError, match="changed while its map was made"):
        store.attach(renamed, "map", built.save)
    store.delete("ours", TERMINAL)
    assert kinds_of(store) == []


def kinds_of(store) -> list[tuple[str, str]]:
    """The class database's files: (model, kind)."""
    from model_store.database import model_files

    with store.db.read() as c:
        return sorted(
            tuple(r) for r in c.execute(model_files.select().with_only_columns(model_files.c.model, model_files.c.kind))
        )
