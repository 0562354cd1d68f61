"""Explore what a model gets right and wrong: on MNIST's 10,000 test images, or on the class's own
drawings (everyone's, or one person's), with the same instruments."""

import numpy as np
import pandas as pd
import streamlit as st

from model_store import StoredModel
from model_store.database import DatabaseError
from model_store.drawings import Drawings
from model_store.evaluation import compare, evaluate_probabilities, select
from model_store.roles import NotAllowed, owns
from pages.common import (
    MNIST_TEST,
    called_not_digits,
    model_picker,
    newest,
    plain,
    predictor_of,
    probability_chart,
    through_app_frame,
)
from pages.common.charts import confusion_chart, per_digit_chart
from pages.common.explain import heat_overlay, why
from pages.common.image_sets import ImageSet, class_drawings, mnist_test, probabilities_of, tiles
from pages.common.people import me, my_class, with_you

through_app_frame()

PAGE_SIZE = 24
COLUMNS = 8
ANY = "any"

st.title("Gallery")
EVERYONE = "everyone"


def choose_images() -> ImageSet | None:
    """MNIST test, or the class drawings (everyone's or one person's); None when there are none."""
    st.session_state.setdefault("gallery_set", "MNIST test")
    left, right = st.columns(2)
    if (
        left.segmented_control("Images", ["MNIST test", "Class drawings"], key="gallery_set", on_change=_new_set)
        != "Class drawings"
    ):
        return mnist_test()
    try:
        drawings = Drawings(class_id=my_class())
        version, writers = drawings.version(), drawings.writers()
    except DatabaseError as err:
        st.error(str(err), icon=":material/error:")
        return None
    if not version[0]:
        st.info('No class drawings yet: on the Draw page, "Right" or "No, it is a ..." saves a drawing.', icon=":material/draw:")
        return None
    person = me()
    whose = right.selectbox(
        "Whose", [EVERYONE, *writers], key="gallery_writer", on_change=_new_set, format_func=lambda w: with_you(w, person)
    )
    return class_drawings(None if whose == EVERYONE else whose, my_class(), version)


# ---------------------------------------------------------------- summary and confusion matrix


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


def summary(probabilities: np.ndarray, images: ImageSet, turned: np.ndarray | None) -> None:
    """`turned`: the drawings the model calls "not a digit" (None: it has no such answer, or MNIST)."""
    ev = evaluate_probabilities(probabilities, images.labels)
    cols = st.columns(3 if turned is None else 4)
    cols[0].metric(f"Accuracy on {plain(images.title)}", f"{ev.accuracy:.2%}")
    cols[1].metric("Loss", f"{ev.loss:.4f}")
    cols[2].metric("Wrong", f"{int(ev.confusion.sum() - np.trace(ev.confusion)):,} of {len(images.labels):,}")
    if turned is not None:
        cols[3].metric(
            "Called not a digit",
            f"{int(turned.sum()):,}",
            help="drawings it says don't look like a digit; the figures beside count the digit it would read",
        )
    matrix, per_class = st.columns([3, 2])
    with matrix:
        st.caption("Confusion matrix: click a cell to see those images, click it again to clear")
        apply_cell_click(st.altair_chart(confusion_chart(ev.confusion), on_select="rerun", key="gallery_confusion"))
    with per_class:
        st.caption("Accuracy per digit")
        st.altair_chart(per_digit_chart(ev.per_class_accuracy))


# ---------------------------------------------------------------- the gallery and one image


def gallery(probabilities: np.ndarray, images: ImageSet, turned: np.ndarray | None) -> None:
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
        images.labels,
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
            answer = "not a digit" if turned is not None and turned[i] else f"{guesses[i]} ({probabilities[i].max():.0%})"
            caption = f"{images.names[i]}: {images.labels[i]} → {answer}"
            col.image(
                tiles(images)[i], caption=caption, alt=f"{images.item} {images.names[i]}: a {images.labels[i]}, read as {answer}"
            )
            col.button("Inspect", key=f"gallery_inspect_{i}", on_click=_inspect, args=(int(i),))


def _reset_page() -> None:
    st.session_state["gallery_page"] = 1


def _new_set() -> None:
    """Other images: the page, the image inspected and the confusion filter belonged to the old ones."""
    _reset_page()
    st.session_state.update(gallery_detail=None, gallery_cell=None, gallery_true=ANY, gallery_pred=ANY)


def _inspect(index: int) -> None:
    st.session_state["gallery_detail"] = index


def detail(entry: StoredModel, probabilities: np.ndarray, images: ImageSet) -> None:
    index = st.session_state.get("gallery_detail")
    if index is None or index >= len(images.labels):
        return
    x = images.images[index]
    st.subheader(f"{images.item} {images.names[index]}: a {images.labels[index]}, read as {probabilities[index].argmax()}")
    image, chart, heat = st.columns([1, 2, 1])
    read = f"a {images.labels[index]}, read as {probabilities[index].argmax()}"
    image.image(x, caption="the image", width=168, alt=f"{images.item} {images.names[index]}: {read}")
    with chart:
        st.vega_lite_chart(spec=probability_chart(probabilities[index]), key="gallery_detail_chart")
    looked = predictor_of(entry).occlusion(x / 255.0, int(probabilities[index].argmax()))
    heat.image(
        heat_overlay(looked, x),
        caption="where it looked: hiding the bright parts hurts the answer most",
        width=168,
        alt=f"Heat map over {images.item} {images.names[index]}: where the model looked to read it",
    )
    if st.button("Edit it on the Draw page", key="gallery_edit", icon=":material/edit:"):
        st.session_state["draw_start"] = (x, f"{images.item} {images.names[index]} (a {images.labels[index]})")
        st.switch_page("pages/draw.py")
    if st.toggle("Why? The training images it finds most alike, and where it looked", key="gallery_why"):
        why(entry, x / np.float32(255), int(probabilities[index].argmax()), "gallery")
    if images.ids is not None:
        moderate(int(images.ids[index]))


def moderate(drawing_id: int) -> None:
    """Where a bad drawing is seen: its writer deletes it; the teacher it, or all of its writer's."""
    person = me()
    try:
        drawing = Drawings(class_id=person.class_id).get(drawing_id)
    except (KeyError, DatabaseError):
        return  # deleted meanwhile
    if error := st.session_state.pop("gallery_delete_error", None):
        st.error(plain(error), icon=":material/error:")
    if not (person.teacher or owns(person, drawing.owner)):
        return
    one, every = st.columns(2)
    one.button("Delete this drawing", key="gallery_delete", icon=":material/delete:", on_click=_delete, args=(drawing_id,))
    if person.teacher:
        label = f"Delete all by {plain(drawing.writer)}"
        every.button(label, key="gallery_delete_all", type="primary", on_click=_delete, args=(drawing_id, drawing.writer))


def _delete(drawing_id: int, all_by: str | None = None) -> None:
    """Before the rerun (a callback), so the set of images can change with it."""
    person = me()
    db = Drawings(class_id=person.class_id)
    try:
        done = f"Deleted {db.delete_all(person, all_by)} drawings by {all_by}" if all_by else db.delete(drawing_id, person)
    except (DatabaseError, NotAllowed, KeyError) as err:
        st.session_state["gallery_delete_error"] = str(err)
        return
    st.toast(plain(done or "Deleted the drawing"), icon=":material/delete:")
    _new_set()
    if all_by:
        st.session_state["gallery_writer"] = EVERYONE


# ---------------------------------------------------------------- notebook D's grid and two models


def random_grid(probabilities: np.ndarray, images: ImageSet) -> None:
    n = min(25, len(images.labels))
    st.subheader(f"{n} random images of the {plain(images.title)}, as notebook D shows them")
    if st.button("Reshuffle", key="gallery_reshuffle", icon=":material/shuffle:"):
        st.session_state["gallery_seed"] = st.session_state.get("gallery_seed", 0) + 1
    picks = np.random.default_rng(st.session_state.get("gallery_seed", 0)).choice(len(images.labels), n, replace=False)
    guesses = probabilities.argmax(axis=1)
    alts = [f"{images.item} {images.names[i]}: a {images.labels[i]}, read as {guesses[i]}" for i in picks]
    st.image([tiles(images)[i] for i in picks], caption=[f"{images.names[i]} = {guesses[i]}" for i in picks], width=84, alt=alts)


TABLED = 20  # models read on the drawings for the table, at most: pages.common.set_readings keeps 40 sets


def every_model(entries: list[StoredModel], images: ImageSet) -> None:
    """How each stored model reads the class's handwriting, beside its MNIST test accuracy."""
    st.subheader(f"Every model on the {plain(images.title)}")
    if len(entries) > TABLED:
        st.caption(f"The {TABLED} newest of {len(entries)} models; choose another above to see its figures.")
        entries = newest(entries, TABLED)
    rows = [
        {
            "model": m.name,
            f"{images.title} ({len(images.labels)})": float((probabilities_of(m, images).argmax(axis=1) == images.labels).mean()),
            "MNIST test": m.record.get("metrics", {}).get("test_accuracy"),
            "taught on": m.record.get("teach", {}).get("drawings_taught"),
            "held back, when taught": m.record.get("teach", {}).get("held_back_accuracy_after"),
        }
        for m in entries
    ]
    percent = st.column_config.NumberColumn(format="percent")
    columns = {c: percent for c in rows[0] if c not in ("model", "taught on")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config=columns)
    if any(r["taught on"] for r in rows):
        st.caption(
            "A taught model has seen the class drawings it was taught on, so its figure on them flatters it: "
            "the drawings held back when it was taught, which it never saw, are the fair measure."
        )


def comparison(entry: StoredModel, probabilities: np.ndarray, others: list[StoredModel], images: ImageSet) -> None:
    st.subheader("Compare with another model")
    if not others:
        st.caption("Train or upload a second model to compare.")
        return
    names = [m.name for m in others]
    other = others[names.index(st.selectbox("Other model", names, key="gallery_other"))]
    c = compare(probabilities, probabilities_of(other, images), images.labels)
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
            shown = indices[:16]
            st.image(
                [tiles(images)[i] for i in shown],
                caption=[f"{images.names[i]}: a {images.labels[i]}" for i in shown],
                width=84,
                alt=[f"{images.item} {images.names[i]}: a {images.labels[i]}" for i in shown],
            )


# ---------------------------------------------------------------- the page

entry, entries = model_picker("gallery_model", my_class())
images = choose_images()
if images is not None:
    probabilities = probabilities_of(entry, images)
    turned = None if images.ids is None else called_not_digits(entry, images.key, images.images)
    summary(probabilities, images, turned)
    if images.key != MNIST_TEST:
        every_model(entries, images)
    gallery(probabilities, images, turned)
    detail(entry, probabilities, images)
    random_grid(probabilities, images)
    comparison(entry, probabilities, [m for m in entries if m.name != entry.name], images)
