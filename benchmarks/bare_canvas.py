"""The floor a stroke cannot go below: a page with only the Draw page's canvas and a metric.

    streamlit run benchmarks/bare_canvas.py

What Streamlit and the canvas component cost by themselves; `python -m benchmarks.latency` and
`python -m benchmarks.classroom --bare` compare the Draw page with it.
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas


def clear() -> None:
    st.session_state["draw_canvas_version"] += 1


@st.fragment
def drawing() -> None:
    version = st.session_state.setdefault("draw_canvas_version", 0)
    canvas = st_canvas(
        stroke_width=22,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=280,
        height=280,
        return_image_data=True,
        initial_drawing={"objects": [], "clears": version},
        key="draw_canvas",
    )
    st.button("Clear", key="draw_clear", on_click=clear)
    strokes = (canvas.json_data or {}).get("objects") or []
    st.metric("Prediction", len(strokes) or "-")  # the number of strokes: no model


drawing()
