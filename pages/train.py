"""Train a model in the browser: pick a recipe, press Train, watch the queue and the curves.

Runs are queued on Ray (training.runs): any number of people may press Train; this page only
submits and reads the runs' folders, so navigating away, reloading or a second tab never stops one.
"""

import contextlib
import time

import pandas as pd
import streamlit as st

from model_store import ModelStore, StoreError
from model_store.roles import NotAllowed, owns
from model_store.status import Status
from pages.common import attempt, plain, through_app_frame
from pages.common.curves import curve_chart, curve_charts
from pages.common.people import me, my_class
from pages.common.train_form import form, limits_note, teach_form
from training.cluster import ClusterUnavailable
from training.config import TrainConfig
from training.curves import best_epoch, compare_curves, history_of, record_curves, reports_of, run_curves
from training.runs import (
    clear_queue,
    has_checkpoint,
    keep_checkpoint,
    list_runs,
    problem,
    queue_places,
    read_run,
    request_stop,
    warm_up,
)

through_app_frame()

st.title("Train")
store = ModelStore()


# ---------------------------------------------------------------- the live run


def live_curves(run) -> pd.DataFrame:
    """The run's curves; a finished run's from its stored record, which adds the test figures."""
    if run.finished and run.model:
        with contextlib.suppress(StoreError):
            return record_curves(store.get(run.model).record)
    config = TrainConfig.from_dict(run.config)
    history = history_of(run.events)
    best = best_epoch(history, config.monitor) if config.checkpoint_best else None
    return run_curves(reports_of(run.events), history, best)


def chart_data(run) -> pd.DataFrame:
    """New curve points every 3 s while training: between them the charts are unchanged and
    the browser need not redraw them (it shares this 2-core machine with the training)."""
    kept = st.session_state.get("train_chart_data")
    now = time.monotonic()
    if run.finished or kept is None or kept[0] != run.id or now - kept[1] >= 3:
        kept = (run.id, now, live_curves(run))
        st.session_state["train_chart_data"] = kept
    return kept[2]


WATCHABLE = 50  # runs offered to watch: every unfinished one and this browser's come first
STATUS = {Status.RUNNING: "Training", Status.STOPPING: "Stopping", Status.DONE: "Finished", Status.STOPPED: "Stopped early"}


def recipe(config: dict) -> str:
    what = f"teach {config['teach']}" if config.get("teach") else config.get("arch")
    return f"{what}, {config.get('epochs')} epochs, batch {config.get('batch_size')}"


def queue_table(runs, places) -> None:
    rows = []
    for r in runs:
        p = r.latest
        place, wait = places.get(r.id, (None, None))
        when = f"#{place}" + (f", in ~{wait:.0f} s" if wait is not None else "") if place else ""
        rows.append(
            {
                "who": r.owner,
                "model": r.config.get("name"),
                "recipe": recipe(r.config),
                "status": r.status,
                "progress": ((p.epoch - 1) * p.batches + p.batch) / (p.epochs * p.batches) if p and p.batches else 0.0,
                "queue place": when,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"progress": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
    )


@st.fragment(run_every=1.0)
def queue_panel() -> None:
    """Every second: the class's runs, read from the class database; one of them watched closely."""
    warm_up()  # the engine thread, started again if it died
    if problem():
        st.error(problem(), icon=":material/cloud_off:")
    person, everyone = me(), list_runs()  # the queue is the school's: a place counts every class's runs
    runs = [r for r in everyone if r.class_id == person.class_id]
    if not runs:
        st.info("No run yet: choose a recipe and press Train.")
        return
    ours = {r.id for r in runs}
    active, places = [r for r in runs if not r.finished], {k: v for k, v in queue_places(everyone).items() if k in ours}
    # Queued from this person's browser (any tab, before or after a reload): asked once, not per run.
    mine = {r.id for r in runs if owns(person, r.maker)}
    st.subheader("The queue")
    if active:
        queue_table(active, places)
        if person.teacher and places:
            clear_button(len(places))
    else:
        st.caption("Nothing is running or waiting.")
    # Newest first: the running and waiting ones, this browser's and the latest: a term holds thousands.
    whose = st.segmented_control("Runs", ["Mine", "Everyone's"], default="Everyone's", key="train_whose")
    if whose == "Mine":
        runs = [r for r in runs if r.id in mine]
        if not runs:
            st.caption("You have no run yet: choose a recipe above and press Train.")
            return
    by_id = {r.id: r for r in runs}
    ids = [r.id for r in reversed(runs) if not r.finished or r.id in mine][:WATCHABLE]
    offered = set(ids)
    ids += [r.id for r in reversed(runs) if r.id not in offered][: max(0, WATCHABLE - len(ids))]
    if st.session_state.get("train_watch") not in ids:
        own = [i for i in ids if i in mine]
        st.session_state["train_watch"] = own[0] if own else ids[0]
    label = lambda i: f"{by_id[i].config.get('name')} ({by_id[i].owner}, {by_id[i].status})"  # noqa: E731
    watched = read_run(st.selectbox("Watch a run", ids, key="train_watch", format_func=label))  # its events too
    run_view(watched, places.get(watched.id), person)


def run_view(run, place, person) -> None:
    p = run.latest
    label = STATUS.get(run.status, run.status.capitalize())
    st.subheader(f"{label}: {run.config.get('name')} ({run.config.get('arch')})")
    if run.status == Status.WAITING:
        wait = f", starting in about {place[1]:.0f} s" if place and place[1] is not None else ""
        st.info(f"Waiting its turn: place {place[0] if place else '?'} in the queue{wait}.", icon=":material/schedule:")
    if p is not None:
        done = ((p.epoch - 1) * p.batches + p.batch) / (p.epochs * p.batches)
        eta = f", about {p.eta:.0f} s left" if p.eta and not run.finished else ""
        st.progress(min(done, 1.0), text=f"Epoch {p.epoch}/{p.epochs}, batch {p.batch}/{p.batches}, {p.elapsed:.0f} s{eta}")
        curve_charts(chart_data(run), "train_curve")
    own = owns(person, run.maker)
    if run.status in (Status.WAITING, Status.RUNNING) and (own or person.teacher):
        name, icon = ("Cancel", ":material/cancel:") if run.status == Status.WAITING else ("Stop", ":material/stop:")
        whose = "" if own else f" {plain(run.owner)}'s run"
        st.button(name + whose, key="train_stop", icon=icon, on_click=stop, args=(run.id,))
    if run.status == Status.FAILED:
        st.error(f"The run failed: {run.error}")
    elif run.status == Status.CANCELLED:
        st.caption("Cancelled before it started.")
    elif run.status == Status.INTERRUPTED and not run.model:
        kept = has_checkpoint(run.id)
        said = " Its best checkpoint is kept." if kept else ""
        st.warning(f"The run was interrupted ({run.error or 'its worker is gone'}).{said}")
        if kept:
            st.button(
                "Keep its best checkpoint as a model", key="train_keep", icon=":material/save:", on_click=keep, args=(run.id,)
            )
    elif run.finished and run.model:
        results(run.model)


def stop(run_id: str) -> None:
    try:
        request_stop(run_id, me())
    except ClusterUnavailable as err:
        st.toast(str(err), icon=":material/cloud_off:")
    except NotAllowed as err:
        st.toast(str(err), icon=":material/lock:")


def clear_button(waiting: int) -> None:
    """The teacher's: cancel every waiting run at once (the running ones go on)."""
    sure, press, _ = st.columns([2, 1, 2])
    sure = sure.checkbox(f"Yes, cancel all {waiting} waiting runs", key="train_clear_sure")
    if press.button("Clear the queue", key="train_clear", icon=":material/clear_all:", disabled=not sure):
        try:
            st.toast(f"Cancelled {clear_queue(me())} waiting runs", icon=":material/clear_all:")
        except (ClusterUnavailable, NotAllowed) as err:
            st.toast(str(err), icon=":material/error:")


def keep(run_id: str) -> None:
    try:
        keep_checkpoint(run_id, store)
    except (ValueError, StoreError) as err:  # kept already from another tab, or its name taken since
        st.toast(f"Not kept: {err}", icon=":material/error:")


def results(name: str) -> None:
    try:
        entry = store.get(name)
    except StoreError:
        return
    r = entry.record
    m = r["metrics"]
    cols = st.columns(4)
    cols[0].metric("Test accuracy", f"{m['test_accuracy']:.2%}")
    cols[1].metric("Test loss", f"{m['test_loss']:.4f}")
    cols[2].metric("Training time", f"{r['training_seconds']:.0f} s")
    cols[3].metric("Epochs", f"{r['epochs_run']} of {r['config']['epochs']}")
    if r.get("stopped_by"):
        st.caption(f"Stopped early ({r['stopped_by'].replace('_', ' ')}); the best weights so far were kept.")
    if r.get("teach"):
        teaching_results(r["teach"])
    summary, per_class = st.columns([3, 2])
    summary.dataframe(pd.DataFrame(r["summary"], columns=["layer", "type", "output shape", "parameters"]), hide_index=True)
    per_class.bar_chart(pd.DataFrame({"accuracy": m["per_class_accuracy"]}), y_label="accuracy per digit", height=240)
    a, b, _ = st.columns([1, 1, 2])
    if a.button("Use it on the Draw page", key="train_make_default"):
        use_it(name)
    if b.button("Open it in the gallery", key="train_open_gallery"):
        st.session_state["gallery_model"] = name
        st.switch_page("pages/gallery.py")


def teaching_results(t: dict) -> None:
    """What teaching did: the held-back class drawings and MNIST's test set, before and after."""
    st.markdown(
        f"**Taught {t['base']}** with {t['drawings_taught']} class drawings and {t['mnist_images']:,} MNIST images; "
        f"{t['drawings_held_back']} drawings were held back to measure it."
    )
    held, mnist = st.columns(2)
    for col, label, before, after in (
        (held, "Held-back class drawings", t["held_back_accuracy_before"], t["held_back_accuracy_after"]),
        (mnist, "MNIST test", t["mnist_accuracy_before"], t["mnist_accuracy_after"]),
    ):
        if after is None:
            col.metric(label, "-", help="no drawing was held back (each digit needs two to hold one back)")
            continue
        delta = f"{(after - before) * 100:+.1f} points from {before:.1%}" if before is not None else None
        col.metric(label, f"{after:.1%}", delta)


def use_it(name: str) -> None:
    """The teacher makes it the class's default; a student, the model of their own Draw page."""
    person = me()
    if person.teacher:
        if attempt(lambda: store.set_default(name, person)):
            st.toast(f"{name} is now the class's default model, for everyone in it")
    else:
        st.session_state["draw_model"] = name
        st.toast(f"Your Draw page now reads with {name}; the class's default stays {store.default(person.class_id).name}")


# ---------------------------------------------------------------- any stored model's curves


def compare_runs() -> None:
    st.subheader("Compare runs")
    trained = [m for m in store.list(my_class()) if not m.broken and m.record.get("history")]
    if not trained:
        st.caption("Train a model to see its curves here.")
        return
    chosen = st.multiselect("Models", [m.name for m in trained], default=[trained[-1].name], key="train_compare")
    metric = st.radio(
        "Curve",
        ["val_accuracy", "val_loss", "accuracy", "loss"],
        horizontal=True,
        key="train_compare_metric",
    )
    curves = compare_curves([m.record for m in trained if m.name in chosen], metric)
    if curves.empty:
        st.caption(f"No {metric} recorded for these models (trained without validation?).")
        return
    log = metric.endswith("loss") and st.toggle("Loss on a log scale", key="train_compare_log")
    st.altair_chart(curve_chart(curves, metric.removeprefix("val_"), log, height=280), key="train_compare_chart")


warm_up()
limits_note()
TEACH = "Teach a model the class's handwriting"
st.session_state.setdefault("train_mode", "Train a new model")
if st.segmented_control("What to do", ["Train a new model", TEACH], key="train_mode", label_visibility="collapsed") == TEACH:
    teach_form(store)
else:
    form(store)
queue_panel()
compare_runs()
