"""The "Why?" panel (Draw page, its uploads, Gallery): the MNIST training images a reading sits
among in the model's own features, where the model looked, and where the reading lands on the
model's map of MNIST's test images (`model_store.explain`)."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pyarrow as pa
import streamlit as st

from model_store import ModelStore, StoredModel, load_mnist
from model_store.database import DatabaseError, configured_url
from model_store.drawings import Drawings
from model_store.explain import DigitMap, Explainer, nearest, stored_explainer
from model_store.jobs import Busy, Job, job_of, start
from model_store.roles import NotAllowed, owns
from pages.common import MNIST_TEST, plain, png_url, predictor_of, probabilities_on
from pages.common.people import me, my_class

NEIGHBOURS = 8
CLASS_NEIGHBOURS = 4
MAPPED = 1000  # test images drawn on the map (of the 10,000 placed): each stroke sends them again, ~0.6 MB with their pictures


@st.cache_resource(max_entries=4, show_spinner=False)
def _explainer(name: str, checksum: str, _entry: StoredModel) -> Explainer:
    """One per model file (name and checksum): its training images' features stay in memory."""
    explainer = stored_explainer(predictor_of(_entry), _entry, ModelStore())
    explainer.training_features()  # seconds the first time for a model, then read from the cache
    return explainer


def explainer_of(entry: StoredModel) -> Explainer:
    checksum = entry.record.get("model_sha256", "")
    with st.spinner(f"Reading the 60,000 training images with {entry.name} (once per model, a few seconds)..."):
        return _explainer(entry.name, checksum, entry)


@st.cache_resource(max_entries=4, show_spinner=False)
def _map_points(name: str, checksum: str, _entry: StoredModel, _digit_map: DigitMap) -> tuple[pa.Table, list]:
    """The points drawn: a fixed sample of the mapped test images and every one the model gets
    wrong, each with its picture for the tooltip (a data URL: the browser fetches nothing); and each
    digit's label at the middle of its images. An Arrow table: Streamlit sends it as it is, where
    a DataFrame would be converted again at every stroke."""
    xy, labels, indices = _digit_map.xy, _digit_map.labels, _digit_map.indices
    read = test_readings(_entry)[indices]
    shown = np.zeros(len(labels), bool)
    shown[np.random.default_rng(0).choice(len(labels), min(MAPPED, len(labels)), replace=False)] = True
    rows = np.flatnonzero(shown | (read != labels))
    images = load_mnist()[1][0]
    points = pa.table(
        {
            "x": xy[rows, 0].round(2),
            "y": xy[rows, 1].round(2),
            "digit": labels[rows].astype(str).tolist(),
            "index": indices[rows],
            "wrong": read[rows] != labels[rows],
            "title": [
                f"MNIST test image #{i}: a {label}" + (f", read as {r}" if r != label else "")
                for i, label, r in zip(indices[rows], labels[rows], read[rows])
            ],
            "image": [data_url(images[i]) for i in indices[rows]],
        }
    )
    middles = [
        {"x": float(np.median(xy[labels == d, 0])), "y": float(np.median(xy[labels == d, 1])), "digit": str(d)}
        for d in range(10)
        if (labels == d).any()
    ]
    return points, middles


def test_readings(entry: StoredModel) -> np.ndarray:
    """The model's answer for each of MNIST's 10,000 test images (the Gallery's probabilities)."""
    return probabilities_on(entry, MNIST_TEST, load_mnist()[1][0]).argmax(axis=1)


def data_url(image: np.ndarray) -> str:
    """A 28x28 image as a 56x56 PNG in a data URL (the tooltip shows it at its own size)."""
    return png_url(cv2.resize(image, (56, 56), interpolation=cv2.INTER_NEAREST), 9)


def map_spec(middles: list, here: np.ndarray) -> dict:
    """The map as a Vega-Lite spec written out (as `probability_chart`): the test images (the
    chart's data) coloured by digit, those the model gets wrong ringed, each digit's name at its
    middle, and a cross where this drawing lands. A click on an image picks it ("pick")."""
    axis = {"axis": None, "type": "quantitative"}
    x, y = {"field": "x", **axis}, {"field": "y", **axis}
    tooltip = [{"field": "title", "title": "title"}, {"field": "image", "title": "image"}]  # vega-tooltip shows both
    return {
        "height": 320,
        "layer": [
            {
                "params": [{"name": "pick", "select": {"type": "point", "fields": ["index"]}}],
                "mark": {"type": "circle", "size": 14, "opacity": 0.5, "cursor": "pointer"},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": {"field": "digit", "type": "nominal", "scale": {"scheme": "tableau10"}},
                    "tooltip": tooltip,
                },
            },
            {
                "transform": [{"filter": "datum.wrong"}],
                "mark": {"type": "point", "size": 70, "strokeWidth": 1.5, "color": "#d62728", "cursor": "pointer"},
                "encoding": {"x": x, "y": y, "tooltip": tooltip},
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
    """Where the drawing lands among MNIST's test images, as the model sees them; a click on one
    of them shows it."""
    checksum = entry.record.get("model_sha256", "")
    digit_map = explainer.digit_map()
    if digit_map is None:
        map_build(entry, explainer)
        return
    here = digit_map.place(features[None])[0]
    points, middles = _map_points(entry.name, checksum, entry, digit_map)
    st.markdown("**Where it lands among MNIST's test images**, as the model sees them (t-SNE of its last hidden layer)")
    event = st.container(key=f"{key}_map").vega_lite_chart(
        points, spec=map_spec(middles, here), on_select="rerun", selection_mode="pick", key=f"{key}_map_chart"
    )
    wrong = int(points.column("wrong").to_numpy().sum())
    st.caption(
        f"The cross is the image being read. Each dot is a test image ({len(points):,} of {len(digit_map.labels):,} shown); "
        f"ringed in red: the {wrong} it reads wrong. Point at one (or tap it) to see it; click it to look closer."
    )
    picked = event.selection.get("pick") if event else None
    if picked:
        show_picked(entry, int(picked[-1]["index"]), key)


def show_picked(entry: StoredModel, index: int, key: str) -> None:
    """A test image clicked on the map, its reading, and the way to the Gallery's closer look."""
    images, labels = load_mnist()[1]
    read = int(test_readings(entry)[index])
    left, right = st.columns([1, 3])
    said = "read right" if read == labels[index] else f"read as {read}"
    left.image(images[index], width=84, alt=f"MNIST test image #{index}: a {labels[index]}, {said}")
    right.markdown(f"**MNIST test image #{index}**: a {labels[index]}, {said}")
    if right.button(
        "Inspect it in the Gallery", key=f"{key}_map_open", icon=":material/zoom_in:", on_click=_open, args=(entry.name, index)
    ):
        st.switch_page("pages/gallery.py")


def _open(name: str, index: int) -> None:
    """The Gallery on that test image, with the same model (a callback: the Gallery's own widgets
    may already be on the page)."""
    st.session_state.update(gallery_model=name, gallery_set="MNIST test", gallery_detail=index, gallery_page=1)


def map_build(entry: StoredModel, explainer: Explainer) -> None:
    """A model's map is built once, in the background (`model_store.jobs`: half a minute, one job a
    model at a time), when its owner or the teacher first opens it; drawing and reading go on."""
    person = me()
    job = job_of(entry.name, "map")
    if job is None and not (person.teacher or owns(person, entry.record.get("owner"))):
        st.info(
            "This model has no map yet: it is built the first time its owner or the teacher opens this panel.",
            icon=":material/map:",
        )
        return
    if job is None or (job.done and not job.error):  # none yet, or one of a model file since replaced
        try:
            job = start("map", entry, person, lambda note: explainer.digit_map(build=True, on_progress=note))
        except (NotAllowed, Busy) as err:
            st.info(f"No map yet: {err}", icon=":material/map:")
            return
    building(job, explainer)


@st.fragment(run_every=1.0)
def building(job: Job, explainer: Explainer) -> None:
    if job.error:
        st.error(f"The map could not be built ({job.error}); the rest works.", icon=":material/error:")
    elif explainer.digit_map() is not None:
        st.rerun()  # built: the whole panel again, with the map
    else:
        waiting = " (waiting for another model's job to finish)" if job.waiting else ""
        st.progress(
            job.progress, text=f"Mapping MNIST's 10,000 test images as this model sees them (once){waiting}: {job.progress:.0%}"
        )


@st.cache_data(ttl=10, show_spinner=False)
def class_version(url: str, class_id: str) -> tuple[int, int]:
    """The class drawings' version (in the database at `url`), asked at most every 10 s, not at
    every stroke."""
    return Drawings(url, class_id).version()


@st.cache_resource(max_entries=4, show_spinner=False)
def _class_features(name: str, checksum: str, class_id: str, version: tuple[int, int], _explainer: Explainer):
    """Every drawing of the class's features, once per model and version of the drawings: (features,
    their squared norms, images, labels, writers)."""
    _, images, labels, writers = Drawings(class_id=class_id).rows(None)
    features = _explainer.features(images / np.float32(255))
    return features, np.einsum("ij,ij->i", features, features), images, labels, writers


def nearest_class_drawings(entry: StoredModel, explainer: Explainer, features: np.ndarray, digit: int) -> None:
    """The class drawings nearest to it, in the same feature space: what the class drew alike."""
    try:
        version = class_version(configured_url(), my_class())
        if not version[0]:
            return
        found, norms, images, labels, writers = _class_features(
            entry.name, entry.record.get("model_sha256", ""), my_class(), version, explainer
        )
    except DatabaseError as err:
        st.caption(f"The class drawings cannot be read now ({plain(str(err))}).")
        return
    picked, _ = nearest(found, norms, features, min(CLASS_NEIGHBOURS, len(labels)))
    st.markdown(f"**The {len(picked)} class drawing{'s' if len(picked) > 1 else ''} it finds most alike**, nearest first")
    captions = [f"{plain(writers[i])}: a {labels[i]}" + ("" if labels[i] == digit else f" (not a {digit})") for i in picked]
    alts = [f"Class drawing by {writers[i]}: a {labels[i]}" for i in picked]
    st.image([images[i] for i in picked], caption=captions, width=72, alt=alts)


@functools.lru_cache(maxsize=4096)
def training_tile(index: int) -> bytes:
    """A training image as a PNG, made once: a stroke's 8 neighbours are mostly the last stroke's."""
    return cv2.imencode(".png", load_mnist()[0][0][index])[1].tobytes()


def heat_overlay(heat: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A (28, 28) heat map in [0, 1] over a 28x28 uint8 image: bright where the heat is."""
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    return (0.55 * colour + 0.45 * image[..., None]).astype(np.uint8)


def why(entry: StoredModel, prepared: np.ndarray, digit: int, key: str) -> None:
    """The 8 nearest training images (those that are not `digit` marked), where the model looked,
    and the map with this drawing on it (last: a test image clicked on it shows below)."""
    explainer = explainer_of(entry)
    features, heat = explainer.look(prepared, digit)  # once a stroke, for the neighbours, the map and the heat
    near = explainer.neighbours(features, NEIGHBOURS)
    st.markdown(f"**The {NEIGHBOURS} training images it finds most alike**, nearest first")
    captions = [f"#{n.index}: a {n.label}" + ("" if n.label == digit else " (not a " + str(digit) + ")") for n in near]
    alts = [f"MNIST training image #{n.index}: a {n.label}" for n in near]
    st.image([training_tile(n.index) for n in near], caption=captions, width=72, alt=alts)
    others = [n.label for n in near if n.label != digit]
    if others:
        st.caption(
            f"{len(others)} of them are not {digit}s ({', '.join(map(str, sorted(set(others))))}): "
            "the drawing sits near the border between those digits, as the model sees them."
        )
    else:
        st.caption(f"All of them are {digit}s: as the model sees it, this is a typical {digit}.")
    nearest_class_drawings(entry, explainer, features, digit)
    image = (np.clip(prepared, 0, 1) * 255).astype(np.uint8)
    st.image(
        cv2.resize(heat_overlay(heat, image), (168, 168), interpolation=cv2.INTER_NEAREST),
        caption=f"Where it looked for a {digit} ({explainer.saliency_method}): bright where the answer leaned most",
        width=168,
        alt=f"Heat map over the drawing: where the model looked for a {digit}",
    )
    show_map(entry, explainer, features, key)
