"""The Train page's forms: a recipe fills every option of the engine, a teaching run's few, and
Train or Teach queues the run (`training.runs.submit_run`), a refusal named at the form."""

import dataclasses

import streamlit as st

from model_store import ModelStore
from model_store.database import DatabaseError
from model_store.drawings import Drawings
from pages.common import queue_or_explain
from pages.common.fields import field_input
from pages.common.people import me, my_class
from training.config import PRESETS, ConfigError, TrainConfig, option_of
from training.limits import read_limits
from training.runs import submit_run
from training.teach import MIN_DRAWINGS, split

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


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
    person = me()
    limits, teacher = read_limits(person.class_id), person.teacher
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


# Where each option sits on the form: its section, in that many columns, filled left to right.
SECTIONS = (
    ("Model", 3, ("arch", "dense_units", "conv_filters", "dropout")),
    ("Optimisation", 3, ("optimizer", "learning_rate", "schedule", "loss", "label_smoothing", "normalization")),
    (
        "Data",
        3,
        (
            "batch_size",
            "epochs",
            "train_limit",
            "validation",
            "validation_split",
            "seed",
            "augment",
            "printed_digits",
            "redrawn_digits",
            "not_digits",
        ),
    ),
    ("Stopping", 4, ("early_stopping", "es_monitor", "es_min_delta", "es_patience", "checkpoint_best")),
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
        for title, width, names in SECTIONS:
            st.markdown(f"**{title}**")
            columns = st.columns(width)
            for i, name in enumerate(names):
                field_input(columns[i % width], name, f"train_{name}")
        field_input(st, "name", "train_name")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if submitted:
        start(store)


def teach_form(store: ModelStore) -> None:
    """Fine-tune a stored model on the class drawings: a queued run like any other (training.teach)."""
    try:
        _, labels = Drawings(class_id=my_class()).arrays()[1:]
    except DatabaseError as err:
        st.error(str(err), icon=":material/error:")
        return
    whole = [m.name for m in store.list(my_class()) if not m.broken]
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
        base = a.selectbox(
            option_of("teach").label, whole, index=whole.index(store.default(my_class()).name), key="train_teach_base"
        )
        name = field_input(b, "name", "train_teach_name", "New model's name")
        # A teaching run's ranges are narrower than a new model's: a few epochs, a small rate, MNIST always mixed in.
        epochs = field_input(c, "epochs", "train_teach_epochs", within=(1, 50), value=recipe.epochs)
        held_back = field_input(a, "held_back", "train_teach_held", value=recipe.held_back)
        mixed = "MNIST training images mixed with the class drawings, so the model does not forget MNIST"
        images = field_input(
            b,
            "train_limit",
            "train_teach_mnist",
            "MNIST images mixed in",
            (1000, 60000),
            value=recipe.train_limit,
            step=1000,
            help=mixed,
        )
        rate = field_input(
            c, "learning_rate", "train_teach_lr", within=(0.00001, 0.01), value=recipe.learning_rate, step=0.0001, format="%.5f"
        )
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
