"""Training curves that tell the truth: the figures every page's loss and accuracy charts draw.

Keras reports after each batch the running mean of the loss and accuracy *since the start of
the epoch*. Plotted as they are, every epoch restarts the average and the line drops in a cliff
at each epoch boundary, which a class reads as something the model did. Between two reports
n1 and n2 batches into an epoch, with running means m1 and m2, the batches in between had the
mean (n2*m2 - n1*m1) / (n2 - n1): that window mean is what the curves show, continuous across
epochs. Records keep the raw running means (`progress`), so the windows can always be derived.

The epoch axis is continuous: epoch k spans (k-1, k]. A training window is drawn at its middle,
a validation figure (measured at the end of an epoch) at k, and an old record that has only
per-epoch training means draws them at k - 0.5, the middle of the epoch they average.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from training.config import TrainConfig

TRAINING = "training"
VALIDATION = "validation"
COLUMNS = ["epoch", "value", "metric", "series", "point", "best"]


class Report(NamedTuple):
    """One raw progress report: Keras' running means `batch` batches into `epoch` (1-based)."""

    epoch: int
    batch: int
    batches: int
    loss: float | None
    accuracy: float | None


def reports_of(events: Iterable) -> list[Report]:
    """The raw reports among a run's progress events (phases "batch" and "epoch")."""
    return [Report(e.epoch, e.batch, e.batches, e.loss, e.accuracy) for e in events if e.phase in ("batch", "epoch")]


def history_of(events: Iterable) -> dict[str, list[float]]:
    """Per-epoch figures from a run's "epoch" events, as Keras' history holds them."""
    epochs = [e for e in events if e.phase == "epoch"]
    history = {key: [getattr(e, key) for e in epochs] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return {key: values for key, values in history.items() if values and None not in values}


def window_means(reports: Sequence[Sequence], metric: str) -> list[tuple[float, float]]:
    """(epoch position, mean of the batches since the previous report) for one metric."""
    index = Report._fields.index(metric)
    points, epoch, n1, m1 = [], None, 0, 0.0
    for report in reports:
        r = Report(*report)
        if r.epoch != epoch:  # Keras restarts its averages at every epoch
            epoch, n1, m1 = r.epoch, 0, 0.0
        m2 = report[index]
        if m2 is None or r.batch <= n1:  # nothing new since the last report
            continue
        mean = (r.batch * m2 - n1 * m1) / (r.batch - n1)
        points.append((r.epoch - 1 + (n1 + r.batch) / 2 / r.batches, mean))
        n1, m1 = r.batch, m2
    return points


def best_epoch(history: dict, monitor: str) -> int | None:
    """The 1-based epoch a best-only checkpoint keeps (Keras: highest accuracy, lowest loss)."""
    values = history.get(monitor) or []
    if not values:
        return None
    return int(np.argmax(values) if "acc" in monitor else np.argmin(values)) + 1


def _rows(points, metric: str, series: str, point: bool, best_at: int | None = None) -> list[dict]:
    return [
        {"epoch": x, "value": v, "metric": metric, "series": series, "point": point, "best": best_at == x}
        for x, v in points
        if v is not None
    ]


def run_curves(
    reports: Sequence[Sequence] | None,
    history: dict,
    best: int | None = None,
    test: dict | None = None,
) -> pd.DataFrame:
    """One run's curves as long rows: training windows, validation per epoch (the kept best
    epoch flagged), and the final test figure as one point at the last epoch."""
    rows = []
    for metric in ("loss", "accuracy"):
        if reports:
            rows += _rows(window_means(reports, metric), metric, TRAINING, point=False)
        else:  # an old record: only the per-epoch means
            rows += _rows([(k + 0.5, v) for k, v in enumerate(history.get(metric) or [])], metric, TRAINING, point=False)
        validation = list(enumerate(history.get(f"val_{metric}") or [], start=1))
        rows += _rows(validation, metric, VALIDATION, point=True, best_at=best)
        if test and test.get(f"test_{metric}") is not None and rows:
            last = max(r["epoch"] for r in rows)
            label = f"test {test[f'test_{metric}']:.2%}" if metric == "accuracy" else f"test {test[f'test_{metric}']:.4f}"
            rows += _rows([(float(np.ceil(last)), test[f"test_{metric}"])], metric, label, point=True)
    return pd.DataFrame(rows, columns=COLUMNS)


def record_curves(record: dict) -> pd.DataFrame:
    """A stored model's curves, from its record (new records carry their raw reports and the
    kept epoch; for an older one trained with a best-only checkpoint, the epoch is worked out)."""
    history, config = record.get("history") or {}, record.get("config") or {}
    best = record.get("best_epoch")
    if "best_epoch" not in record and config.get("checkpoint_best"):
        best = best_epoch(history, TrainConfig.from_dict(config).monitor)
    return run_curves(record.get("progress"), history, best, record.get("metrics"))


def compare_curves(records: Sequence[dict], metric: str) -> pd.DataFrame:
    """One metric ("loss", "accuracy", "val_loss" or "val_accuracy") of several models, one series
    each, named with the model's final test accuracy."""
    base, split = (metric[4:], VALIDATION) if metric.startswith("val_") else (metric, TRAINING)
    frames = []
    for record in records:
        curves = record_curves(record)
        curves = curves[(curves["metric"] == base) & (curves["series"] == split)].copy()
        accuracy = (record.get("metrics") or {}).get("test_accuracy")
        curves["series"] = record["name"] + (f" (test {accuracy:.2%})" if accuracy is not None else "")
        frames.append(curves)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def value_range(curves: pd.DataFrame, metric: str) -> tuple[float, float] | None:
    """The y range that fits one metric's curves: accuracy zoomed to what the run has reached
    (the first, far lower windows of a run may start below it; every point stays inside), loss
    from 0 to its highest value."""
    part = curves[(curves["metric"] == metric) & np.isfinite(curves["value"].astype(float))]
    if part.empty:
        return None
    values = part["value"].to_numpy(float)
    if metric == "accuracy":
        low, high = min(np.quantile(values, 0.05), np.min(values[part["point"].to_numpy(bool)], initial=1.0)), values.max()
        margin = max(0.1 * (high - low), 0.002)
        return max(0.0, low - margin), min(1.0, high + margin)
    return 0.0, float(values.max()) * 1.05
