"""One predictor used everywhere: any image in, ten probabilities out (and, from a model that
learnt an 11th answer, how likely it is that the image is not a digit at all).

A single image goes through a compiled `tf.function` call of the model (well under a
millisecond here), not `model.predict`, which sets up a whole data pipeline per call
(about 57 ms here). Many images go through the same call in batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store.backend import keras, tf
from model_store.preprocess import Prepared, normalize, prepare
from model_store.store import UNSURE

BATCH_SIZE = 512
NOT_A_DIGIT = 10  # the 11th output (and training label) of a model that learnt "not a digit"
HIDDEN_LAYERS = ("BatchNormalization", "Dropout", "Flatten", "InputLayer")


@dataclass
class Prediction:
    digit: int | None  # None when the image is blank
    confidence: float  # the top probability; 0.0 when blank
    probabilities: np.ndarray | None  # (10,) float32, digits 0..9 in order
    prepared: np.ndarray | None  # the 28x28 input the model saw
    blank_reason: str | None = None
    not_digit: float = 0.0  # the probability that it is not a digit at all (0 from a ten-output model)

    @property
    def blank(self) -> bool:
        return self.digit is None

    def verdict(self, unsure_below: float = UNSURE) -> str:
        """ "blank"; "not_a_digit" when it is more likely not a digit than a digit; "unsure" when
        the digit's probability is under `unsure_below`; or "digit"."""
        if self.blank:
            return "blank"
        if called_not_a_digit(self.not_digit):
            return "not_a_digit"
        return "unsure" if self.confidence < unsure_below else "digit"


def called_not_a_digit(not_digit):
    """Whether it is more likely not a digit than a digit: its probability (calibrated, where the
    model is) over a half. A number or an array."""
    return not_digit > 0.5


@dataclass
class LayerActivation:
    name: str  # the layer's name
    kind: str  # "maps" for (h, w, channels) feature maps, "vector" for a dense layer's units
    values: np.ndarray  # one image's activations, batch dimension removed


def _softmax_if_needed(out: np.ndarray) -> np.ndarray:
    """Stored models end in softmax; an uploaded one that gives logits is made to agree."""
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return out
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities as a softmax of log-probabilities over `temperature` (temperature scaling):
    the ranking never changes, only how sure it sounds (above 1 less sure, below 1 surer)."""
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, 1)) / temperature
    out = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)


def split_not_digit(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An 11-output model's probabilities -> the digits' given that it is one, and "not a digit"'s.
    Tempering all 11 and then keeping the digits' share equals tempering the digits alone: one
    temperature serves both."""
    digits = out[:, :NOT_A_DIGIT]
    return digits / np.maximum(digits.sum(axis=1, keepdims=True), 1e-12), out[:, NOT_A_DIGIT]


def joined(probabilities: np.ndarray, not_digit: np.ndarray) -> np.ndarray:
    """`split_not_digit` undone: the 11 probabilities again."""
    return np.concatenate([probabilities * (1 - not_digit)[:, None], not_digit[:, None]], axis=1)


def in_batches(forward, x: np.ndarray) -> np.ndarray:
    """A traced model function over `x`, BATCH_SIZE rows at a time, the outputs stacked."""
    out = [forward(tf.constant(x[i : i + BATCH_SIZE])).numpy() for i in range(0, len(x), BATCH_SIZE)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


class Predictor:
    def __init__(self, model: keras.Model, normalization: str = "scale", temperature: float = 1.0):
        self.model = model
        self.normalization = normalization
        self.temperature = temperature  # its calibration's (`StoredModel.temperature`): 1.0 leaves it as trained
        self.input_shape = tuple(model.input_shape[1:])
        self.knows_non_digits = model.output_shape[-1] > NOT_A_DIGIT  # it has the 11th output
        if int(np.prod(self.input_shape)) != 784:
            raise ValueError(f"the model takes input {self.input_shape}; a 28x28 image has 784 pixels")
        signature = tf.TensorSpec((None, *self.input_shape), tf.float32)
        # One trace for every batch size: the signature leaves the batch dimension open.
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[signature])
        self._probe: keras.Model | None = None  # every layer's output, built on first use

    def warm_up(self) -> None:
        """Read one drawn bar now: the model function's trace (0.2 s of CPU here) and the first
        calls of the preparing (a few ms) are done, and the first drawing read does not wait for them."""
        bar = np.zeros((280, 280), np.uint8)
        bar[40:240, 130:150] = 255
        self.predict(bar)

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) prepared images, floats in [0, 1] -> what the model takes: normalised its
        way, in its input shape."""
        x = normalize(np.asarray(images, np.float32).reshape(-1, 28, 28), self.normalization)
        return x.reshape((-1, *self.input_shape))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) prepared images, floats in [0, 1] -> (n, 10) probabilities of the digits
        (from a model with "not a digit", given that it is one)."""
        return self.read(images)[0]

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 28, 28) prepared images -> (n, 10) digit probabilities as `probabilities`, and (n,)
        probabilities that each is not a digit (zeros from a model with ten outputs)."""
        out = in_batches(self._forward, self.inputs(images))
        out = tempered(_softmax_if_needed(out if len(out) else np.zeros((0, 10), np.float32)), self.temperature)
        if out.shape[1] == 10:
            return out, np.zeros(len(out), np.float32)
        return split_not_digit(out)

    def predict(self, image: np.ndarray) -> Prediction:
        """Any image array (see `prepare`) -> the digit, or a blank with its reason."""
        return self.predict_prepared([prepare(image)])[0]

    def predict_prepared(self, prepared: list[Prepared]) -> list[Prediction]:
        readable = [p.image for p in prepared if p.image is not None]
        probs, not_digit = self.read(np.stack(readable)) if readable else ([], [])
        rows = iter(zip(probs, not_digit))
        results = []
        for p in prepared:
            if p.image is None:
                results.append(Prediction(None, 0.0, None, None, p.blank_reason))
                continue
            row, other = next(rows)
            results.append(Prediction(int(row.argmax()), float(row.max()), row, p.image, not_digit=float(other)))
        return results

    def activations(self, prepared: np.ndarray) -> list[LayerActivation]:
        """Each stage's output for one prepared 28x28 image: what happens inside the network.

        A stage is shown after its activation: batch norm, dropout and flatten add nothing to see.
        """
        layers = self.model.layers
        shown = [
            layer
            for layer, after in zip(layers, [*layers[1:], None])
            if type(layer).__name__ not in HIDDEN_LAYERS and type(after).__name__ not in ("BatchNormalization", "Activation")
        ]
        if self._probe is None:
            self._probe = keras.Model(self.model.inputs[0], [layer.output for layer in shown])
        outputs = self._probe(self.inputs(prepared), training=False)
        return [
            LayerActivation(layer.name, "maps" if len(out.shape) == 4 else "vector", np.asarray(out)[0])
            for layer, out in zip(shown, outputs if isinstance(outputs, list) else [outputs])
        ]

    def occlusion(self, prepared: np.ndarray, digit: int, patch: int = 6, stride: int = 2) -> np.ndarray:
        """Where the model looked: how much the digit's probability drops when each spot is hidden.

        A (28, 28) map in [0, 1], 1 where covering the image hurts the answer most. All the
        occluded copies go through the model in one batch.
        """
        starts = range(0, 28 - patch + 1, stride)
        copies, spots = [], []
        for top in starts:
            for left in starts:
                hidden = prepared.copy()
                hidden[top : top + patch, left : left + patch] = 0
                copies.append(hidden)
                spots.append((top, left))
        base = self.probabilities(prepared[None])[0, digit]
        drops = base - self.probabilities(np.stack(copies))[:, digit]
        heat, count = np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)
        for (top, left), drop in zip(spots, drops):
            heat[top : top + patch, left : left + patch] += drop
            count[top : top + patch, left : left + patch] += 1
        heat = np.clip(heat / np.maximum(count, 1), 0, None)
        return heat / heat.max() if heat.max() > 0 else heat
