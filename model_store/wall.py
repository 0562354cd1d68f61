"""What the class's drawings say about the model, for the presenter view: which digits it reads
worst, and what it takes each for (a confusion matrix of the writers' labels against the answers
the model gave when each drawing was saved)."""

from __future__ import annotations

import numpy as np


def confusion(labels: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """(10, 10) counts: row the digit drawn (its writer's label), column the model's answer."""
    counts = np.zeros((10, 10), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(answers, np.int64)), 1)
    return counts


def hardest(counts: np.ndarray, least: int = 3) -> list[tuple[int, float, int]]:
    """(digit, share read right, drawings) of each digit drawn at least `least` times, the worst
    read first: a digit drawn once or twice says nothing yet. Ties go to the one drawn more."""
    drawn = counts.sum(axis=1)
    rows = [(d, float(counts[d, d] / drawn[d]), int(drawn[d])) for d in range(10) if drawn[d] >= least]
    return sorted(rows, key=lambda row: (row[1], -row[2]))
