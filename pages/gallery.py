"""Explore what a model gets right and wrong on the 10,000 test images."""

import altair as alt
import cv2
import numpy as np
import pandas as pd
import streamlit as st

from model_store import ModelStore, StoredModel, load_mnist
from pages.common import model_picker, predictor_of, probability_chart, through_app_frame
from training.evaluation import compare, evaluate_probabilities, select

through_app_frame()

PAGE_SIZE = 24
COLUMNS = 8
ANY = "any"

st.title("Gallery")
_, (x_test, y_test) = load_mnist()


@st.cache_data(show_spinner="Evaluating the model on the 10,000 test images...", max_entries=20)
def test_probabilities(name: str, model_sha256: str) -> np.ndarray:
    """The stored predictions, or, for a model without them, one batched evaluation."""
    store = ModelStore()
    stored = store.test_probabilities(store.get(name))
    return stored if stored is not None else predictor_of(store.get(name)).probabilities(x_test / 255.0)


@st.cache_data
def tiles() -> list[bytes]:
    """Every test image as a small PNG, built once: a page of tiles only picks from this list."""
    return [cv2.imencode(".png", cv2.resize(img, (84, 84), interpolation=cv2.INTER_NEAREST))[1].tobytes() for img in x_test]


def probabilities_of(entry: StoredModel) -> np.ndarray:
    return test_probabilities(entry.name, entry.record.get("model_sha256", ""))


# ---------------------------------------------------------------- summary and confusion matrix


def confusion_chart(confusion: np.ndarray) -> alt.Chart:
    cells = pd.DataFrame([{"true": t, "predicted": p, "images": int(confusion[t, p])} for t in range(10) for p in range(10)])
    cells["mistake"] = np.where(cells["true"] != cells["predicted"], cells["images"], 0)
    pick = alt.selection_point(name="cell", fields=["true", "predicted"], toggle="true")
    base = alt.Chart(cells, width=360, height=360).encode(
        x=alt.X("predicted:O", title="predicted"), y=alt.Y("true:O", title="true digit")
    )
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("mistake:Q", scale=alt.Scale(scheme="oranges"), title="mistakes"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=["true", "predicted", "images"],
    )
    text = base.mark_text(fontSize=11).encode(text="images:Q", color=alt.value("#333"))
    return (heat + text).add_params(pick)


def apply_cell_click(event) -> None:
    """A click on a cell filters the gallery to that true/predicted pair; a second click clears it."""
    cells = event.selection.get("cell", []) if event else []
    picked = (int(cells[-1]["true"]), int(cells[-1]["predicted"])) if cells else None
    if picked == st.session_state.get("gallery_cell"):
        return  # the chart keeps its selection across reruns: act on changes only
    st.session_state["gallery_cell"] = picked
    st.session_state["gallery_true"] = picked[0] if picked else ANY
    st.session_state["gallery_pred"] = picked[1] if picked else ANY
    if picked:
        st.session_state["gallery_kind"] = "Right" if picked[0] == picked[1] else "Wrong"
    st.session_state["gallery_page"] = 1


def summary(probabilities: np.ndarray) -> None:
    ev = evaluate_probabilities(probabilities, y_test)
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{ev.accuracy:.2%}")
    cols[1].metric("Test loss", f"{ev.loss:.4f}")
    cols[2].metric("Wrong", f"{int(ev.confusion.sum() - np.trace(ev.confusion)):,} of 10,000")
    matrix, per_class = st.columns([3, 2])
    with matrix:
        st.caption("Confusion matrix: click a cell to see those images, click it again to clear")
        apply_cell_click(st.altair_chart(confusion_chart(ev.confusion), on_select="rerun", key="gallery_confusion"))
    with per_class:
        st.caption("Accuracy per digit")
        data = pd.DataFrame({"digit": [str(d) for d in range(10)], "accuracy": ev.per_class_accuracy})
        low = min(0.9, np.floor((min(ev.per_class_accuracy) - 0.02) * 20) / 20)  # zoom in, but show every bar
        bars = (
            alt.Chart(data, height=300)
            .mark_bar(clip=True)
            .encode(
                x=alt.X("digit:N", axis=alt.Axis(labelAngle=0)),
                y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[max(0.0, low), 1]), axis=alt.Axis(format="%")),
            )
        )
        st.altair_chart(bars)


# ---------------------------------------------------------------- the gallery and one image


def gallery(probabilities: np.ndarray) -> None:
    st.subheader("The images")
    st.session_state.setdefault("gallery_kind", "Wrong")
    kind, true, pred, order = st.columns([2, 1, 1, 2])
    shown = kind.segmented_control("Show", ["Wrong", "Right"], key="gallery_kind", on_change=lambda: _reset_page())
    digits = [ANY, *range(10)]
    true_digit = true.selectbox("True digit", digits, key="gallery_true", on_change=lambda: _reset_page())
    pred_digit = pred.selectbox("Predicted", digits, key="gallery_pred", on_change=lambda: _reset_page())
    confident_first = (
        order.radio("Sort", ["most confident first", "least confident first"], key="gallery_sort", horizontal=True)
        == "most confident first"
    )
    chosen = select(
        probabilities,
        y_test,
        correct=shown != "Wrong",
        true=None if true_digit == ANY else true_digit,
        predicted=None if pred_digit == ANY else pred_digit,
        most_confident_first=confident_first,
    )
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    if st.session_state.get("gallery_page", 1) > pages:  # fewer images now (another model, a filter)
        st.session_state["gallery_page"] = 1
    page = st.number_input(f"Page (of {pages})", 1, pages, key="gallery_page") if pages > 1 else 1
    st.caption(f"{len(chosen):,} images")
    on_page = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    guesses = probabilities.argmax(axis=1)
    for start in range(0, len(on_page), COLUMNS):
        for col, i in zip(st.columns(COLUMNS), on_page[start : start + COLUMNS]):
            col.image(tiles()[i], caption=f"#{i}: {y_test[i]} → {guesses[i]} ({probabilities[i].max():.0%})")
            col.button("Inspect", key=f"gallery_inspect_{i}", on_click=_inspect, args=(int(i),))


def _reset_page() -> None:
    st.session_state["gallery_page"] = 1


def _inspect(index: int) -> None:
    st.session_state["gallery_detail"] = index


def detail(entry: StoredModel, probabilities: np.ndarray) -> None:
    index = st.session_state.get("gallery_detail")
    if index is None:
        return
    st.subheader(f"Test image #{index}: a {y_test[index]}, read as {probabilities[index].argmax()}")
    image, chart, heat = st.columns([1, 2, 1])
    image.image(x_test[index], caption="the image", width=168)
    with chart:
        st.altair_chart(probability_chart(probabilities[index]), key="gallery_detail_chart")
    looked = predictor_of(entry).occlusion(x_test[index] / 255.0, int(probabilities[index].argmax()))
    overlay = cv2.applyColorMap((looked * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    overlay = (0.55 * overlay + 0.45 * x_test[index][..., None]).astype(np.uint8)
    heat.image(overlay, caption="where it looked: hiding the bright parts hurts the answer most", width=168)


# ---------------------------------------------------------------- notebook D's grid and two models


def random_grid(probabilities: np.ndarray) -> None:
    st.subheader("25 random test images, as notebook D shows them")
    if st.button("Reshuffle", key="gallery_reshuffle", icon=":material/shuffle:"):
        st.session_state["gallery_seed"] = st.session_state.get("gallery_seed", 0) + 1
    picks = np.random.default_rng(st.session_state.get("gallery_seed", 0)).choice(len(x_test), 25, replace=False)
    guesses = probabilities.argmax(axis=1)
    st.image([tiles()[i] for i in picks], caption=[f"test {i} = {guesses[i]}" for i in picks], width=84)


def comparison(entry: StoredModel, probabilities: np.ndarray, others: list[StoredModel]) -> None:
    st.subheader("Compare with another model")
    if not others:
        st.caption("Train or upload a second model to compare.")
        return
    names = [m.name for m in others]
    other = others[names.index(st.selectbox("Other model", names, key="gallery_other"))]
    c = compare(probabilities, probabilities_of(other), y_test)
    cols = st.columns(4)
    cols[0].metric("Both right", f"{len(c.both_right):,}")
    cols[1].metric(f"Only {entry.name} right", f"{len(c.only_a):,}")
    cols[2].metric(f"Only {other.name} right", f"{len(c.only_b):,}")
    cols[3].metric("Both wrong", f"{len(c.both_wrong):,}")
    for title, indices in (
        (f"{entry.name} right, {other.name} wrong", c.only_a),
        (f"{other.name} right, {entry.name} wrong", c.only_b),
    ):
        if len(indices):
            st.caption(f"{title} (first {min(16, len(indices))} of {len(indices)})")
            st.image([tiles()[i] for i in indices[:16]], caption=[f"#{i}: a {y_test[i]}" for i in indices[:16]], width=84)


# ---------------------------------------------------------------- the page

entry, entries = model_picker("gallery_model")
probabilities = probabilities_of(entry)
summary(probabilities)
gallery(probabilities)
detail(entry, probabilities)
random_grid(probabilities)
comparison(entry, probabilities, [m for m in entries if m.name != entry.name])
