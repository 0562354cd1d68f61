"""What a browser sends, checked before anything decodes it: the canvas's PNG and the Draw page's
image files. A browser can send any value as a widget's, so each is held to what the page needs."""

import hashlib

import numpy as np
import streamlit as st

from model_store import ImageError, decode_image
from model_store.preprocess import decode_canvas

MAX_UPLOADS, MAX_UPLOAD_MB = 20, 50  # files one session's page reads at once, and their size together


def canvas_picture(png: bytes, width: int, height: int | None = None) -> np.ndarray | None:
    """The canvas's PNG (RGBA), checked before it is decoded; None, with a notice to this session
    alone, when it is not a PNG of the canvas's size (`width` square unless `height` is given)."""
    try:
        return decode_canvas(png, width, height or width)
    except ImageError as err:
        st.warning(f"The drawing was not read: {err}.", icon=":material/block:")
        return None


def ink_canvas(width: int, height: int, brush: int, key: str) -> np.ndarray | None:
    """A black canvas for white ink (the presenter's, the Draw page's "Write a number"), cleared by
    `keep.clear_canvas` as the Draw page's is; what is drawn on it as RGBA, None while it is empty
    or clearing."""
    from streamlit_drawable_canvas import st_canvas

    version = st.session_state.setdefault("draw_canvas_version", 0)
    canvas = st_canvas(
        stroke_width=brush,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=width,
        height=height,
        return_image_data=True,
        initial_drawing={"objects": [], "clears": version},
        key=key,
    )
    strokes = bool((canvas.json_data or {}).get("objects"))
    if not strokes:
        st.session_state["draw_clearing"] = False  # the canvas reported back empty
    fresh = strokes and canvas.image_bytes is not None and not st.session_state.get("draw_clearing")
    return canvas_picture(canvas.image_bytes, width, height) if fresh else None


def decoded(data: bytes) -> tuple[np.ndarray | None, str | None]:
    """A file's image, or why it cannot be read: decoded once, not at every rerun of the page."""
    return _decoded(hashlib.sha256(data).hexdigest(), data)


@st.cache_data(max_entries=64, show_spinner=False)
def _decoded(digest: str, _data: bytes) -> tuple[np.ndarray | None, str | None]:
    """Keyed by the SHA-256 alone (`_data` is not hashed again); a refusal is kept too."""
    try:
        return decode_image(_data), None
    except ImageError as err:
        return None, str(err)


def within_budget(files: list) -> list:
    """The files the page reads: the first MAX_UPLOADS, at most MAX_UPLOAD_MB together; the rest
    are counted in one notice and not decoded."""
    read, total = [], 0
    for file in files[:MAX_UPLOADS]:
        total += file.size
        if total > MAX_UPLOAD_MB * 2**20:
            break
        read.append(file)
    if len(read) < len(files):
        st.warning(
            f"{len(files) - len(read)} of your {len(files)} files not read: the page reads at most {MAX_UPLOADS} files "
            f"and {MAX_UPLOAD_MB} MB at once. Remove some (the x beside each) to read the others.",
            icon=":material/block:",
        )
    return read
