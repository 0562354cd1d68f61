"""The "Why?" panel (Draw page, Gallery): the MNIST training images a reading sits among in the
model's own features, and where the model looked (`model_store.explain`)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import streamlit as st

from model_store import StoredModel, load_mnist
from model_store.explain import DigitMap, Explainer
from pages.common import predictor_of

NEIGHBOURS = 8
MAPPED = 1500  # points drawn on the map (of the 10,000 placed): each stroke sends them all again (~85 KB)


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


class MapBuild:
    """A model's map being built in a thread of its own (half a minute): drawing and reading go on."""

    def __init__(self, explainer: Explainer):
        self.explainer, self.progress, self.error = explainer, 0.0, None
        threading.Thread(target=self._build, name="map-build", daemon=True).start()

    def _build(self) -> None:
        try:
            self.explainer.digit_map(build=True, on_progress=self._note)
        except Exception as err:  # shown where the map would be
            self.error = f"{type(err).__name__}: {err}"

    def _note(self, fraction: float) -> None:
        self.progress = fraction


@st.cache_resource(max_entries=4, show_spinner=False)
def _map_build(name: str, checksum: str, _explainer: Explainer) -> MapBuild:
    return MapBuild(_explainer)


@st.cache_resource(max_entries=4, show_spinner=False)
def _map_points(name: str, checksum: str, _digit_map: DigitMap) -> tuple[list, list]:
    """The points drawn (a fixed sample) and each digit's label at the middle of its images."""
    shown = np.random.default_rng(0).choice(len(_digit_map.labels), min(MAPPED, len(_digit_map.labels)), replace=False)
    xy, labels = _digit_map.xy, _digit_map.labels
    points = [
        {
            "x": round(float(xy[i, 0]), 2),
            "y": round(float(xy[i, 1]), 2),
            "digit": str(labels[i]),
            "image": f"#{_digit_map.indices[i]}",
        }
        for i in shown
    ]
    middles = [
        {"x": float(np.median(xy[labels == d, 0])), "y": float(np.median(xy[labels == d, 1])), "digit": str(d)}
        for d in range(10)
        if (labels == d).any()
    ]
    return points, middles


def map_spec(points: list, middles: list, here: np.ndarray) -> dict:
    """The map as a Vega-Lite spec written out (as `probability_chart`): the test images coloured
    by digit, each digit's name at its middle, and a cross where this drawing lands."""
    axis = {"axis": None, "type": "quantitative"}
    x, y = {"field": "x", **axis}, {"field": "y", **axis}
    return {
        "height": 320,
        "layer": [
            {
                "data": {"values": points},
                "mark": {"type": "circle", "size": 14, "opacity": 0.5},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": {"field": "digit", "type": "nominal", "scale": {"scheme": "tableau10"}},
                    "tooltip": [{"field": "image", "title": "MNIST test image"}, {"field": "digit"}],
                },
            },
            {
                "data": {"values": middles},
                "mark": {"type": "text", "fontSize": 20, "fontWeight": "bold", "color": "#222"},
                "encoding": {"x": x, "y": y, "text": {"field": "digit"}},
            },
            {
                "data": {"values": [{"x": float(here[0]), "y": float(here[1]), "what": "this drawing"}]},
                "mark": {"type": "point", "shape": "cross", "size": 600, "strokeWidth": 4, "color": "black", "filled": True},
                "encoding": {"x": x, "y": y, "tooltip": [{"field": "what"}]},
            },
        ],
    }


def show_map(entry: StoredModel, explainer: Explainer, features: np.ndarray, key: str) -> None:
    """Where the drawing lands among MNIST's test images, as the model sees them."""
    checksum = entry.record.get("model_sha256", "")
    digit_map = explainer.digit_map()
    if digit_map is None:
        building(_map_build(entry.name, checksum, explainer))
        return
    here = digit_map.place(features[None])[0]
    points, middles = _map_points(entry.name, checksum, digit_map)
    st.markdown("**Where it lands among MNIST's test images**, as the model sees them (t-SNE of its last hidden layer)")
    st.container(key=f"{key}_map").vega_lite_chart(spec=map_spec(points, middles, here))


@st.fragment(run_every=1.0)
def building(build: MapBuild) -> None:
    if build.error:
        st.error(f"The map could not be built ({build.error}); the rest works.", icon=":material/error:")
    elif build.explainer.digit_map() is not None:
        st.rerun()  # built: the whole panel again, with the map
    else:
        st.progress(
            build.progress, text=f"Mapping MNIST's 10,000 test images as this model sees them (once): {build.progress:.0%}"
        )


def heat_overlay(heat: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A (28, 28) heat map in [0, 1] over a 28x28 uint8 image: bright where the heat is."""
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    return (0.55 * colour + 0.45 * image[..., None]).astype(np.uint8)


def why(entry: StoredModel, prepared: np.ndarray, digit: int, key: str) -> None:
    """The 8 nearest training images (those that are not `digit` marked), the map with this drawing
    on it, and the saliency map."""
    explainer = explainer_of(entry)
    features = explainer.features(prepared[None])[0]  # once a stroke, for the neighbours and the map
    near = explainer.neighbours(features, NEIGHBOURS)
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
    show_map(entry, explainer, features, key)
    heat = explainer.saliency(prepared, digit)
    image = (np.clip(prepared, 0, 1) * 255).astype(np.uint8)
    st.image(
        cv2.resize(heat_overlay(heat, image), (168, 168), interpolation=cv2.INTER_NEAREST),
        caption=f"Where it looked for a {digit} ({explainer.saliency_method}): bright where the answer leaned most",
        width=168,
    )
