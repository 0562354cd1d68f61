"""The presenter view (`/present`), for the projector (1920x1080, fullscreen): a big canvas and its
answer in huge type, and beside it the class wall (the newest drawings as they are saved, who drew
them, what the model answered, its mistakes marked) and the confusion matrix of the class's drawings."""

import numpy as np
import streamlit as st

from model_store import Prediction
from model_store.database import DatabaseError
from model_store.drawings import Drawing, Drawings
from model_store.wall import class_address, confusion, hardest, qr_code
from pages.common import model_picker, predictor_of, probability_chart, through_app_frame
from pages.common.keep import clear_canvas
from pages.common.payloads import ink_canvas
from pages.common.people import my_class

through_app_frame()

CANVAS = 440  # the Draw page's 280 px would be a stamp on a projector; 440 fits beside the answer at 1920
BRUSH = 35  # the Draw page's 22 px on 280, scaled: MNIST's stroke-to-size ratio
WALL = 12  # drawings on the wall: two rows of six, readable from the back
WALL_SECONDS = 1.0  # how often the wall looks for new drawings: one saved shows within 2 s
ANSWER = 380  # the answer's and the bars' width, px
TILE = 140  # a drawing's side on the wall, px: 5 px a pixel
RIGHT, WRONG = (46, 204, 113), (228, 87, 46)  # a tile's frame: read right, or a mistake

# Type for the back row: the answer at 200 px, the wall's captions and the notes at 24 px.
# Streamlit's header and top padding are for a laptop: here they would push the canvas down.
CSS = """<style>
.st-key-present_answer p { font-size: 200px; line-height: 1; font-weight: 700; margin: 0; text-align: center; }
.st-key-present_note p, .st-key-present_hardest p { font-size: 24px; }
.st-key-present_join p { font-size: 40px; }
.st-key-present_wall [data-testid="stImageCaption"] { max-width: 152px; overflow-wrap: anywhere; }
.st-key-present_wall [data-testid="stImageCaption"] p { font-size: 20px; line-height: 1.2; }
[data-testid="stMainBlockContainer"] { padding: 4rem 1.5rem 1rem 1.5rem; }
[data-testid="stHeading"] h1 { font-size: 2rem; padding: 0; }
</style>"""


def big_chart(probabilities: np.ndarray) -> dict:
    """The ten probabilities as the Draw page's bars, tall and in large type."""
    spec = probability_chart(probabilities)
    return spec | {"height": 320, "config": {"axis": {"labelFontSize": 28, "titleFontSize": 22}}}


def answer_text(prediction: Prediction) -> tuple[str, str]:
    """The answer in a character or two, and a line under it."""
    if prediction.blank:
        return "-", "Draw a digit on the black square."
    if prediction.verdict() == "not_a_digit":
        return "?", f"That doesn't look like a digit ({prediction.not_digit:.0%} sure)."
    return str(prediction.digit), f"{prediction.confidence:.1%} sure"


@st.fragment
def board(predictor, entry) -> None:
    """The canvas and its answer; only this reruns after a stroke."""
    # Boxes of fixed widths side by side, wrapping on a narrower screen: a column narrower than
    # the canvas would cut it off (the canvas keeps its size in pixels).
    row = st.container(horizontal=True, gap="large")
    left, right = row.container(width=CANVAS), row.container(width=ANSWER)
    with left:
        image = ink_canvas(CANVAS, CANVAS, BRUSH, "present_canvas")
        st.button("Clear (X)", key="present_clear", icon=":material/ink_eraser:", on_click=clear_canvas, shortcut="x")
    prediction = predictor.predict(image) if image is not None else Prediction(None, 0.0, None, None, "nothing drawn")
    shown, note = answer_text(prediction)
    with right:
        st.container(key="present_answer").markdown(shown.replace("-", "\\-"))  # a bare "-" is a Markdown list
        st.container(key="present_note").markdown(
            note if not prediction.blank or image is None else f"Nothing to read yet: {prediction.blank_reason}."
        )
        bars = np.zeros(10) if prediction.blank else prediction.probabilities
        st.vega_lite_chart(spec=big_chart(bars), key="present_chart", width="stretch")


def tile(drawing: Drawing) -> np.ndarray:
    """A drawing as the model read it, large, framed green when read right and red when not."""
    big = np.kron(drawing.image, np.ones((TILE // 28, TILE // 28), np.uint8))
    framed = np.repeat(np.pad(big, 6)[..., None], 3, axis=2)
    colour = RIGHT if answer_of(drawing) in (None, drawing.label) else WRONG
    framed[:6], framed[-6:], framed[:, :6], framed[:, -6:] = colour, colour, colour, colour
    return framed


def answer_of(drawing: Drawing) -> int | None:
    return None if drawing.probabilities is None else int(np.argmax(drawing.probabilities))


def caption(drawing: Drawing, names: bool) -> str:
    """ "ada: 7", or for a mistake "✗ ada: a 5, read 3"; without the name when names are hidden."""
    who = f"{drawing.writer}: " if names else ""
    answer = answer_of(drawing)
    if answer is None or answer == drawing.label:
        return f"{who}{drawing.label}"
    return f"✗ {who}a {drawing.label}, read {answer}"


@st.cache_data(ttl=60, max_entries=20, show_spinner=False)
def class_drawings(url: str, class_id: str, version: tuple[int, int, int]) -> tuple[list[Drawing], np.ndarray]:
    """The wall's newest drawings and the class's confusion counts, read again only when a
    drawing was added or deleted (`version`): the wall looks every second, for every presenter."""
    drawings = Drawings(url, class_id)
    return drawings.newest(WALL), confusion(*drawings.answered())


def toggle_freeze() -> None:
    st.session_state["present_frozen"] = not st.session_state.get("present_frozen", False)


@st.fragment(run_every=WALL_SECONDS)
def wall() -> None:
    """The newest drawings, the confusion matrix and the digits the model reads worst; frozen, it
    keeps what it showed (the class talks about one drawing while others keep coming)."""
    frozen = st.session_state.get("present_frozen", False)
    names = st.toggle("Show names", value=True, key="present_names")
    label = "Unfreeze the wall (F)" if frozen else "Freeze the wall (F)"
    st.button(label, key="present_freeze", icon=":material/ac_unit:", on_click=toggle_freeze, shortcut="f")
    try:
        if not frozen or "present_snapshot" not in st.session_state:
            drawings = Drawings(class_id=my_class())
            url = drawings.db.url.render_as_string(False)
            st.session_state["present_snapshot"] = class_drawings(url, drawings.class_id, drawings.version())
    except DatabaseError as err:
        st.warning(f"The class's drawings can't be read: {err}", icon=":material/warning:")
        return
    newest, counts = st.session_state["present_snapshot"]
    with st.container(key="present_wall"):
        if not newest:
            st.info("The class wall: drawings saved on the Draw page show here as they come.", icon=":material/grid_view:")
        else:
            alts = [f"Class drawing, {caption(d, names).replace('✗ ', 'a mistake: ')}" for d in newest]
            st.image([tile(d) for d in newest], caption=[caption(d, names) for d in newest], width=TILE + 12, alt=alts)
    show_confusion(counts)


def show_confusion(counts: np.ndarray) -> None:
    """The class's confusion matrix as a heat map with its counts, and the hardest digits in words."""
    if not counts.any():
        return
    cells = [
        {"drawn": str(r), "read": str(c), "n": int(counts[r, c])} for r in range(10) for c in range(10)
    ]  # all 100: a fixed grid
    worst = hardest(counts)
    if worst and worst[0][1] < 1:
        words = ", ".join(f"{d} ({right:.0%} of {n} read right)" for d, right, n in worst[:3] if right < 1)
        st.container(key="present_hardest").markdown(f"Hardest for the model: {words}")
    axis = {"labelFontSize": 22, "titleFontSize": 20, "labelAngle": 0, "labelOverlap": False}  # all ten, always
    heat = {"field": "n", "type": "quantitative", "scale": {"scheme": "blues"}, "legend": None}
    st.vega_lite_chart(
        spec={
            "height": 400,
            "data": {"values": cells},
            "encoding": {
                "x": {"field": "read", "type": "ordinal", "sort": [str(d) for d in range(10)], "axis": axis | {"orient": "top"}},
                "y": {"field": "drawn", "type": "ordinal", "sort": [str(d) for d in range(10)], "axis": axis},
            },
            "layer": [
                {"mark": "rect", "encoding": {"color": heat}},
                {
                    "mark": {"type": "text", "fontSize": 20},
                    "transform": [{"filter": "datum.n > 0"}],
                    "encoding": {"text": {"field": "n"}},
                },
            ],
        },
        key="present_confusion",
        width="stretch",
    )


def join_code() -> None:
    """The address students type, large, and its QR code for a phone's camera."""
    url = class_address(st.context.url or "", st.get_option("browser.serverAddress"), st.get_option("server.port"))
    code, words = st.columns([1, 2], vertical_alignment="center")
    code.image(qr_code(url, 5), width=170, caption="Join the class", alt=f"QR code of the class's address, {url}")
    words.container(key="present_join").markdown(f"Join the class: **{url.split('://', 1)[1]}**")


# ---------------------------------------------------------------- the page

st.html(CSS)
title, picker = st.columns([2, 1])
title.title("MNIST Lab: draw, and the model reads it")
with picker:
    entry, _ = model_picker("present_model", my_class())
page = st.container(horizontal=True, gap="large")
left, right = page.container(width=CANVAS + ANSWER + 64), page.container(width="stretch")  # 64: the large gap
with left:
    board(predictor_of(entry), entry)
    join_code()
with right:
    wall()
