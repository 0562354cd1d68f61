"""Why a model said what it said, for any image it reads: the MNIST training images nearest to it
in the model's own feature space, and where in the 28x28 it looked.

    explainer = Explainer(predictor, cache_key=entry.record.get("model_sha256"))
    explainer.neighbours(prepared, k=8)     # exact, over all 60,000 training images, nearest first
    explainer.saliency(prepared, digit)     # (28, 28) in [0, 1]: Grad-CAM, or integrated gradients

The feature space is the model's last hidden layer: what its last Dense layer reads. The 60,000
training images' features are computed once per model (seconds) and cached by the model file's
checksum, in the same folder as the MNIST cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model_store.backend import keras, tf
from model_store.data import cache_path, load_mnist
from model_store.predict import BATCH_SIZE, Predictor
from model_store.preprocess import normalize

CANDIDATES = 4  # a query's nearest k are picked, exactly, from this many times k found by the fast formula
IG_STEPS = 32  # integrated gradients: points on the path from a black image to the image


@dataclass(frozen=True)
class Neighbour:
    index: int  # in MNIST's training set
    label: int  # MNIST's own label
    distance: float  # Euclidean, in the model's last hidden layer


def feature_model(model: keras.Model) -> keras.Model:
    """The model up to its last hidden layer (what its last Dense layer reads)."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError("the model has no Dense layer to read its features from")
    return keras.Model(model.inputs[0], dense[-1].input)


class Explainer:
    def __init__(self, predictor: Predictor, cache_key: str | None = None):
        self.predictor = predictor
        self.cache_key = cache_key  # the model file's sha256: its features are cached under it
        features = feature_model(predictor.model)
        signature = tf.TensorSpec((None, *predictor.input_shape), tf.float32)
        self._features = tf.function(lambda x: features(x, training=False), input_signature=[signature])
        self._train: tuple[np.ndarray, np.ndarray] | None = None  # features, squared norms
        self._labels = load_mnist()[0][1]

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        x = normalize(np.asarray(images, np.float32).reshape(-1, 28, 28), self.predictor.normalization)
        return x.reshape((-1, *self.predictor.input_shape))

    def features(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) prepared images -> (n, d) float32: the model's last hidden layer."""
        x = self._inputs(images)
        out = [self._features(tf.constant(x[i : i + BATCH_SIZE])).numpy() for i in range(0, len(x), BATCH_SIZE)]
        return np.concatenate(out).reshape(len(x), -1).astype(np.float32)

    def training_features(self) -> np.ndarray:
        """The 60,000 training images' features: from the cache, or computed once and kept."""
        if self._train is None:
            path = self._cache_file()
            try:
                train = np.load(path) if path else None
            except (OSError, ValueError):
                train = None  # damaged or half-written: computed again
            if train is None or train.shape[0] != len(self._labels):
                train = self.features(load_mnist()[0][0] / np.float32(255))
                if path:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    partial = path.with_suffix(".partial.npy")
                    np.save(partial, train)
                    partial.replace(path)  # whole or absent, never half-written
            self._train = (train, np.einsum("ij,ij->i", train, train))
        return self._train[0]

    def _cache_file(self) -> Path | None:
        return cache_path().parent / "features" / f"{self.cache_key}.npy" if self.cache_key else None

    def neighbours(self, prepared: np.ndarray, k: int = 8) -> list[Neighbour]:
        """The k MNIST training images nearest to a prepared 28x28 image, nearest first. Exact:
        the fast formula (|a|^2 - 2ab + |b|^2) picks candidates among all 60,000, and their
        distances are then computed directly, in float64."""
        train = self.training_features()
        norms = self._train[1]
        query = self.features(prepared[None])[0]
        rough = norms - 2 * train @ query
        count = min(len(train), max(k, 1) * CANDIDATES)
        candidates = np.argpartition(rough, count - 1)[:count]
        exact = np.linalg.norm(train[candidates].astype(np.float64) - query.astype(np.float64), axis=1)
        order = np.argsort(exact, kind="stable")[:k]
        return [Neighbour(int(candidates[i]), int(self._labels[candidates[i]]), float(exact[i])) for i in order]

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
        if self.last_conv is not None:
            heat = self.grad_cam(prepared, digit, self.last_conv)
        else:
            heat = np.clip(self.integrated_gradients(prepared, digit), 0, None)
        return heat / heat.max() if heat.max() > 0 else heat

    def grad_cam(self, prepared: np.ndarray, digit: int, conv: keras.layers.Layer) -> np.ndarray:
        """Grad-CAM (Selvaraju et al., 2017): the conv layer's maps weighted by the mean gradient
        of the digit's probability on each, the positive part, resized to 28x28."""
        x = tf.constant(self._inputs(prepared[None]))
        with tf.GradientTape() as tape:
            for layer in self.predictor.model.layers:  # a Sequential's layers, one after another
                x = layer(x, training=False)
                if layer is conv:
                    maps = x
                    tape.watch(maps)
            score = x[:, digit]
        grads = tape.gradient(score, maps)[0].numpy()
        cam = np.maximum((maps[0].numpy() * grads.mean(axis=(0, 1))).sum(axis=-1), 0)
        return cv2.resize(cam.astype(np.float32), (28, 28), interpolation=cv2.INTER_LINEAR)

    def integrated_gradients(self, prepared: np.ndarray, digit: int, steps: int = IG_STEPS) -> np.ndarray:
        """Integrated gradients (Sundararajan et al., 2017) from a black image: each pixel's share of
        the digit's probability; the shares sum to about p(image) - p(black)."""
        model = self.predictor.model
        x = self._inputs(prepared[None])[0]
        path = tf.constant(np.stack([x * (i + 0.5) / steps for i in range(steps)]))  # midpoints
        with tf.GradientTape() as tape:
            tape.watch(path)
            score = model(path, training=False)[:, digit]
        grads = tape.gradient(score, path).numpy().mean(axis=0)
        return (x * grads).reshape(28, 28)
