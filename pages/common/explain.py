"""The "Why?" panel (Draw page, Gallery): the MNIST training images a reading sits among in the
model's own features, and where the model looked (`model_store.explain`)."""

from __future__ import annotations

import cv2
import numpy as np
import streamlit as st

from model_store import StoredModel, load_mnist
from model_store.explain import Explainer
from pages.common import predictor_of

NEIGHBOURS = 8


@st.cache_resource(max_entries=4, show_spinner=False)
def _explainer(name: str, checksum: str, _entry: StoredModel) -> Explainer:
    """One per model file (name and checksum): its training images' features stay in memory."""
    explainer = Explainer(predictor_of(_entry), checksum or None)
    explainer.training_features()  # seconds the first time for a model, then read from the cache
    return explainer


def explainer_of(entry: StoredModel) -> Explainer:
    checksum = entry.record.get("model_sha256", "")
    with st.spinner(f"Reading the 60,000 training images with {entry.name} (once per model, a few seconds)..."):
        return _explainer(entry.name, checksum, entry)


def heat_overlay(heat: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A (28, 28) heat map in [0, 1] over a 28x28 uint8 image: bright where the heat is."""
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    return (0.55 * colour + 0.45 * image[..., None]).astype(np.uint8)


def why(entry: StoredModel, prepared: np.ndarray, digit: int) -> None:
    """The 8 nearest training images (those that are not `digit` marked) and the saliency map."""
    explainer = explainer_of(entry)
    near = explainer.neighbours(prepared, NEIGHBOURS)
    train_images = load_mnist()[0][0]
    st.markdown(f"**The {NEIGHBOURS} training images it finds most alike**, nearest first")
    captions = [f"#{n.index}: a {n.label}" + ("" if n.label == digit else " (not a " + str(digit) + ")") for n in near]
    st.image([train_images[n.index] for n in near], caption=captions, width=72)
    others = [n.label for n in near if n.label != digit]
    if others:
        st.caption(
            f"{len(others)} of them are not {digit}s ({', '.join(map(str, sorted(set(others))))}): "
            "the drawing sits near the border between those digits, as the model sees them."
        )
    else:
        st.caption(f"All of them are {digit}s: as the model sees it, this is a typical {digit}.")
    heat = explainer.saliency(prepared, digit)
    image = (np.clip(prepared, 0, 1) * 255).astype(np.uint8)
    st.image(
        cv2.resize(heat_overlay(heat, image), (168, 168), interpolation=cv2.INTER_NEAREST),
        caption=f"Where it looked for a {digit} ({explainer.saliency_method}): bright where the answer leaned most",
        width=168,
    )
