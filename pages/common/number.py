"""The Draw page's "Write a number" mode: a wide canvas, the drawing cut into digits
(`model_store.numbers`), each part's box and answer on the drawing, then the whole number."""

import cv2
import numpy as np
import streamlit as st

from model_store import StoredModel
from model_store.numbers import Digit, NumberReading, read_number
from pages.common.keep import clear_canvas
from pages.common.payloads import ink_canvas

WIDTH, HEIGHT = 720, 240  # room for four or five digits the size of one on the 280-px canvas
BRUSH = 16  # digits ~150 px tall here: the single canvas's stroke-to-size ratio
PHONE_WIDTH, PHONE_HEIGHT, PHONE_BRUSH = 328, 150, 9  # a 360-px screen less the page's margins
BOX = {"digit": (46, 204, 113), "unsure": (241, 196, 15), "not_a_digit": (228, 87, 46), "blank": (228, 87, 46)}


def part_text(digit: Digit) -> str:
    """One part's answer in a few characters: "7 · 98%", "7? · 61%", "not a digit", "can't read"."""
    r = digit.reading
    if digit.verdict == "blank":
        return "can't read"
    if digit.verdict == "not_a_digit":
        return "not a digit"
    return f"{r.digit}{'?' if digit.verdict == 'unsure' else ''} · {r.confidence:.1%}"


def headline(reading: NumberReading) -> str:
    """The whole number, or which part stops it from being one (a person counts from 1)."""
    if reading.number is not None:
        return f"It reads **{reading.number}**" + (
            " (not sure of every digit: see the ? below)" if reading.verdict == "unsure" else ""
        )
    at = next(i for i, d in enumerate(reading.digits) if d.verdict in ("blank", "not_a_digit"))
    problem = "is not a digit" if reading.digits[at].verdict == "not_a_digit" else "can't be read"
    return f"Not a number yet: part {at + 1} of {len(reading.digits)} {problem}."


def boxed(image: np.ndarray, reading: NumberReading) -> np.ndarray:
    """The drawing (RGBA, white on black) with each part's box and answer drawn on it: what the
    cutting made of the ink, so a wrong cut shows where it went wrong."""
    out = np.ascontiguousarray(image[..., :3])
    for digit in reading.digits:
        x, y, w, h = digit.box
        colour = BOX[digit.verdict]
        cv2.rectangle(out, (x - 3, y - 3), (x + w + 3, y + h + 3), colour, 2)
        label = part_text(digit).replace(" · ", " ")  # OpenCV's fonts have no middle dot
        cv2.putText(out, label, (x, max(16, y - 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2, cv2.LINE_AA)
    return out


def show_reading(image: np.ndarray, reading: NumberReading, width: int) -> None:
    """The number, then each part in its own column, then the drawing with the boxes."""
    st.metric("Number", reading.number if reading.number is not None else "-", help="the digits read, left to right")
    st.markdown(headline(reading))
    for column, (i, digit) in zip(st.columns(max(len(reading.digits), 4)), enumerate(reading.digits)):
        column.metric(f"Part {i + 1}", part_text(digit).split(" · ")[0], help="its confidence, calibrated as for one digit")
        column.caption(part_text(digit).split(" · ")[-1] if " · " in part_text(digit) else "named, not read")
    said = ", ".join(part_text(d).split(" · ")[0] for d in reading.digits)
    alt = f"The drawing cut into {len(reading.digits)} parts, each boxed with its answer: {said}. {headline(reading)}"
    st.image(
        boxed(image, reading),
        caption="How the drawing was cut: each part's box and answer",
        width=width,
        alt=alt.replace("**", ""),
    )


def strip_size() -> tuple[int, int, int]:
    """The canvas's width, height and brush: narrower on a phone, whose browser says "Mobi" in its
    user agent (MDN's advice): a canvas keeps its size in pixels, and 720 would be cut off at 360."""
    agent = (st.context.headers or {}).get("User-Agent", "")
    return (PHONE_WIDTH, PHONE_HEIGHT, PHONE_BRUSH) if "Mobi" in agent else (WIDTH, HEIGHT, BRUSH)


@st.fragment
def number_mode(predictor, entry: StoredModel) -> None:
    """Only this part reruns after each stroke, as the single digit's canvas does."""
    st.caption("Write a number of any length, digits side by side: each is cut out and read as a single digit is.")
    width, height, default_brush = strip_size()
    brush = st.slider("Brush width", 4, 40, default_brush, key="draw_number_brush")
    image = ink_canvas(width, height, brush, "draw_number_canvas")
    st.button("Clear", key="draw_number_clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    if image is None:
        st.metric("Number", "-")
        st.info("Write a number on the black strip: a year, your house number, any digits.", icon=":material/draw:")
        return
    reading = read_number(predictor, image, entry.unsure_below)
    if not reading.digits:
        st.metric("Number", "-")
        st.info(f"Nothing to read yet: {reading.blank_reason}. Keep writing.", icon=":material/draw:")
        return
    show_reading(image, reading, width)
