"""Draw a digit and watch the model read it as you draw; read digits from image files."""

import time

import cv2
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from model_store import ImageError, Prediction, Predictor, StoredModel, prepare
from model_store.preprocess import IMAGE_TYPES, cells_picture, over_background
from pages.common import model_picker, newest, plain, png_url, predictor_of, through_app_frame
from pages.common.announce import answer_text, live_answer
from pages.common.answer import show_answer, show_details, show_prediction
from pages.common.cell_grid import cell_grid
from pages.common.explain import why
from pages.common.keep import clear_canvas, keep_controls
from pages.common.number import number_mode
from pages.common.payloads import canvas_picture, decoded, within_budget
from pages.common.people import my_class

through_app_frame()

CANVAS_SIZE = 280
BRUSH = 22  # on a 280-px canvas, a digit drawn ~200 px tall then has MNIST's stroke-to-size ratio
ANSWER_ALONE_SECONDS = 0.02  # the answer's head start over the rest of the panel, in drawing()
BLANK = np.zeros((28, 28), np.float32)  # what the model sees before anything is drawn
COMPARED = 8  # models read at each stroke when comparing, at most: each one stays loaded (load_predictor)


# ---------------------------------------------------------------- pieces of the page


def pixel_view(image: np.ndarray, scale: int = 8) -> str:
    """The 28x28 input enlarged, with a faint grid so each pixel shows: a PNG data URL, encoded
    once (an array given to st.image is encoded through Pillow, then fetched by the browser)."""
    big = np.kron(np.clip(image, 0, 1), np.ones((scale, scale), np.float32))
    big[::scale, :] = np.maximum(big[::scale, :], 0.18)
    big[:, ::scale] = np.maximum(big[:, ::scale], 0.18)
    return png_url((big * 255).astype(np.uint8))


BLANK_VIEW = pixel_view(BLANK)  # each Clear shows it twice (the click, then the canvas reporting back empty)


def tile_maps(maps: np.ndarray, columns: int = 8, limit: int = 32) -> np.ndarray:
    """(h, w, channels) feature maps as one image: a grid of small maps, each scaled to [0, 1]."""
    maps = maps[..., :limit]
    lo, hi = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    maps = (maps - lo) / np.where(hi > lo, hi - lo, 1)
    h, w, n = maps.shape
    rows = -(-n // columns)
    grid = np.ones((rows * (h + 1), columns * (w + 1)), np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = maps[..., i]
    return grid


def show_inside(predictor: Predictor, prepared: np.ndarray) -> None:
    for layer in predictor.activations(prepared):
        if layer.kind == "maps":
            h, w, n = layer.values.shape
            st.image(
                tile_maps(layer.values),
                caption=f"{layer.name}: {min(n, 32)} of {n} feature maps, {h}x{w}",
                clamp=True,
                alt=f"Layer {layer.name}: {min(n, 32)} of its {n} feature maps, {h}x{w} each, as a grid of gray squares",
            )
        else:
            st.caption(f"{layer.name}: {len(layer.values)} units")
            st.bar_chart(pd.DataFrame({"activation": layer.values}), height=120)


def show_comparison(entries: list[StoredModel], prepared: np.ndarray) -> None:
    by_name = {e.name: e for e in entries}
    st.session_state.setdefault("draw_compare_models", [m.name for m in newest(entries, COMPARED)])
    names = st.multiselect(
        f"Models compared (at most {COMPARED}; the newest first chosen)",
        list(by_name),
        key="draw_compare_models",
        max_selections=COMPARED,
    )
    rows = []
    for entry in (by_name[n] for n in names if n in by_name):
        probs = predictor_of(entry).probabilities(prepared[None])[0]
        rows.append({"model": entry.name, "digit": int(probs.argmax()), "confidence": float(probs.max())})
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"confidence": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
    )


# ---------------------------------------------------------------- the canvas


def edited_picture() -> tuple[np.ndarray, str] | None:
    """A Gallery image or class drawing opened here to edit ("Edit it"), at the canvas's size, and
    what it is; None for a blank canvas."""
    start = st.session_state.get("draw_start")
    if start is None:
        return None
    return cv2.resize(start[0], (CANVAS_SIZE, CANVAS_SIZE), interpolation=cv2.INTER_LINEAR), start[1]


def blank_canvas() -> None:
    st.session_state.pop("draw_start", None)
    clear_canvas()


# On a narrow screen (a phone, a tablet upright) the columns stack and the answer would sit below
# the canvas, out of sight while drawing: there a one-line answer shows above the canvas (and the
# grid) instead.
# The "No, it is a" digits wrap onto two rows there (Streamlit scrolls them sideways, hiding the 9).
NARROW_SCREEN_CSS = """<style>
.st-key-draw_answer_top, .st-key-draw_grid_answer_top { display: none; }
@media (max-width: 640px) {
  .st-key-draw_answer_top, .st-key-draw_grid_answer_top { display: block; }
  .stButtonGroup > div { flex-wrap: wrap; }
}
</style>"""


def short_answer(prediction: Prediction) -> str:
    if prediction.blank:
        return "**Prediction: -** · draw a digit below"
    if prediction.verdict() == "not_a_digit":
        return f"**Prediction: not a digit** · {prediction.not_digit:.1%} sure"
    return f"**Prediction: {prediction.digit}** · {prediction.confidence:.0%} sure"


@st.fragment
def drawing(predictor: Predictor, entry: StoredModel, entries: list[StoredModel]) -> None:
    """Only this part reruns after each stroke."""
    top = st.container(key="draw_answer_top")  # filled once the drawing is read, below
    left, right = st.columns([1, 1.3], gap="large")
    with left:
        image, fresh = drawn_picture(edited_picture())
    prediction = predictor.predict(image) if fresh else Prediction(None, 0.0, None, None, "nothing drawn")
    top.markdown(short_answer(prediction))
    said = answer_text(prediction, entry.unsure_below)
    live_answer(said, "draw_live")  # said by a screen reader after every stroke
    with right:
        answer_panel(prediction, entry, image, said, fresh)
    looks_inside(predictor, prediction, entry, entries)


def drawn_picture(editing: tuple | None) -> tuple[np.ndarray | None, bool]:
    """The canvas and its buttons; (the picture to read, whether there is a fresh one). A picture
    being edited is behind the canvas: the strokes come back alone and are laid over it."""
    brush = st.slider("Brush width", 6, 48, BRUSH, key="draw_brush", help="the default draws strokes like MNIST's")
    eraser = False
    if editing is not None:
        st.caption(f"Editing {plain(editing[1])}: add ink, or erase with the background's colour.")
        eraser = st.segmented_control("Pen", ["Ink", "Eraser"], default="Ink", key="draw_pen") == "Eraser"
    canvas = st_canvas(
        stroke_width=brush,
        stroke_color="#000000" if eraser else "#FFFFFF",
        background_color="" if editing is not None else "#000000",
        background_image=None if editing is None else Image.fromarray(editing[0]),
        width=CANVAS_SIZE,
        height=CANVAS_SIZE,
        return_image_data=True,
        initial_drawing={"objects": [], "clears": st.session_state.setdefault("draw_canvas_version", 0)},
        key="draw_canvas_edit" if editing is not None else "draw_canvas",
    )
    buttons = st.container(horizontal=True)  # one block where two columns made three: each rerun sends them
    buttons.button("Clear", key="draw_clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    if editing is not None:
        buttons.button("Blank canvas", key="draw_blank", icon=":material/crop_square:", on_click=blank_canvas)
    strokes = (canvas.json_data or {}).get("objects") or []
    if not strokes:
        st.session_state["draw_clearing"] = False  # the canvas reported back empty
    png = canvas.image_bytes  # the PNG as sent, not yet decoded (canvas.image_data would decode it unchecked)
    fresh = bool(strokes) and png is not None and not st.session_state.get("draw_clearing")
    image = canvas_picture(png, CANVAS_SIZE) if fresh else None  # decoded once: each decode of the PNG costs ms
    if editing is not None:
        return (editing[0] if image is None else over_background(editing[0], image)), True
    return image, image is not None


def answer_panel(prediction: Prediction, entry: StoredModel, image, said: str, fresh: bool) -> None:
    """The answer, its details, saving it, and the 28x28 input the model read."""
    note = None
    if prediction.blank and fresh:  # strokes, but nothing a digit could be made of
        note = f"Nothing to read yet: {prediction.blank_reason}. Keep drawing (only a digit can be saved)."
    elif prediction.blank:
        note = "Draw a digit on the black square: the model reads it as you draw."
    show_answer(prediction, entry)
    if not prediction.blank:
        # The answer on its own first: this pause lets Streamlit send it (it flushes every 5 ms)
        # and the browser draw it before the chart, buttons and image arrive; otherwise it is
        # drawn in one pass with them. Mouse-up to answer on screen, over the bare canvas page:
        # +69 ms first stroke, +39 later without the pause; +44 and +20 with it, in one run
        # (docs/performance.md). A sleep holds no CPU: other sessions' reruns go on.
        time.sleep(ANSWER_ALONE_SECONDS)
    show_details(prediction, entry, "draw", note)
    keep_controls(prediction, "draw_keep", "canvas", image, entry.name)
    seen = BLANK_VIEW if prediction.blank else pixel_view(prediction.prepared)
    seen_alt = "The 28x28 input, empty" if prediction.blank else f"The 28x28 input the model reads. {said}"
    st.image(seen, caption="What the model sees: the 28x28 input", width=224, alt=seen_alt)


def looks_inside(predictor: Predictor, prediction: Prediction, entry: StoredModel, entries: list[StoredModel]) -> None:
    """Why, the network's insides and every model's answer, each behind its toggle, after the answer.
    The toggles show before a digit too, off: a first stroke that added them made the browser
    fetch their code and lay the page out again; and they keep their state through a Clear."""
    off = prediction.blank
    if st.toggle("Why? The training images it finds most alike, and where it looked", key="draw_why", disabled=off) and not off:
        why(entry, prediction.prepared, prediction.digit, "draw")  # after the answer: a stroke's answer never waits for it
    if st.toggle("Inside the network: each layer's activations", key="draw_inside", disabled=off) and not off:
        show_inside(predictor, prediction.prepared)
    compare = len(entries) > 1 and st.toggle("Compare every stored model on this drawing", key="draw_compare", disabled=off)
    if compare and not off:
        show_comparison(entries, prediction.prepared)


# ---------------------------------------------------------------- the grid


@st.fragment
def grid_drawing(predictor: Predictor, entry: StoredModel) -> None:
    """A digit made without dragging (pages/common/cell_grid.py), read after every cell."""
    st.subheader("Draw without dragging: ink cells by keyboard, click or tap")
    top = st.container(key="draw_grid_answer_top")  # on a phone, as above the canvas
    left, right = st.columns([1, 1.3], gap="large")
    with left:
        cells = cell_grid("draw_grid")
    blank = Prediction(None, 0.0, None, None, "no cell inked")
    prediction = predictor.predict(cells_picture(cells, CANVAS_SIZE)) if cells.any() else blank
    top.markdown(short_answer(prediction))
    live_answer(answer_text(prediction, entry.unsure_below), "draw_grid_live")
    with right:
        note = f"Nothing to read yet: {prediction.blank_reason}." if prediction.blank else None
        show_prediction(prediction, entry, "draw_grid", note)


# ---------------------------------------------------------------- image files


def uploads(predictor: Predictor, entry: StoredModel) -> None:
    st.subheader("Read digits from image files")
    files = st.file_uploader(
        "Photos, scans or drawings of single digits, dark on light or light on dark",
        type=IMAGE_TYPES,
        accept_multiple_files=True,
        key="draw_upload",
    )
    for i, file in enumerate(within_budget(files or [])):
        image, error = decoded(file.getvalue())
        if error is None:
            try:
                prepared = prepare(image)
            except ImageError as err:
                error = str(err)
        if error is not None:  # one bad file is reported; the others still work
            st.error(f"{file.name}: {error}", icon=":material/broken_image:")
            continue
        prediction = predictor.predict_prepared([prepared])[0]
        with st.container(border=True):
            original, seen, answer = st.columns([1, 1, 2])
            original.image(image, caption=file.name, width=140, clamp=True, alt=f"The uploaded file {file.name}")
            if prediction.blank:
                answer.warning(f"{file.name}: {prediction.blank_reason}")
                continue
            seen.image(
                pixel_view(prediction.prepared, 5),
                caption="What the model sees",
                width=140,
                alt=f"{file.name} as the 28x28 input the model reads: {answer_text(prediction, entry.unsure_below)}",
            )
            with answer:
                show_prediction(prediction, entry, f"upload_{i}")
                keep_controls(prediction, f"draw_keep_upload_{i}", "upload", image, entry.name)
            if st.toggle("Why? The training images it finds most alike, and where it looked", key=f"draw_why_upload_{i}"):
                why(entry, prediction.prepared, prediction.digit, f"upload_{i}")


# ---------------------------------------------------------------- the page

st.title("Draw a digit")
st.html(NARROW_SCREEN_CSS)
entry, entries = model_picker("draw_model", my_class())
predictor = predictor_of(entry)
mode = st.segmented_control(
    "Mode", ["One digit", "Write a number"], default="One digit", key="draw_mode", label_visibility="collapsed"
)
if mode == "Write a number":  # its label hidden: on a 360x640 phone it pushed the canvas below the fold
    number_mode(predictor, entry)  # a wide canvas, cut into digits
else:
    drawing(predictor, entry, entries)
    grid_drawing(predictor, entry)  # the same digit without dragging
uploads(predictor, entry)
