"""Look at MNIST: samples, raw pixels, class counts, mean digits, normalisation, preparation."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from model_store import ImageError, decode_image, load_mnist, normalize, prepare
from model_store.preprocess import IMAGE_TYPES
from pages.common import through_app_frame

through_app_frame()

st.title("Data")
(x_train, y_train), (x_test, y_test) = load_mnist()
SPLITS = {"training": (x_train, y_train), "test": (x_test, y_test)}


@st.cache_data
def mean_digits() -> np.ndarray:
    """The average training image of each digit, (10, 28, 28) in [0, 1]."""
    return np.stack([x_train[y_train == d].mean(axis=0) / 255 for d in range(10)])


@st.cache_data
def class_counts() -> pd.DataFrame:
    counts = [
        {"digit": str(d), "split": name, "images": int((y == d).sum())} for name, (_, y) in SPLITS.items() for d in range(10)
    ]
    return pd.DataFrame(counts)


def value_range(a: np.ndarray) -> str:
    return f"{a.dtype}, {a.min():.3g} to {a.max():.3g}"


def samples() -> None:
    st.subheader("Random samples")
    split, size, _ = st.columns([1, 1, 2])
    name = split.radio("Split", list(SPLITS), horizontal=True, key="data_split")
    side = size.select_slider("Grid", [2, 3, 4, 5, 6], value=3, key="data_grid", format_func=lambda n: f"{n}x{n}")
    if st.button("Reshuffle", key="data_reshuffle", icon=":material/shuffle:"):
        st.session_state["data_seed"] = st.session_state.get("data_seed", 0) + 1
    x, y = SPLITS[name]
    picks = np.random.default_rng(st.session_state.get("data_seed", 0)).choice(len(x), side * side, replace=False)
    for row in picks.reshape(side, side):
        for col, i in zip(st.columns(side), row):
            col.image(x[i], caption=f"Class Label: {y[i]}", width=84)


def pixel_matrix() -> None:
    st.subheader("One digit's raw pixels")
    index = st.number_input("Training image index", 0, len(x_train) - 1, 0, key="data_index")
    image, matrix = st.columns([1, 4])
    image.image(x_train[index], caption=f"#{index}: a {y_train[index]}", width=140)
    # Each cell shaded by its own value, as the notebook's printed 28x28 array reads.
    table = pd.DataFrame(x_train[index])
    styled = table.style.map(lambda v: f"background-color: rgb({v},{v},{v}); color: {'black' if v > 128 else '#888'}")
    matrix.dataframe(styled, height=28 * 35 + 38)


def counts_and_means() -> None:
    st.subheader("How many of each digit, and the average one")
    chart = (
        alt.Chart(class_counts(), height=220)
        .mark_bar()
        .encode(x=alt.X("digit:N", axis=alt.Axis(labelAngle=0)), xOffset="split:N", y="images:Q", color="split:N")
    )
    st.altair_chart(chart)
    for col, d in zip(st.columns(10), range(10)):
        col.image(mean_digits()[d], caption=f"mean {d}", clamp=True, width=64)


def normalisations() -> None:
    st.subheader("What normalisation does")
    st.caption(
        "Training image 0 three ways: the raw bytes, divided by 255 (most notebooks), and L2-normalised along axis 1 (notebook A)."
    )
    raw = x_train[0]
    scaled = normalize(raw[None] / 255.0, "scale")[0]
    l2 = normalize(raw[None] / 255.0, "l2")[0]
    for col, (title, a) in zip(st.columns(3), [("raw bytes", raw), ("/ 255", scaled), ("L2 along axis 1", l2)]):
        col.image(a / a.max(), caption=f"{title}: {value_range(a)}", clamp=True, width=168)


def preparation() -> None:
    st.subheader("What the preparation pipeline does")
    st.caption("Any image becomes MNIST's form: ink found and cropped, fitted into 20x20, centred by its centre of mass.")
    file = st.file_uploader("An image of a digit (or see the example)", type=IMAGE_TYPES, key="data_upload")
    if file is None:  # the example: test image 0, small and off-centre on grey paper
        image = np.full((240, 320), 200, np.uint8)
        image[20:104, 200:284] = 200 - (np.kron(x_test[0], np.ones((3, 3), np.uint8)) * 0.7).astype(np.uint8)
    else:
        try:
            image = decode_image(file.getvalue())
        except ImageError as err:
            st.error(f"{file.name}: {err}")
            return
    prepared = prepare(image, keep_steps=True)
    steps = [
        ("the image", image),
        *[(name, prepared.steps[name]) for name in ("ink", "crop", "fit", "centred") if name in prepared.steps],
    ]
    captions = {
        "ink": "ink: paper removed",
        "crop": "crop: specks dropped",
        "fit": "fit: into 20x20",
        "centred": "centred in 28x28",
    }
    for col, (name, a) in zip(st.columns(len(steps)), steps):
        col.image(a, caption=captions.get(name, name), clamp=True, width=140)
    if prepared.image is None:
        st.warning(f"Nothing to read: {prepared.blank_reason}")


samples()
pixel_matrix()
counts_and_means()
normalisations()
preparation()
