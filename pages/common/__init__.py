"""What every page shares. A subfolder, so Streamlit never lists it as a page."""

import base64
import re
from collections.abc import Callable
from typing import TypeVar

import cv2
import numpy as np
import pyarrow as pa
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

from model_store import ModelStore, Predictor, StoredModel, StoreError
from model_store.database import DatabaseError
from model_store.jobs import Busy
from model_store.predict import called_not_a_digit, tempered
from model_store.roles import NotAllowed

T = TypeVar("T")

# After every script run Streamlit calls `keras.backend.clear_session()` once Keras is imported
# (`_clean_problem_modules`): a full garbage collection plus TensorFlow's kernel cache dropped,
# 0.1-0.3 s of CPU under the one GIL that every session's script shares. With 8 people drawing
# it made the median answer wait 3.4 s instead of 0.24 s. The server builds no models that the
# reset would tidy (training runs in its own process), so it is switched off. Its other duty,
# closing matplotlib figures, does not apply: the app draws no matplotlib figures.
script_runner._clean_problem_modules = lambda: None


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^])")


WORD_JOINER = "\u2060"  # invisible: splits what GitHub-flavoured Markdown would turn into a link
LINK_LIKE = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)")


def plain(text: str) -> str:
    """`text` (a person's name, a file name, a message quoting them) as it reads, inside Markdown:
    every punctuation mark that Markdown, Streamlit's directives (`:red[...]`, `:material/...:`),
    HTML or LaTeX could act on is escaped with a backslash. Escapes do not stop the browser's
    Markdown from linking a bare "http://...", "www." or e-mail address, so an invisible word
    joiner goes inside each of those."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", LINK_LIKE.sub(WORD_JOINER, str(text)))


def through_app_frame() -> None:
    """Make a page always run inside `app.py`, even opened first at its own URL.

    With a `pages/` folder beside the entry point, a fresh server starts in Streamlit's old
    multipage mode: `/data` runs `pages/data.py` on its own (no page config, a sidebar listing
    every file) until some session has called `st.navigation`. This switches it over and reruns.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner="Loading the model...", max_entries=20)
def load_predictor(name: str, model_sha256: str, temperature: float) -> Predictor:
    """One predictor per model file and calibration; the checksum in the key reloads a replaced
    model, the temperature a newly calibrated one. Traced as it loads: the page that opens it
    waits for that, not the first stroke drawn on it."""
    model, entry = ModelStore().load(name)
    predictor = Predictor(model, entry.normalization, temperature)
    predictor.warm_up()
    return predictor


def predictor_of(entry: StoredModel) -> Predictor:
    """The model's predictor, its confidences calibrated when it has a calibration."""
    return load_predictor(entry.name, entry.record.get("model_sha256", ""), entry.temperature)


MNIST_TEST = "mnist"  # the key of MNIST's test images among the sets a model reads


@st.cache_data(show_spinner="Reading the images with the model...", max_entries=40)
def set_readings(
    name: str, model_sha256: str, temperature: float, set_key: str, _images: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The ten probabilities of each image, and its probability of not being a digit, from one
    batched reading. MNIST's come from the model's stored predictions when it has them (ten
    probabilities only: no "not a digit", None). Calibrated either way (`temperature`), as every
    confidence the pages show; None too from a model without that answer."""
    store = ModelStore()
    stored = store.test_probabilities(store.get(name)) if set_key == MNIST_TEST else None
    if stored is not None:
        return tempered(stored.astype(np.float32), temperature), None
    predictor = predictor_of(store.get(name))
    probabilities, not_digit = predictor.read(_images / 255.0)
    return probabilities, not_digit if predictor.knows_non_digits else None


def _readings_of(entry: StoredModel, set_key: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    return set_readings(entry.name, entry.record.get("model_sha256", ""), entry.temperature, set_key, images)


def probabilities_on(entry: StoredModel, set_key: str, images: np.ndarray) -> np.ndarray:
    """The model's probabilities for a set of uint8 images (`set_key` names the set: a cache key)."""
    return _readings_of(entry, set_key, images)[0]


def called_not_digits(entry: StoredModel, set_key: str, images: np.ndarray) -> np.ndarray | None:
    """Which of a set's uint8 images the model calls "not a digit", from the same reading as
    `probabilities_on`; None from a model without that answer, or for MNIST's stored readings."""
    not_digit = _readings_of(entry, set_key, images)[1]
    return None if not_digit is None else called_not_a_digit(not_digit)


def png_url(image: np.ndarray, compression: int = 1) -> str:
    """A uint8 image as a PNG in a data URL: st.image shows it as it is (an array it encodes again
    through Pillow, and stores as a file the browser then fetches), as a chart's tooltip does."""
    png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])[1]
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


DIGITS = [str(d) for d in range(10)]


def probability_chart(probabilities: np.ndarray) -> dict:
    """Ten bars, digits 0-9 always in the same order, the likeliest highlighted: a Vega-Lite spec
    written out. Building the same chart with Altair (its objects, its schema validation) cost more
    server CPU than everything else a stroke does (docs/performance.md); this spec is a dict. Its
    data is an Arrow table: as a list of rows Streamlit made a DataFrame of it, then Arrow (0.85 ms
    of CPU, against 0.06 ms here)."""
    top = int(np.argmax(probabilities)) if np.max(probabilities) > 0 else -1  # none before a drawing
    values = pa.table(
        {"digit": DIGITS, "probability": np.round(probabilities, 5).astype(np.float64), "top": np.arange(10) == top}
    )
    return {
        "height": 180,
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "digit", "type": "nominal", "sort": None, "axis": {"labelAngle": 0}},
            "y": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}, "axis": {"format": "%"}},
            "color": {"condition": {"test": "datum.top", "value": "#e4572e"}, "value": "#8aa1b1"},
            "tooltip": [{"field": "digit", "type": "nominal"}, {"field": "probability", "type": "quantitative", "format": ".1%"}],
        },
    }


def model_picker(key: str, class_id: str) -> tuple[StoredModel, list[StoredModel]]:
    """A picker over the usable stored models the class may use, its default first chosen; the
    chosen entry and all of them. Without any model the page says how to get one and stops."""
    store = ModelStore()
    listed = store.list(class_id)
    entries = [m for m in listed if not m.broken]
    if broken := [m.name for m in listed if m.broken]:
        st.caption(f":material/warning: Not offered, broken: {', '.join(broken)}. The Models page says why.")
    if not entries:
        st.error(f"No usable model in {store.where}. Train one: `python -m training --preset seed-c`.")
        st.stop()
    names = [m.name for m in entries]
    if st.session_state.get(key) not in names:  # first visit, or the chosen model is gone
        st.session_state[key] = store.default(class_id).name

    def label(name: str) -> str:
        accuracy = entries[names.index(name)].record.get("metrics", {}).get("test_accuracy")
        return f"{name} ({accuracy:.2%} on MNIST)" if accuracy is not None else name

    return entries[names.index(st.selectbox("Model", names, key=key, format_func=label))], entries


def newest(entries: list[StoredModel], n: int) -> list[StoredModel]:
    """The `n` models created last (a term's store holds hundreds: a page reads only a few at once)."""
    return sorted(entries, key=lambda m: m.record.get("created", ""), reverse=True)[:n]


def attempt(action: Callable[[], object]) -> bool:
    """Do `action`, a change to what the class shares; what it refuses (a student pressing a
    teacher's button, a name taken) is shown in one line. True when it was done."""
    try:
        action()
    except NotAllowed as err:
        st.error(str(err), icon=":material/lock:")
    except StoreError as err:
        st.error(str(err), icon=":material/error:")
    except Busy as err:  # the model's other background job is running
        st.warning(str(err), icon=":material/hourglass_top:")
    else:
        return True
    return False


def queue_or_explain(submit: Callable[[], T]) -> T | None:
    """Queue runs with `submit`; what it refuses is shown in one line, naming the reason. None then."""
    from training.cluster import ClusterUnavailable, problem
    from training.config import ConfigError
    from training.limits import OverLimit

    try:
        return submit()
    except ConfigError as err:
        st.error(f"Not started. {err.field.replace('_', ' ')}: {str(err).split(': ', 1)[1]}", icon=":material/error:")
    except (StoreError, OverLimit, DatabaseError) as err:  # a name taken, a class limit, a nearly full disk
        st.error(f"Not started: {err}", icon=":material/error:")
    except ClusterUnavailable as err:  # the page names Ray's problem already: not a second time
        st.error(
            "Not started: training is unavailable (the reason is on this page)." if str(err) == problem() else str(err),
            icon=":material/cloud_off:",
        )
    return None
