"""Draw a digit and watch the model read it."""

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from model_store import ModelStore, Predictor, StoreError

st.title("Draw a digit")


@st.cache_resource(show_spinner="Loading the model...")
def load_predictor(name: str | None) -> tuple[Predictor, str]:
    model, entry = ModelStore().load(name)
    return Predictor(model, entry.normalization), entry.name


try:
    predictor, model_name = load_predictor(None)
except StoreError as err:
    st.error(f"No model to predict with: {err}")
    st.stop()

st.caption(f"Model: **{model_name}**")


@st.fragment
def canvas_and_prediction() -> None:
    left, right = st.columns([1, 1])
    with left:
        brush = st.slider("Brush width", 8, 40, 20, key="draw_brush")
        result = st_canvas(
            stroke_width=brush,
            stroke_color="#FFFFFF",
            background_color="#000000",
            width=280,
            height=280,
            return_image_data=True,
            key="draw_canvas",
        )
    image = result.image_data
    prediction = predictor.predict(image) if image is not None else None
    with right:
        if prediction is None or prediction.blank:
            st.metric("Prediction", "-")
            st.info("Draw a digit on the black square: the model reads it as you draw.")
            return
        st.metric("Prediction", prediction.digit, help="the model's most likely digit")
        st.write(f"Confidence: **{prediction.confidence:.1%}**")
        probs = pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": prediction.probabilities})
        st.bar_chart(probs, x="digit", y="probability", height=220)
        st.image(np.kron(prediction.prepared, np.ones((6, 6))), caption="What the model sees (28x28)", clamp=True)


canvas_and_prediction()
