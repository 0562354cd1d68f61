"""The stored models: compare them, look inside one, choose the default, rename, delete, upload.
Each shows who made it; its maker renames and deletes it, the teacher any."""

import time

import pandas as pd
import streamlit as st

from model_store import ModelStore, Predictor, StoredModel, StoreError
from model_store.archives import ArchiveError, check_keras
from model_store.database import MAIN
from model_store.jobs import Job, job_of, start
from model_store.preprocess import NORMALIZATIONS
from model_store.roles import NotAllowed, Person, owns
from pages.common import attempt, plain, predictor_of, through_app_frame
from pages.common.charts import reliability_chart
from pages.common.curves import curve_charts
from pages.common.model_table import overview, owner_of
from pages.common.people import me
from training.calibration import calibrate, keep
from training.curves import record_curves
from training.engine import import_model

through_app_frame()

st.title("Models")
store = ModelStore()


def details(entry: StoredModel) -> None:
    r = entry.record
    metrics = r.get("metrics", {})
    cols = st.columns(4)
    cols[0].metric("Test accuracy", f"{metrics.get('test_accuracy', 0):.2%}")
    cols[1].metric("Test loss", f"{metrics.get('test_loss', 0):.4f}")
    cols[2].metric("Parameters", f"{r.get('parameters', 0):,}")
    seconds = r.get("training_seconds")
    cols[3].metric("Training time", f"{seconds:.0f} s" if seconds is not None else "-")
    curve_charts(record_curves(r), "models_curve")
    summary, per_class = st.columns([3, 2])
    with summary:
        st.caption("Model summary")
        table = pd.DataFrame(r.get("summary", []), columns=["layer", "type", "output shape", "parameters"])
        st.dataframe(table, hide_index=True)
    with per_class:
        st.caption("Accuracy per digit")
        st.bar_chart(pd.DataFrame({"accuracy": metrics.get("per_class_accuracy", [])}), y_label="accuracy", height=260)
    not_a_digit(entry)
    calibration(entry)
    with st.expander("The full record"):
        shown = {k: v for k, v in r.items() if k not in ("summary", "history", "calibration")}
        shown["owner"] = owner_of(entry)  # the name only: a person's id is shown nowhere
        st.json(shown, expanded=False)


def not_a_digit(entry: StoredModel) -> None:
    """Whether it can say "that is not a digit", and how often it says so of digits and of non-digits."""
    st.subheader("Does it know what is not a digit?")
    metrics = entry.record.get("metrics", {})
    if "non_digits_rejected" not in metrics:
        st.caption(
            "No: it answers every drawing with a digit, a star or a letter too. Train with non-digits (the Train "
            'page\'s "Non-digits") to give it an 11th answer, "not a digit".'
        )
        return
    learnt = (entry.record.get("config") or {}).get("not_digits")  # an uploaded model has no config
    st.caption(
        f"Yes: it learnt from {f'{learnt:,} ' if learnt else ''}generated letters, symbols, shapes and doodles, and "
        'says "not a digit" when that is more likely than a digit. Measured on drawings of kinds it never learnt '
        "from, and on real digits."
    )
    rejected, turned_away = st.columns(2)
    rejected_share, rejected_said = _as_said(entry, "non_digits_rejected")
    rejected.metric(
        "Non-digits it turns away",
        f"{rejected_share:.1%}",
        help="of 1,000 generated drawings of kinds it never learnt from: letters in TrueType fonts, hearts, spirals, "
        'arrows, hash signs, triangles and squares; it says "not a digit" when that is more likely than a digit' + rejected_said,
    )
    test_share, test_said = _as_said(entry, "test_not_a_digit")
    turned_away.metric(
        "MNIST test digits it calls not a digit",
        f"{test_share:.2%}",
        help=f"real digits it wrongly turns away, of all 10,000{test_said}; its calibration (below) measures the same "
        "on the check sets",
    )


def _as_said(entry: StoredModel, key: str) -> tuple[float, str]:
    """A share of the record's: its calibration's once made (what the pages then say), else training's."""
    calibrated = (entry.calibration or {}).get(key)
    if calibrated is None:
        return entry.record["metrics"][key], ""
    return calibrated, ", as sure as its calibration makes it"


def calibration(entry: StoredModel) -> None:
    """How far its confidence can be trusted: the reliability diagram and each set's calibration
    error, before and after temperature scaling (`training.calibration`)."""
    st.subheader("Can its confidence be trusted?")
    c = entry.calibration
    if c is None:
        st.caption(
            "Not calibrated yet: the pages show its confidence as the model gives it, and say "
            f'"Not sure" under {entry.unsure_below:.0%}.'
        )
    else:
        st.caption(
            f"Calibrated on held-out images (temperature {c['temperature']:.2f}): when it says 80%, it is right about 80% "
            f'of the time. "Not sure" under {c["unsure_below"]:.0%}, where half of its held-out mistakes are. '
            "Measured on images the calibration never saw; the ECE is the average gap between how sure it "
            "says it is and how often it is right. In the diagram, the confidence bins of fewer than 20 answers are left out."
        )
        table = pd.DataFrame(
            [
                {
                    "images": name,
                    "accuracy": f"{s['accuracy']:.2%}",
                    "ECE before": f"{s['ece_before']:.2%}",
                    "ECE after": f"{s['ece_after']:.2%}",
                    "called unsure": f"{s['unsure']:.1%}",
                    "of its mistakes": "-" if s["caught"] is None else f"{s['caught']:.0%}",
                    **({"called not a digit": f"{s['not_a_digit']:.1%}"} if "not_a_digit" in s else {}),
                }
                for name, s in c["sets"].items()
            ]
        )
        st.dataframe(table, hide_index=True)
        st.altair_chart(reliability_chart(c["sets"]))
    if not entry.bundled:
        calibrate_button(entry, c is not None)


def calibrate_button(entry: StoredModel, again: bool) -> None:
    """Calibrating runs in the background (`model_store.jobs`), once a model at a time, started by
    its owner or the teacher; the page goes on meanwhile."""
    job = job_of(entry.name, "calibration")
    if job is not None and not job.done:
        calibrating(job)
        return
    if job is not None and job.error:
        st.error(f"The last calibration failed ({job.error}).", icon=":material/error:")
    person = me()
    allowed = person.teacher or owns(person, entry.record.get("owner"))
    label = "Calibrate it again" if again else "Calibrate it (about 20 s, in the background)"
    if st.button(label, key="models_calibrate", icon=":material/tune:", disabled=not allowed):
        as_trained = Predictor(predictor_of(entry).model, entry.normalization)  # the fit starts from the raw confidences
        if attempt(lambda: start("calibration", entry, person, lambda _: keep(store, entry, calibrate(as_trained)))):
            st.rerun()
    if not allowed:
        st.caption(":material/lock: Only its owner or the teacher may calibrate it.")


@st.fragment(run_every=1.0)
def calibrating(job: Job) -> None:
    if job.done:
        st.rerun()  # calibrated (or failed): the whole section again
    since = "waiting for another model's job to finish" if job.waiting else f"{time.monotonic() - job.started:.0f} s"
    st.info(
        f"Calibrating {job.model} in the background ({since}): reading MNIST's 10,000 test images and two draws of the "
        "four check sets. The app goes on meanwhile.",
        icon=":material/hourglass_top:",
    )


TEACHERS_NOTE = (
    ":material/lock: Choosing the default, adding models and changing other people's models are the teacher's: "
    "sign in as teacher in the sidebar."
)


def actions(entry: StoredModel, default: str | None, person: Person) -> None:
    """A student sees the teacher's buttons disabled (and may rename and delete their own models);
    pressed anyway, the store refuses them."""
    student = not person.teacher and not owns(person, entry.record.get("owner"))
    make_default, download, _ = st.columns([1, 1, 2])
    if make_default.button(
        "Make it the default", key="models_make_default", disabled=entry.name == default or not person.teacher
    ):
        if attempt(lambda: store.set_default(entry.name, person)):
            st.rerun()
    download.download_button(
        "Download .keras",
        entry.model_path.read_bytes(),
        file_name=f"{entry.name}.keras",
        mime="application/zip",
        key="models_download",
    )
    st.caption(f"Made by {plain(owner_of(entry))}" + (" (you)" if owns(person, entry.record.get("owner")) else ""))
    if not person.teacher:
        st.caption(TEACHERS_NOTE)
    if entry.bundled:
        st.caption("The bundled model ships with the app, every class's: it cannot be renamed or deleted.")
        return
    shared = bool(entry.record.get("shared"))
    ours = entry.record.get("class_id", MAIN) == person.class_id
    if (
        st.toggle(
            "Shared with every class of the school",
            value=shared,
            key=f"models_shared_{entry.name}",
            disabled=not (person.teacher and ours),
        )
        != shared
    ):
        if attempt(lambda: store.set_shared(entry.name, not shared, person)):
            st.rerun()
    rename_col, delete_col = st.columns(2)
    with rename_col.form("models_rename_form"):
        new_name = st.text_input("New name", value=entry.name, key="models_new_name", disabled=student)
        if st.form_submit_button("Rename", disabled=student) and attempt(lambda: store.rename(entry.name, new_name, person)):
            st.session_state["models_next_pick"] = new_name  # the picker exists already this run
            st.rerun()
    with delete_col:
        sure = st.checkbox(f"Yes, delete {entry.name} for good", key="models_sure", disabled=student)
        if st.button("Delete", key="models_delete", type="primary", disabled=not sure or student):
            if attempt(lambda: store.delete(entry.name, person)):
                st.session_state["models_next_pick"] = None
                st.rerun()


def upload(person: Person) -> None:
    st.subheader("Add a model from a .keras file")
    if not person.teacher:
        st.caption(TEACHERS_NOTE)
        return
    with st.form("models_upload_form", clear_on_submit=True):
        file = st.file_uploader(
            "A Keras model that takes a 28x28 image and gives 10 outputs (or 11: the 11th, 'not a digit')",
            type=["keras"],
            key="models_file",
        )
        name = st.text_input("Name it", key="models_upload_name")
        normalization = st.selectbox(
            "Its input scaling", NORMALIZATIONS, key="models_upload_norm", help="scale: pixels / 255; l2: notebook A's"
        )
        if not st.form_submit_button("Add the model"):
            return
    if file is None:
        st.error("Choose a .keras file first.")
        return
    try:
        check_keras(file.getvalue())  # before Keras unpacks it: a zip bomb of a few kB can hold gigabytes
        model = store.read_upload(file.getvalue(), person)
        with st.spinner("Evaluating it on the 10,000 test images..."):
            entry = import_model(model, name, normalization, store, person)
    except (StoreError, NotAllowed, ArchiveError) as err:
        st.error(f"{file.name}: {err}")
        return
    st.success(f"Added {entry.name}: {entry.record['metrics']['test_accuracy']:.2%} on the MNIST test set.")


person = me()
models = store.list(person.class_id)
default = store.default(person.class_id).name if any(not m.broken for m in models) else None
mine_only = st.segmented_control("Models", ["Mine", "Everyone's"], default="Everyone's", key="models_whose") == "Mine"
if mine_only:
    models = [m for m in models if owns(person, m.record.get("owner"))]
if not models:
    st.info(
        "You have made no model yet: train one on the Train page."
        if mine_only
        else f"No models yet in `{store.root}`. Train one: `python -m training --preset seed-c`."
    )
else:
    overview(models, default)
    names = [m.name for m in models]
    if "models_next_pick" in st.session_state:
        st.session_state["models_pick"] = st.session_state.pop("models_next_pick")
    if st.session_state.get("models_pick") not in names:
        st.session_state["models_pick"] = default if default in names else names[0]
    chosen = models[names.index(st.selectbox("Look at", names, key="models_pick"))]
    if chosen.broken:
        st.error(f"{chosen.name} is broken: {chosen.error}")
        if not chosen.bundled and st.button("Delete the broken entry", key="models_delete_broken", disabled=not person.teacher):
            if attempt(lambda: store.delete(chosen.name, person)):
                st.rerun()
    else:
        details(chosen)
        actions(chosen, default, person)
upload(person)
