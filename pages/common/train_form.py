"""The Train page's forms: a recipe fills every option of the engine, a teaching run's few, and
Train or Teach queues the run (`training.runs.submit_run`), a refusal named at the form."""

import dataclasses

import streamlit as st

from model_store import ARCHITECTURES, ModelStore
from model_store.database import DatabaseError
from model_store.drawings import Drawings
from model_store.preprocess import NORMALIZATIONS
from pages.common import queue_or_explain
from pages.common.people import me
from training.config import CUSTOM_ARCHITECTURES, HELP, MONITORS, OPTIMIZERS, PRESETS, SCHEDULES, ConfigError, TrainConfig
from training.limits import read_limits
from training.runs import submit_run
from training.teach import MIN_DRAWINGS, split

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
ARCH_CHOICES = [*ARCHITECTURES, *CUSTOM_ARCHITECTURES]


def fill_from_preset() -> None:
    """A preset fills every field of the form with its recipe."""
    preset = PRESETS[st.session_state["train_preset"]].resolved()
    for name in FIELDS:
        value = getattr(preset, name)
        st.session_state[f"train_{name}"] = ", ".join(map(str, value)) if isinstance(value, tuple) else value


def sizes(text: str, field: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise ConfigError(field, f"write whole numbers separated by commas (got {text!r})") from None


def limits_note() -> None:
    """The class limits this person's runs must keep (the Class page sets them)."""
    limits, teacher = read_limits(), me().teacher
    run = [
        f"{limits.epochs} epochs" if limits.epochs else "",
        f"{limits.train_images:,} training images" if limits.train_images else "",
    ]
    run = " and ".join(part for part in run if part and not teacher)
    size = (
        ""
        if teacher
        else f"; a batch of {limits.smallest_batch} to {limits.largest_batch:,}, {limits.layers} layers, {limits.units:,} units and "
        f"{limits.filters:,} filters a layer" + (f", {limits.parameters:,} parameters a network" if limits.parameters else "")
    )
    running = f", {limits.running} training at once" if limits.running and not teacher else ""
    st.caption(
        f":material/rule: Class limits: {f'at most {run} a run, ' if run else ''}{limits.waiting} runs waiting at a time"
        f"{running}{size} (the teacher sets them on the Class page). Runs start in turn: the teacher's first, then "
        "everyone's first run before anyone's second."
    )


def form(store: ModelStore) -> None:
    if "train_arch" not in st.session_state:
        st.session_state["train_preset"] = "quick"  # the class's recipe: 99% in seconds
        fill_from_preset()
    st.selectbox(
        "Start from a recipe",
        list(PRESETS),
        key="train_preset",
        on_change=fill_from_preset,
        help="quick: the class's recipe, 99% in seconds; seed-a..d: the notebooks' exact recipes; "
        "default: the bundled model's (minutes)",
    )
    with st.form("train_form"):
        st.markdown("**Model**")
        a, b, c = st.columns(3)
        a.selectbox("Architecture", ARCH_CHOICES, key="train_arch", help=HELP["arch"])
        b.text_input("Dense layer sizes (custom)", key="train_dense_units", help=HELP["dense_units"])
        c.text_input("Conv filters (custom CNN)", key="train_conv_filters", help=HELP["conv_filters"])
        a.number_input("Dropout (custom)", 0.0, 0.9, step=0.05, key="train_dropout", help=HELP["dropout"])
        st.markdown("**Optimisation**")
        a, b, c = st.columns(3)
        a.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer", help=HELP["optimizer"])
        b.number_input(
            "Learning rate",
            min_value=0.0,
            format="%.5f",
            step=0.0005,
            key="train_learning_rate",
            help=HELP["learning_rate"],
        )
        c.selectbox("Schedule", SCHEDULES, key="train_schedule", help=HELP["schedule"])
        a.selectbox("Loss", ["sparse", "categorical"], key="train_loss", help=HELP["loss"])
        b.number_input("Label smoothing", 0.0, 0.5, step=0.05, key="train_label_smoothing", help=HELP["label_smoothing"])
        c.selectbox("Input scaling", NORMALIZATIONS, key="train_normalization", help=HELP["normalization"])
        st.markdown("**Data**")
        a, b, c = st.columns(3)
        a.number_input("Batch size", 1, 60000, key="train_batch_size", help=HELP["batch_size"])
        b.number_input("Epochs", 1, 1000, key="train_epochs", help=HELP["epochs"])
        c.number_input("Training images", 0, 60000, step=1000, key="train_train_limit", help=HELP["train_limit"])
        a.radio(
            "Validate on",
            ["split", "test", "none"],
            key="train_validation",
            horizontal=True,
            help=HELP["validation"],
        )
        b.number_input(
            "Validation fraction",
            0.0,
            1.0,
            step=0.05,
            key="train_validation_split",
            help=HELP["validation_split"],
        )
        c.number_input("Seed", 0, 2**31 - 1, key="train_seed", help=HELP["seed"])
        a.checkbox("Augment (shift, rotate, zoom, stroke)", key="train_augment", help=HELP["augment"])
        b.number_input(
            "Synthetic printed digits",
            0,
            100000,
            step=1000,
            key="train_printed_digits",
            help=HELP["printed_digits"],
        )
        c.number_input(
            "Redrawn digits (canvas, scans)", 0, 100000, step=1000, key="train_redrawn_digits", help=HELP["redrawn_digits"]
        )
        a.number_input('Non-digits (learn "not a digit")', 0, 100000, step=1000, key="train_not_digits", help=HELP["not_digits"])
        st.markdown("**Stopping**")
        a, b, c, d = st.columns(4)
        a.checkbox("Early stopping", key="train_early_stopping", help=HELP["early_stopping"])
        b.selectbox("Monitor", MONITORS, key="train_es_monitor", help=HELP["es_monitor"])
        c.number_input(
            "Min delta",
            0.0,
            1.0,
            step=0.001,
            format="%.3f",
            key="train_es_min_delta",
            help=HELP["es_min_delta"],
        )
        d.number_input("Patience", 0, 100, key="train_es_patience", help=HELP["es_patience"])
        a.checkbox("Keep the best epoch", key="train_checkpoint_best", help=HELP["checkpoint_best"])
        st.text_input("Model name", key="train_name", help=HELP["name"])
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if submitted:
        start(store)


def teach_form(store: ModelStore) -> None:
    """Fine-tune a stored model on the class drawings: a queued run like any other (training.teach)."""
    try:
        _, labels = Drawings().arrays()[1:]
    except DatabaseError as err:
        st.error(str(err), icon=":material/error:")
        return
    whole = [m.name for m in store.list() if not m.broken]
    st.caption(
        "The class drawings are split per digit into a teaching part and a held-back part; the teaching part is mixed "
        "with MNIST training images so the model does not forget MNIST. The result is stored as a new model."
    )
    if len(labels) < MIN_DRAWINGS:
        st.info(f"Teaching needs at least {MIN_DRAWINGS} class drawings; there are {len(labels)}. Save some on the Draw page.")
        return
    recipe = PRESETS["teach"]
    with st.form("train_teach_form"):
        a, b, c = st.columns(3)
        base = a.selectbox("Model to teach", whole, index=whole.index(store.default().name), key="train_teach_base")
        name = b.text_input("New model's name", key="train_teach_name", help=HELP["name"])
        epochs = c.number_input("Epochs", 1, 50, recipe.epochs, key="train_teach_epochs", help=HELP["epochs"])
        held_back = a.number_input(
            "Held back", 0.05, 0.5, recipe.held_back, step=0.05, key="train_teach_held", help=HELP["held_back"]
        )
        images = b.number_input("MNIST images mixed in", 1000, 60000, recipe.train_limit, step=1000, key="train_teach_mnist")
        rate = c.number_input("Learning rate", 0.00001, 0.01, recipe.learning_rate, format="%.5f", key="train_teach_lr")
        teach, held = split(labels, held_back, recipe.seed)
        st.caption(f"{len(labels)} class drawings: {len(teach)} teach it, {len(held)} are held back to measure it.")
        pressed = st.form_submit_button("Teach", type="primary", icon=":material/school:")
    if pressed:
        config = dataclasses.replace(
            recipe, teach=base, name=name, epochs=int(epochs), held_back=held_back, train_limit=int(images), learning_rate=rate
        )
        with st.spinner("Queueing..."):
            run_id = queue_or_explain(lambda: submit_run(config, store, me(keep=True)))
        if run_id:
            st.session_state["train_watch"] = run_id


def config_from_form() -> TrainConfig:
    values = {name: st.session_state[f"train_{name}"] for name in FIELDS}
    values["dense_units"] = sizes(values["dense_units"], "dense_units")
    values["conv_filters"] = sizes(values["conv_filters"], "conv_filters")
    return TrainConfig(**values).resolved()


def start(store: ModelStore) -> None:
    with st.spinner("Queueing (the first run starts the training engine, Ray: ~5 s)..."):
        run_id = queue_or_explain(lambda: submit_run(config_from_form(), store, me(keep=True)))
    if run_id:
        st.session_state["train_watch"] = run_id
