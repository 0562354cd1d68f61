"""The model's answer to one image, as the Draw page shows it for the canvas, the grid and each
uploaded file: the digit (or "Not a digit"), its confidence, a note when unsure, the ten bars."""

import numpy as np
import streamlit as st

from model_store import Prediction, StoredModel
from pages.common import probability_chart


def show_prediction(prediction: Prediction, entry: StoredModel, key: str, note: str | None = None) -> None:
    """The answer, its confidence and the ten probabilities."""
    show_answer(prediction, entry)
    show_details(prediction, entry, key, note)


def show_answer(prediction: Prediction, entry: StoredModel) -> None:
    meaning = (
        "; its confidence is calibrated on held-out images: when it says 80%, it is right about 80% of the time"
        if entry.calibration
        else "; its confidence is as the model gives it (not calibrated)"
    )
    verdict = prediction.verdict(entry.unsure_below)
    shown = {"blank": "-", "not_a_digit": "Not a digit"}.get(verdict, prediction.digit)
    st.metric("Prediction", shown, help='the model\'s most likely digit, or "Not a digit" when that is likelier' + meaning)


def show_details(prediction: Prediction, entry: StoredModel, key: str, note: str | None = None) -> None:
    """The confidence, a note, the ten probabilities. A blank shows the same elements ("-", an
    empty bar and chart), so a stroke only updates them: when the first stroke made the browser
    build them, a session's first answer came ~100 ms later than the next ones."""
    verdict = prediction.verdict(entry.unsure_below)
    if verdict == "blank":
        st.progress(0.0, text="Confidence -")
    elif verdict == "not_a_digit":
        st.progress(prediction.not_digit, text=f"Not a digit {prediction.not_digit:.1%}")
    else:
        st.progress(prediction.confidence, text=f"Confidence {prediction.confidence:.1%}")
    # One slot for the note, filled or not: a warning that came and went between strokes moved
    # the chart below it to another place in the page, and the browser built the chart anew.
    slot = st.empty()
    p = prediction.probabilities
    if note:
        slot.info(note, icon=":material/draw:")
    elif verdict == "not_a_digit":
        slot.warning(
            f"That doesn't look like a digit ({prediction.not_digit:.1%} sure): it is more like the letters, shapes and "
            f"doodles this model learnt to tell apart from digits. Still drawing? Go on. Were it a digit, it would be a "
            f"{prediction.digit} ({p.max():.0%}), as the bars show.",
            icon=":material/block:",
        )
    elif verdict == "unsure":
        first, second = np.argsort(-p)[:2]
        slot.warning(
            f"Not sure: it could be a {first} ({p[first]:.0%}) or a {second} ({p[second]:.0%}). "
            + (
                f"Under {entry.unsure_below:.0%} it says so: half of its mistakes on held-out images come under it."
                if entry.calibration
                else ""
            )
        )
    st.vega_lite_chart(spec=probability_chart(np.zeros(10) if verdict == "blank" else p), key=f"{key}_chart")
