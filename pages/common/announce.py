"""The answer for a screen reader: one sentence, said in an ARIA live region after every stroke or
grid change, and the same sentence as the text alternative of the images that show the answer."""

import html

import numpy as np
import streamlit as st

from model_store import Prediction
from model_store.predict import UNSURE


def answer_text(prediction: Prediction, unsure_below: float = UNSURE) -> str:
    """What the page shows as the answer, in one sentence: "Prediction: 7, 92% sure", with "not
    sure, it could be a 9" under the model's threshold (the page's warning), "Not a digit, 88%
    sure", or "Nothing to read" and why."""
    verdict = prediction.verdict(unsure_below)
    if verdict == "blank":
        return "Nothing to read" + (f": {prediction.blank_reason}" if prediction.blank_reason else "")
    if verdict == "not_a_digit":
        return f"Not a digit, {prediction.not_digit:.0%} sure"
    said = f"Prediction: {prediction.digit}, {prediction.confidence:.0%} sure"
    if verdict == "unsure":
        said += f"; not sure, it could be a {int(np.argsort(-prediction.probabilities)[1])}"
    return said


def live_answer(text: str, key: str) -> None:
    """`text` in a polite live region (role "status"): a screen reader says it when it changes,
    without moving the reader's place. Out of sight (the page shows the answer already) but not
    hidden from assistive technology, and out of the column's flow, so it adds no gap. The element
    stays the same from one rerun to the next (Streamlit updates its text in place: the browser
    test checks it), which is what makes a change announced."""
    st.container(key=key).markdown(
        f"<style>.st-key-{key} {{ {VISUALLY_HIDDEN} }}</style>"
        f'<div role="status" aria-live="polite" aria-atomic="true">{html.escape(text)}</div>',
        unsafe_allow_html=True,
    )


# The usual "screen reader only" rule: 1 px, clipped; display:none would silence it as well.
VISUALLY_HIDDEN = "position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap;"
