"""Test-set evaluation from predicted probabilities: loss, accuracy, per class, confusion.

Here, beside the models, so that the store's command line (`python -m model_store evaluate`),
the pages and the training engine all measure a model with the same functions (the engine also
hands in its held-out non-digits; the command line has none to give).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store import Prediction, Predictor, load_mnist, prepare
from model_store.predict import called_not_a_digit


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy of the true class
    accuracy: float
    per_class_accuracy: list[float]  # digits 0..9
    confusion: np.ndarray  # (10, 10): rows are true digits, columns predictions
    probabilities: np.ndarray  # (n, 10)
    not_a_digit: float | None = None  # the share called "not a digit" (a model with that answer)
    non_digits_rejected: float | None = None  # ... and of the held-out non-digits (`evaluate`'s non_digits)

    def metrics(self) -> dict:
        """The JSON-ready part of the record (the probabilities are stored beside it)."""
        shares = {"test_not_a_digit": self.not_a_digit, "non_digits_rejected": self.non_digits_rejected}
        return {
            **{key: round(share, 6) for key, share in shares.items() if share is not None},
            "test_loss": round(self.loss, 6),
            "test_accuracy": round(self.accuracy, 6),
            "per_class_accuracy": [round(a, 6) for a in self.per_class_accuracy],
            "confusion_matrix": self.confusion.tolist(),
            "test_errors": int(self.confusion.sum() - np.trace(self.confusion)),
        }


def evaluate_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    labels = np.asarray(labels, np.int64)
    probabilities = np.asarray(probabilities, np.float32)
    predicted = probabilities.argmax(axis=1)
    true_p = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return Evaluation(
        loss=float(-np.log(true_p).mean()),
        accuracy=float((predicted == labels).mean()),
        per_class_accuracy=per_class.tolist(),
        confusion=confusion,
        probabilities=probabilities,
    )


def evaluate(predictor: Predictor, limit: int | None = None, non_digits: list[np.ndarray] | None = None) -> Evaluation:
    """Evaluate on the MNIST test set (the first `limit` images when given). A model that answers
    "not a digit" is also measured on how many test digits it turns away and, given `non_digits`
    (drawings of kinds it never learnt from, as people hand them over: the training engine's
    `training.nondigits.held_out_set`), how many of those it calls "not a digit"."""
    _, (x_test, y_test) = load_mnist()
    x, y = x_test[:limit], y_test[:limit]
    probabilities, not_digit = predictor.read(x / 255.0)
    evaluation = evaluate_probabilities(probabilities, y)
    if predictor.knows_non_digits:
        evaluation.not_a_digit = float(called_not_a_digit(not_digit).mean())
        if non_digits is not None:
            evaluation.non_digits_rejected = share_called_not_a_digit(predictor, non_digits)
    return evaluation


def share_called_not_a_digit(predictor: Predictor, images: list[np.ndarray]) -> float:
    """The share of these images (as people hand them over) the model calls "not a digit"; one
    the pipeline calls blank counts as not rejected."""
    return share_turned_away(predictor.predict_prepared([prepare(img) for img in images]))


def share_turned_away(readings: list[Prediction]) -> float:
    """The share of these readings that say "not a digit"; a blank does not."""
    return sum(r.verdict() == "not_a_digit" for r in readings) / len(readings)


def select(
    probabilities: np.ndarray,
    labels: np.ndarray,
    correct: bool,
    true: int | None = None,
    predicted: int | None = None,
    most_confident_first: bool = True,
) -> np.ndarray:
    """Indices of the test images the gallery shows: right or wrong, filtered, sorted by confidence."""
    guess = probabilities.argmax(axis=1)
    keep = (guess == labels) == correct
    if true is not None:
        keep &= labels == true
    if predicted is not None:
        keep &= guess == predicted
    chosen = np.flatnonzero(keep)
    confidence = probabilities[chosen].max(axis=1)
    order = np.argsort(-confidence if most_confident_first else confidence, kind="stable")
    return chosen[order]


@dataclass
class Comparison:
    both_right: np.ndarray  # indices
    only_a: np.ndarray  # A right, B wrong
    only_b: np.ndarray  # B right, A wrong
    both_wrong: np.ndarray


def compare(probabilities_a: np.ndarray, probabilities_b: np.ndarray, labels: np.ndarray) -> Comparison:
    """Which test images each of two models gets right that the other gets wrong."""
    a = probabilities_a.argmax(axis=1) == labels
    b = probabilities_b.argmax(axis=1) == labels
    return Comparison(np.flatnonzero(a & b), np.flatnonzero(a & ~b), np.flatnonzero(~a & b), np.flatnonzero(~a & ~b))
