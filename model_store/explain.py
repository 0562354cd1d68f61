"""Why a model said what it said, for any image it reads: the MNIST training images nearest to it
in the model's own feature space, and where in the 28x28 it looked.

    explainer = stored_explainer(predictor, entry, store)
    features = explainer.features(prepared[None])  # (1, d): the model's last hidden layer
    explainer.neighbours(features[0], k=8)  # exact, over all 60,000 training images, nearest first
    explainer.saliency(prepared, digit)     # (28, 28) in [0, 1]: Grad-CAM, or integrated gradients
    explainer.look(prepared, digit)         # both the features and the saliency, in one pass if it can
    explainer.digit_map(build=True)         # a 2-D map of MNIST's test images as the model sees them
    digit_map.place(features)               # where the image lands on it

The feature space is the model's last hidden layer: what its last Dense layer reads. The map
(openTSNE, half a minute here) is made once per model and kept beside it in the store
(`ModelStore.attach`; the bundled model's ships with it). The MNIST images' features are worked
out again from the model in seconds, so they are only cached, by the model file's checksum, in the
same folder as the MNIST cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from threadpoolctl import ThreadpoolController

from model_store.backend import keras, tf
from model_store.data import cache_path, load_mnist
from model_store.files import write_atomic
from model_store.predict import Predictor, in_batches
from model_store.store import ModelStore, StoredModel, StoreError

MAP_NEIGHBOURS = 10  # a new point lands among its nearest mapped images, weighted by closeness
MAP_ITERATIONS = 750  # openTSNE's: 250 early exaggeration, then 500
CANDIDATES = 4  # a query's nearest k are picked, exactly, from this many times k found by the fast formula
IG_STEPS = 32  # integrated gradients: points on the path from a black image to the image
BLAS = ThreadpoolController()  # the BLAS libraries NumPy and SciPy loaded, to give `nearest` one thread


@dataclass(frozen=True)
class Neighbour:
    index: int  # in MNIST's training set
    label: int  # MNIST's own label
    distance: float  # Euclidean, in the model's last hidden layer


@dataclass
class DigitMap:
    """MNIST's test images placed in 2-D by t-SNE (openTSNE) of the model's features: images the
    model sees alike land together."""

    xy: np.ndarray  # (n, 2) float32: each mapped image's place
    labels: np.ndarray  # (n,) MNIST's labels
    indices: np.ndarray  # (n,) their indices in MNIST's test set
    features: np.ndarray  # (n, d) float32: where they are in the model's feature space

    def __post_init__(self):
        self.norms = np.einsum("ij,ij->i", self.features, self.features)  # for `nearest`

    def place(self, features: np.ndarray, k: int = MAP_NEIGHBOURS) -> np.ndarray:
        """(m, d) features -> (m, 2): each lands at the mean place of its k nearest mapped images
        in the model's features, the nearer weighing more (openTSNE starts a new point there too)."""
        places = []
        for f in np.asarray(features, np.float32).reshape(len(features), -1):
            picked, distances = nearest(self.features, self.norms, f, k)
            weights = 1 / (distances + 1e-6)
            places.append(weights @ self.xy[picked] / weights.sum())
        return np.asarray(places, np.float32)

    def save(self, path: Path) -> None:
        """The places only (160 KB for 10,000): the features are the model's to give again."""
        with open(path, "wb") as f:  # a file object: np.savez adds ".npz" to a name without it
            np.savez(f, xy=self.xy, labels=self.labels, indices=self.indices)

    @classmethod
    def load(cls, path: Path, test_features: np.ndarray) -> DigitMap:
        """A saved map, given the features of all MNIST test images (its own are picked out)."""
        with np.load(path) as kept:
            xy, labels, indices = kept["xy"], kept["labels"], kept["indices"]
        if xy.shape != (len(indices), 2) or labels.shape != indices.shape:
            raise ValueError(f"{path.name} is not a whole map")
        return cls(xy, labels, indices, test_features[indices])


def build_map(features: np.ndarray, labels: np.ndarray, indices: np.ndarray, on_progress=None, seed: int = 42) -> DigitMap:
    """The map of these images, given their features: `on_progress(fraction)` as it goes."""
    from openTSNE import TSNE  # scikit-learn and scipy come with it: loaded only to build a map

    done = {"iterations": 0}

    def progress(iteration, error, embedding) -> bool:
        done["iterations"] += 25
        if on_progress:
            on_progress(min(1.0, done["iterations"] / MAP_ITERATIONS))
        return False  # go on

    tsne = TSNE(n_jobs=2, random_state=seed, callbacks=progress, callbacks_every_iters=25, verbose=False)
    xy = np.asarray(tsne.fit(features), np.float32)
    return DigitMap(xy, np.asarray(labels), np.asarray(indices), features)


def nearest(points: np.ndarray, norms: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of `points` nearest to `query`, nearest first, and their distances. Exact: the
    fast formula (|a|^2 - 2ab + |b|^2, float32) picks CANDIDATES times k, whose distances are then
    computed directly in float64 (the formula's rounding could swap two close ones)."""
    # One BLAS thread: OpenBLAS's other threads spin for ~0.1 s after each call, and a stroke's
    # search then cost 110 ms of CPU instead of 3.6 (benchmarks/classroom.py --why, docs/performance.md).
    with BLAS.limit(limits=1, user_api="blas"):
        rough = norms - 2 * points @ query
    count = min(len(points), max(k, 1) * CANDIDATES)
    candidates = np.argpartition(rough, count - 1)[:count]
    exact = np.linalg.norm(points[candidates].astype(np.float64) - query.astype(np.float64), axis=1)
    order = np.argsort(exact, kind="stable")[:k]
    return candidates[order], exact[order]


def feature_model(model: keras.Model) -> keras.Model:
    """The model up to its last hidden layer (what its last Dense layer reads)."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError("the model has no Dense layer to read its features from")
    return keras.Model(model.inputs[0], dense[-1].input)


def stored_explainer(predictor: Predictor, entry: StoredModel, store: ModelStore) -> Explainer:
    """A stored model's explainer: its map read from beside it in the store (looked for again until
    found: another app process may make it), and kept there once built (not for the bundled model,
    whose folder is read-only: its map ships with it)."""

    def find() -> Path | None:
        try:
            current = store.get(entry.name)
        except StoreError:  # deleted meanwhile
            return None
        return current.map_path if current.record.get("model_sha256") == entry.record.get("model_sha256") else None

    def keep(digit_map: DigitMap) -> None:
        store.attach(entry, "map", digit_map.save)

    return Explainer(predictor, entry.record.get("model_sha256"), find, None if entry.bundled else keep)


class Explainer:
    def __init__(
        self,
        predictor: Predictor,
        cache_key: str | None = None,
        find_map: Callable[[], Path | None] | None = None,
        keep_map: Callable[[DigitMap], None] | None = None,
    ):
        self.predictor = predictor
        self.cache_key = cache_key  # the model file's sha256: its features are cached under it
        self.find_map, self.keep_map = find_map, keep_map  # where its map is, if it has one; how a new one is kept
        features = feature_model(predictor.model)
        signature = tf.TensorSpec((None, *predictor.input_shape), tf.float32)
        # No autograph: it parses Python source with `ast`, which Python 3.11.7 cannot do in two
        # threads at once ("AST constructor recursion depth mismatch"), and a map builds in a thread
        # while Streamlit compiles a page in another.
        self._features = tf.function(lambda x: features(x, training=False), input_signature=[signature], autograph=False)
        self._train: tuple[np.ndarray, np.ndarray] | None = None  # features, squared norms
        self._test: np.ndarray | None = None
        self._map: DigitMap | None = None
        self._cam = None  # Grad-CAM's traced graph, made at first use
        self.keep_note: str | None = None  # why a map made was not kept, if it was not
        self._labels = load_mnist()[0][1]

    def features(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) prepared images -> (n, d) float32: the model's last hidden layer."""
        x = self.predictor.inputs(images)
        return in_batches(self._features, x).reshape(len(x), -1).astype(np.float32)

    def training_features(self) -> np.ndarray:
        """The 60,000 training images' features: from the cache, or computed once and kept."""
        if self._train is None:
            train = self._cached_features("", load_mnist()[0][0])
            self._train = (train, np.einsum("ij,ij->i", train, train))
        return self._train[0]

    def test_features(self) -> np.ndarray:
        """The 10,000 test images' features (the map's), the same way."""
        if self._test is None:
            self._test = self._cached_features(".test", load_mnist()[1][0])
        return self._test

    def _cached_features(self, kind: str, images: np.ndarray) -> np.ndarray:
        path = cache_path().parent / "features" / f"{self.cache_key}{kind}.npy" if self.cache_key else None
        try:
            features = np.load(path) if path else None
        except (OSError, ValueError):
            features = None  # damaged or half-written: computed again
        if features is None or features.shape[0] != len(images):
            features = self.features(images / np.float32(255))
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, lambda tmp: np.save(tmp, features))  # whole or absent, never half-written
        return features

    def digit_map(self, build: bool = False, on_progress=None) -> DigitMap | None:
        """The model's map of MNIST's 10,000 test images: read from where `find_map` says, else
        built (half a minute) and kept (`keep_map`) when `build`, else None."""
        if self._map is not None:
            return self._map
        path = self.find_map() if self.find_map is not None else None
        if path is not None and path.exists():
            try:
                self._map = DigitMap.load(path, self.test_features())
                return self._map
            except (OSError, ValueError, KeyError):
                pass  # damaged: built again
        if not build:
            return None
        labels = load_mnist()[1][1]
        self._map = build_map(self.test_features(), labels, np.arange(len(labels)), on_progress)
        if self.keep_map is None:
            self.keep_note = "the map is not kept (nowhere to keep it): it is made again after a restart"
            return self._map
        try:
            self.keep_map(self._map)
        except (OSError, ValueError) as err:  # a read-only store, the model replaced meanwhile
            self.keep_note = f"the map is not kept ({err}): it is made again after a restart"
        return self._map

    def neighbours(self, features: np.ndarray, k: int = 8) -> list[Neighbour]:
        """The k MNIST training images nearest to one image's features (`features`), nearest
        first, exact (`nearest`)."""
        train = self.training_features()
        picked, distances = nearest(train, self._train[1], features, k)
        return [Neighbour(int(i), int(self._labels[i]), float(d)) for i, d in zip(picked, distances)]

    @property
    def last_conv(self) -> keras.layers.Layer | None:
        """The layer Grad-CAM reads: the last conv layer of a Sequential model (every model of the
        zoo; an uploaded one may not be), else None."""
        model = self.predictor.model
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        return convs[-1] if convs and isinstance(model, keras.Sequential) else None

    @property
    def saliency_method(self) -> str:
        return "Grad-CAM on its last conv layer" if self.last_conv is not None else "integrated gradients"

    def saliency(self, prepared: np.ndarray, digit: int) -> np.ndarray:
        """Where the model looked for `digit` (`saliency_method`): (28, 28), 1 where it looked most."""
        return self.look(prepared, digit)[1]

    def look(self, prepared: np.ndarray, digit: int) -> tuple[np.ndarray, np.ndarray]:
        """The image's features (as `features`) and where it looked (as `saliency`); with Grad-CAM
        from the same pass through the model, so a stroke pays for one."""
        if self.last_conv is not None:
            features, heat = self.grad_cam(prepared, digit, self.last_conv)
        else:
            features, heat = self.features(prepared[None])[0], np.clip(self.integrated_gradients(prepared, digit), 0, None)
        return features, heat / heat.max() if heat.max() > 0 else heat

    def grad_cam(self, prepared: np.ndarray, digit: int, conv: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray]:
        """Grad-CAM (Selvaraju et al., 2017): the conv layer's maps weighted by the mean gradient
        of the digit's probability on each, the positive part, resized to 28x28; and the features
        the pass went through."""
        if self._cam is None:
            self._cam = self._cam_function(conv)
        x = tf.constant(self.predictor.inputs(prepared[None]))
        maps, grads, features = (t.numpy() for t in self._cam(x, tf.constant(digit)))
        cam = np.maximum((maps * grads.mean(axis=(0, 1))).sum(axis=-1), 0)
        return features.astype(np.float32), cv2.resize(cam.astype(np.float32), (28, 28), interpolation=cv2.INTER_LINEAR)

    def _cam_function(self, conv: keras.layers.Layer):
        """The conv layer's maps, the digit's gradient on them and the last Dense layer's input, as
        one traced graph (a stroke's Grad-CAM in a few ms, not the ~14 of running the layers one by
        one in Python)."""
        layers = self.predictor.model.layers
        last_dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)][-1]
        signature = [tf.TensorSpec((1, *self.predictor.input_shape), tf.float32), tf.TensorSpec((), tf.int32)]

        def maps_and_gradients(x, digit):
            with tf.GradientTape() as tape:
                for layer in layers:  # a Sequential's layers, one after another
                    if layer is last_dense:
                        features = tf.reshape(x[0], [-1])
                    x = layer(x, training=False)
                    if layer is conv:
                        maps = x
                        tape.watch(maps)
                score = tf.gather(x[0], digit)
            return maps[0], tape.gradient(score, maps)[0], features

        return tf.function(maps_and_gradients, input_signature=signature, autograph=False)

    def integrated_gradients(self, prepared: np.ndarray, digit: int, steps: int = IG_STEPS) -> np.ndarray:
        """Integrated gradients (Sundararajan et al., 2017) from a black image: each pixel's share of
        the digit's probability; the shares sum to about p(image) - p(black)."""
        model = self.predictor.model
        x = self.predictor.inputs(prepared[None])[0]
        path = tf.constant(np.stack([x * (i + 0.5) / steps for i in range(steps)]))  # midpoints
        with tf.GradientTape() as tape:
            tape.watch(path)
            score = model(path, training=False)[:, digit]
        grads = tape.gradient(score, path).numpy().mean(axis=0)
        return (x * grads).reshape(28, 28)
