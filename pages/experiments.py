"""Experiments: vary one option of a recipe, one queued run per value, and see the answers side by
side as they come in: the class's experiments on one live board."""

import altair as alt
import pandas as pd
import streamlit as st

from model_store import ModelStore
from pages.common import queue_or_explain, through_app_frame
from pages.common.curves import curve_chart
from pages.common.people import me, my_class
from training.config import PRESETS, option_of
from training.curves import compare_curves
from training.experiments import READY_MADE, VARIABLES, csv_of, results, submit_experiment
from training.runs import list_runs, problem, warm_up

through_app_frame()

st.title("Experiments")
st.caption(
    "Notebook B asks: what do batch size, layers and nodes do to training time and accuracy? "
    "Pick a recipe and one option to vary: each value becomes a queued run, and the board below "
    "fills in as they finish."
)
store = ModelStore()


def use_ready_made() -> None:
    chosen = next(r for r in READY_MADE if r.title == st.session_state["exp_ready"])
    st.session_state.update(
        exp_name=chosen.name, exp_preset=chosen.preset, exp_variable=chosen.variable, exp_values="\n".join(chosen.values)
    )


def fill_example() -> None:
    st.session_state["exp_values"] = VARIABLES[st.session_state["exp_variable"]].example


def start(name: str, preset: str, variable: str, values: list[str]) -> None:
    with st.spinner("Queueing..."):
        queued = queue_or_explain(lambda: submit_experiment(name, preset, variable, values, store, me(keep=True)))
    if queued:
        st.success(f"Queued {queued} runs of {name}.", icon=":material/schedule:")
        st.session_state["exp_show"] = name


def form() -> None:
    if "exp_name" not in st.session_state:
        st.session_state["exp_ready"] = READY_MADE[0].title
        use_ready_made()
    st.selectbox(
        "Start from one of notebook B's questions", [r.title for r in READY_MADE], key="exp_ready", on_change=use_ready_made
    )
    a, b, c = st.columns(3)
    a.text_input("Experiment name", key="exp_name", help="also the start of each run's model name")
    b.selectbox("Recipe", list(PRESETS), key="exp_preset", help="the recipe every run starts from")
    c.selectbox("Option to vary", list(VARIABLES), key="exp_variable", on_change=fill_example)
    variable = VARIABLES[st.session_state["exp_variable"]]
    varied = option_of(variable.field)  # declared once: training.config
    meaning = f"{variable.label}: {variable.help}" if variable.help else f"{varied.label}: {varied.text}"
    st.text_area("Its values, one a line", key="exp_values", height=130, help=meaning)
    if st.button("Queue the experiment", type="primary", icon=":material/science:", key="exp_start"):
        values = st.session_state["exp_values"].splitlines()
        start(st.session_state["exp_name"].strip(), st.session_state["exp_preset"], st.session_state["exp_variable"], values)


@st.fragment(run_every=2.0)
def board() -> None:
    """Every experiment's runs in the class, everyone's, read from the class database every two seconds."""
    if problem():
        st.error(problem(), icon=":material/cloud_off:")
    runs = [r for r in list_runs(my_class()) if r.config.get("experiment")]
    if not runs:
        st.info("No experiment yet: queue one above.")
        return
    records = {m.name: m.record for m in store.list(my_class()) if not m.broken}
    table = results(runs, records)
    names = list(dict.fromkeys(reversed(table["experiment"].tolist())))  # newest first
    if st.session_state.get("exp_show") not in names:
        st.session_state["exp_show"] = names[0]
    shown = st.selectbox("Experiment", names, key="exp_show")
    part = table[table["experiment"] == shown].drop(columns=["experiment"])
    st.dataframe(
        part,
        hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "test loss": st.column_config.NumberColumn(format="%.4f"),
            "training s": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    st.download_button("Download the table (CSV)", csv_of(part), file_name=f"{shown}.csv", mime="text/csv", key="exp_csv")
    done = part.dropna(subset=["test accuracy"])
    if done.empty:
        st.caption("The charts appear as the first runs finish.")
        return
    charts(done, part["varied"].iloc[0], [records[m] for m in done["model"] if m in records])


def charts(done: pd.DataFrame, variable: str, finished: list[dict]) -> None:
    numeric = pd.to_numeric(done["value"], errors="coerce").notna().all()
    x = alt.X(
        "value:Q" if numeric else "value:N",
        title=variable,
        scale=alt.Scale(type="log")
        if numeric and variable in ("batch size", "learning rate", "training images")
        else alt.Undefined,
    )
    accuracy = alt.Y("test accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False))
    tooltip = ["value", alt.Tooltip("test accuracy:Q", format=".2%"), alt.Tooltip("training s:Q", format=".1f"), "who"]
    left, right = st.columns(2)
    by_value = alt.Chart(done, height=240, title="Test accuracy").mark_line(point=True).encode(x=x, y=accuracy, tooltip=tooltip)
    left.altair_chart(by_value, key="exp_by_value")
    by_time = (
        alt.Chart(done, height=240, title="Test accuracy against training time")
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("training s:Q", title="training seconds"),
            y=accuracy,
            color=alt.Color("value:N", title=variable, sort=done["value"].tolist()),
            tooltip=tooltip,
        )
    )
    right.altair_chart(by_time, key="exp_by_time")
    metric = st.radio("Curves", ["val_loss", "loss", "val_accuracy", "accuracy"], horizontal=True, key="exp_curve")
    curves = compare_curves(finished, metric)
    if not curves.empty:
        st.altair_chart(curve_chart(curves, metric.removeprefix("val_"), height=280), key="exp_curves")


warm_up()
form()
board()
