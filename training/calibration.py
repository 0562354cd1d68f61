"""Confidence you can trust: temperature scaling (Guo et al., 2017) fitted on held-out images, the
expected calibration error (ECE) and the reliability diagram's bins, and the "Not sure" threshold
chosen from data.

    python -m training.calibration [--model NAME] [--n 1000]

fits a stored model's temperature, prints each set's ECE before and after, and keeps the result
in the model's record (`ModelStore.annotate`): the pages and `predict` then show calibrated
confidences.

The images: the first half of MNIST's test set and one draw of the check sets (canvas, printed,
scans, strokes; `training.checksets`) to fit; the second half of MNIST test and another draw of
the check sets (another seed: other strokes, fonts' placements, scans) to measure. None of them is
training data. For a model that answers "not a digit" it also measures, once calibrated, the
share of each set's real digits, of the whole MNIST test set and of the held-out non-digits
(`training.nondigits`) it turns away.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass

import numpy as np

from model_store import ModelStore, Predictor, StoredModel, load_mnist, prepare
from model_store.predict import called_not_a_digit, joined, split_not_digit, tempered
from model_store.store import UNSURE

BINS = 10  # the reliability diagram's: 0-10%, ..., 90-100%
FIT_SEED, MEASURE_SEED = 101, 202  # the check sets' draws: one to fit, another to measure
CHECK_IMAGES = 1000  # per check set and draw


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """The gap between how sure the answers are and how often they are right, bin by bin of
    confidence, weighted by how many answers fall in each bin."""
    return sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in reliability(probabilities, labels, bins)) / max(
        1, len(labels)
    )


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin (only those with answers): mean confidence, share right, how many."""
    confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": b / bins,
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(right[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return rows


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that makes these answers' log-likelihood highest (a 1-D search)."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(probabilities, 1e-12, 1))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(axis=1))).mean())

    return float(np.exp(minimize_scalar(loss, bounds=(np.log(0.05), np.log(20)), method="bounded").x))


def unsure_threshold(probabilities: np.ndarray, labels: np.ndarray, mistakes: float = 0.5) -> float:
    """The confidence under which the page says "Not sure": the one under which `mistakes` (half)
    of the held-out mistakes fall, rounded down to a percent (0.6 when there are none)."""
    confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    if right.all():
        return UNSURE
    return float(np.floor(np.quantile(confidence[~right], mistakes) * 100) / 100)


@dataclass
class Calibration:
    temperature: float
    unsure_below: float  # a calibrated confidence
    sets: dict  # per measuring set: {"ece_before", "ece_after", "accuracy", "unsure", "caught", "reliability"...,
    # and "not_a_digit" (the share turned away) from a model with that answer}
    non_digits_rejected: float | None = None  # the held-out non-digits turned away, calibrated
    test_not_a_digit: float | None = None  # the MNIST test digits (all 10,000) turned away, calibrated


def _readings(predictor: Predictor, seed: int, half: slice, n: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each set's digit probabilities, labels and probabilities of "not a digit" (images the
    pipeline calls blank left out)."""
    from training.checksets import make_checksets

    _, (x, y) = load_mnist()
    sets = {"MNIST test": (*predictor.read(x[half] / np.float32(255)), y[half])}
    for check in make_checksets(n, seed=seed):
        prepared = [prepare(image).image for image in check.images]
        kept = [i for i, p in enumerate(prepared) if p is not None]
        sets[check.name] = (*predictor.read(np.stack([prepared[i] for i in kept])), check.labels[kept])
    return {name: (p, labels, not_digit) for name, (p, not_digit, labels) in sets.items()}


def _caught(probabilities: np.ndarray, labels: np.ndarray, unsure: float) -> float | None:
    """The share of the mistakes the "Not sure" notice comes with."""
    wrong = probabilities.argmax(axis=1) != labels
    return float((probabilities[wrong].max(axis=1) < unsure).mean()) if wrong.any() else None


def calibrate(predictor: Predictor, n: int | None = None) -> Calibration:
    """Fit on one half of the images, measure on the other (the module's docstring): n images per
    check set (CHECK_IMAGES). `predictor` gives the model's own confidences (temperature 1)."""
    n = n or CHECK_IMAGES
    fit = _readings(predictor, FIT_SEED, slice(0, 5000), n)
    probabilities = np.concatenate([p for p, _, _ in fit.values()])
    labels = np.concatenate([y for _, y, _ in fit.values()])
    temperature = fit_temperature(probabilities, labels)
    unsure = unsure_threshold(tempered(probabilities, temperature), labels)
    sets = {}
    measured = _readings(predictor, MEASURE_SEED, slice(5000, 10000), n)
    for name, (p, y, not_digit) in measured.items():
        after = tempered(p, temperature)
        sets[name] = {
            "ece_before": expected_calibration_error(p, y),
            "ece_after": expected_calibration_error(after, y),
            "accuracy": float((p.argmax(axis=1) == y).mean()),
            "unsure": float((after.max(axis=1) < unsure).mean()),  # answers the page calls unsure
            "caught": _caught(after, y, unsure),
            "reliability_before": reliability(p, y),
            "reliability": reliability(after, y),
        }
        if predictor.knows_non_digits:  # real digits it turns away, as sure as the pages will say
            sets[name]["not_a_digit"] = float(called_not_a_digit(tempered_not_digit(p, not_digit, temperature)).mean())
    if not predictor.knows_non_digits:
        return Calibration(round(temperature, 4), unsure, sets)
    # The record's figures, from training, are at temperature 1: these are what the pages will say.
    halves = (fit["MNIST test"], measured["MNIST test"])
    turned = np.concatenate([called_not_a_digit(tempered_not_digit(p, not_digit, temperature)) for p, _, not_digit in halves])
    rejected = _non_digits_rejected(predictor, temperature)
    return Calibration(round(temperature, 4), unsure, sets, rejected, float(turned.mean()))


def tempered_not_digit(probabilities: np.ndarray, not_digit: np.ndarray, temperature: float) -> np.ndarray:
    """The probability of "not a digit" at `temperature`, from a temperature-1 reading."""
    return split_not_digit(tempered(joined(probabilities, not_digit), temperature))[1]


def _non_digits_rejected(predictor: Predictor, temperature: float) -> float:
    """The share of the held-out non-digits (as in the record's figure) turned away once calibrated."""
    from model_store.evaluation import share_called_not_a_digit
    from training.nondigits import HELD_OUT_NON_DIGITS, held_out_set

    calibrated = Predictor(predictor.model, predictor.normalization, temperature)
    return share_called_not_a_digit(calibrated, held_out_set(HELD_OUT_NON_DIGITS))


def keep(store: ModelStore, entry: StoredModel, calibration: Calibration) -> StoredModel:
    """In the model's record (`ModelStore.annotate`): renamed, backed up and deleted with it."""
    return store.annotate(entry, "calibration", asdict(calibration))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a stored model's name (default: the default model)")
    parser.add_argument("--store", help="the model directory (default: $MNIST_LAB_MODELS or models/)")
    parser.add_argument("--n", type=int, default=CHECK_IMAGES, help=f"images per check set (default {CHECK_IMAGES})")
    args = parser.parse_args(argv)
    store = ModelStore(args.store) if args.store else ModelStore()
    model, entry = store.load(args.model)
    calibration = calibrate(Predictor(model, entry.normalization), args.n)
    print(f"model {entry.name}: temperature {calibration.temperature:.3f}, 'Not sure' below {calibration.unsure_below:.0%}")
    print(
        f"{'set':12} {'accuracy':>9} {'ECE before':>11} {'ECE after':>10} {'unsure':>7} {'of mistakes':>12} {'not a digit':>12}"
    )
    for name, s in calibration.sets.items():
        caught = "-" if s["caught"] is None else f"{s['caught']:.0%}"
        turned_away = f"{s['not_a_digit']:.1%}" if "not_a_digit" in s else "-"
        print(
            f"{name:12} {s['accuracy']:9.2%} {s['ece_before']:11.2%} {s['ece_after']:10.2%} {s['unsure']:7.1%} {caught:>12} "
            f"{turned_away:>12}"
        )
    if calibration.test_not_a_digit is not None:
        print(
            f"called not a digit: {calibration.test_not_a_digit:.2%} of MNIST test (all of it), "
            f"{calibration.non_digits_rejected:.1%} of the held-out non-digits"
        )
    try:
        keep(store, entry, calibration)
    except (OSError, ValueError) as err:
        print(f"not kept: {err}", file=sys.stderr)
        return 1
    print(f"kept in {entry.name}'s record, in {store.where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
