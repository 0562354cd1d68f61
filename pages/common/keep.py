"""Keeping a drawing for the class (the Draw page): "Right, it is a 7" or "No, it is a ...", saved
with its writer; kept in the session and saved again when the database refuses. And clearing the
canvas for the next digit."""

import cv2
import numpy as np
import streamlit as st

from model_store import Prediction
from model_store.database import DatabaseError
from model_store.drawings import Drawings
from pages.common import plain
from pages.common.people import me, my_class, who_am_i


def png_of(image: np.ndarray) -> bytes:
    """The canvas (RGBA) or a decoded file (gray or RGB, 8 or 16 bits) as a PNG, as it was drawn."""
    a = np.asarray(image)
    if a.dtype != np.uint8:  # a 16-bit scan decodes to floats: stretched to 0-255
        a = a.astype(np.float32)
        a = ((a - a.min()) / max(float(a.max() - a.min()), 1e-6) * 255).astype(np.uint8)
    if a.ndim == 3:  # OpenCV writes BGR(A)
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA if a.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    return cv2.imencode(".png", a)[1].tobytes()


def save(prediction: Prediction, label: int, source: str, original: np.ndarray, model: str) -> None:
    """Keep the drawing with its writer's label. When the database fails, it is kept in the
    session (`draw_unsaved`) and "Save again" tries once more: nothing drawn is lost."""
    person = me(keep=True)  # a guest saving their first drawing is written down
    drawing = dict(
        image=prediction.prepared,
        label=int(label),
        writer=person.name,
        browser=person.session,
        source=source,
        original=png_of(original),
        model=model,
        probabilities=prediction.probabilities,
    )
    st.session_state.setdefault("draw_unsaved", []).append(drawing)
    if save_waiting() and source == "canvas":
        clear_canvas()  # saved: ready for the next digit


def save_waiting() -> bool:
    """Save every drawing the session still holds; True when none is left."""
    waiting = st.session_state.get("draw_unsaved", [])
    try:
        while waiting:
            Drawings(class_id=my_class()).add(**waiting[0])
            saved = waiting.pop(0)
            st.session_state["draw_saved"] = st.session_state.get("draw_saved", 0) + 1
            st.toast(f"Saved as a {saved['label']}. Thank you!", icon=":material/check:")
        st.session_state.pop("draw_save_error", None)
        return True
    except DatabaseError as err:
        st.session_state["draw_save_error"] = str(err)
        return False


def save_wrong(key: str, prediction: Prediction, source: str, original: np.ndarray, model: str) -> None:
    label = st.session_state[key]
    st.session_state[key] = None  # the choice is spent: the next drawing starts with none picked
    if label is not None:
        save(prediction, label, source, original, model)


def keep_controls(prediction: Prediction, key: str, source: str, original: np.ndarray, model: str) -> None:
    """ "Right" keeps the drawing with the model's answer as its label; "No, it is a ..." with the
    writer's (both shown, disabled, before there is a digit; "Right" disabled, and all ten digits
    offered, when the model says it is no digit). The counts say how many the writer and the class
    have kept."""
    args, blank = (prediction, prediction.digit, source, original, model), prediction.blank
    if prediction.verdict() == "not_a_digit":  # the class keeps digits: a real one turned away gets its label below
        st.button("Right, it is no digit (only digits are kept)", key=f"{key}_right", icon=":material/check:", disabled=True)
        others = list(range(10))
    else:
        right = f"Right, it is a {'...' if blank else prediction.digit}"
        st.button(right, key=f"{key}_right", icon=":material/check:", on_click=save, args=args, disabled=blank)
        others = [d for d in range(10) if d != prediction.digit]
    wrong_args = (f"{key}_label", *args[:1], *args[2:])
    st.pills("No, it is a", others, key=f"{key}_label", on_change=save_wrong, args=wrong_args, disabled=blank)
    saved_counts(key)


@st.cache_data(ttl=10, show_spinner=False, max_entries=1000)
def tally(writer: str, class_id: str, saved_here: int) -> tuple[int, int]:
    """The writer's and the class's drawings, counted at most every 10 s (the page asked the database
    at every stroke otherwise); `saved_here` changes with each save from this session, so it shows."""
    return Drawings(class_id=class_id).tally(writer)


def saved_counts(key: str) -> None:
    if error := st.session_state.get("draw_save_error"):
        waiting = len(st.session_state.get("draw_unsaved", []))
        st.error(f"{waiting} drawing{'s' if waiting > 1 else ''} not saved yet: {plain(error)}. Kept here until it works.")
        st.button("Save again", key=f"{key}_save_again", icon=":material/refresh:", on_click=save_waiting)
        return
    try:
        mine, everyone = tally(who_am_i(), my_class(), st.session_state.get("draw_saved", 0))
    except DatabaseError as err:
        st.caption(f":material/warning: {err}")
        return
    st.caption(f"Saved with your name ({plain(who_am_i())}) for the class to study: {mine} by you, {everyone} by the class.")


def clear_canvas() -> None:
    """Runs before the rerun the click starts, so that one rerun hands the canvas its new props.

    A changed initial drawing makes the canvas reload it, empty, and report back; until then it
    still returns the drawing just cleared, which must read as blank.
    """
    st.session_state["draw_canvas_version"] += 1
    st.session_state["draw_clearing"] = True
