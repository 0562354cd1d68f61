"""Test-set evaluation from predicted probabilities: loss, accuracy, per class, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store import Predictor, load_mnist


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy of the true class
    accuracy: float
    per_class_accuracy: list[float]  # digits 0..9
    confusion: np.ndarray  # (10, 10): rows are true digits, columns predictions
    probabilities: np.ndarray  # (n, 10)

    def metrics(self) -> dict:
        """The JSON-ready part of the record (the probabilities are stored beside it)."""
        return {
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


def evaluate(predictor: Predictor, limit: int | None = None) -> Evaluation:
    """Evaluate on the MNIST test set (the first `limit` images when given)."""
    _, (x_test, y_test) = load_mnist()
    x, y = x_test[:limit], y_test[:limit]
    return evaluate_probabilities(predictor.probabilities(x / 255.0), y)


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
