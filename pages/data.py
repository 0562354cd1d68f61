"""Look at MNIST (the full Data page is its own piece of work)."""

import numpy as np
import streamlit as st

from model_store import load_mnist

st.title("Data")
(x_train, y_train), _ = load_mnist()
rng = np.random.default_rng(st.session_state.setdefault("data_seed", 0))
if st.button("Reshuffle", key="data_reshuffle"):
    st.session_state["data_seed"] += 1
    st.rerun()
picks = rng.choice(len(x_train), 9, replace=False)
cols = st.columns(9)
for col, i in zip(cols, picks, strict=False):
    col.image(x_train[i], caption=f"Class Label: {y_train[i]}", width=84)
