"""What the model gets right and wrong (the full gallery is its own piece of work)."""

import numpy as np
import streamlit as st

from model_store import ModelStore, load_mnist
from pages.common import through_app_frame

through_app_frame()

st.title("Gallery")
store = ModelStore()
entry = store.default()
probs = store.test_probabilities(entry)
if probs is None:
    st.info(f"Model {entry.name} has no stored test predictions.")
    st.stop()
_, (x_test, y_test) = load_mnist()
predicted = probs.argmax(1)
wrong = np.flatnonzero(predicted != y_test)
st.write(f"**{entry.name}** gets {len(wrong)} of 10,000 test images wrong. The most confident mistakes:")
worst = wrong[np.argsort(-probs[wrong].max(1))][:12]
cols = st.columns(6)
for i, index in enumerate(worst):
    cols[i % 6].image(x_test[index], caption=f"#{index}: predicted {predicted[index]}, true {y_test[index]}", width=84)
