"""The one place that draws loss and accuracy curves: the Train page (live and "Compare runs")
and the Models page. The figures come from `training.curves`."""

import altair as alt
import pandas as pd
import streamlit as st

from training.curves import TRAINING, VALIDATION, value_range

# One run's series keep their colours on every chart; the test figure is drawn in black.
RUN_COLOURS = {TRAINING: "#4c78a8", VALIDATION: "#e45756"}


def _colours(series: list[str]) -> alt.Scale:
    if not set(series) & set(RUN_COLOURS):  # several models compared: Vega's own palette
        return alt.Scale()
    return alt.Scale(domain=series, range=[RUN_COLOURS.get(s, "#222222") for s in series])


def curve_chart(curves: pd.DataFrame, metric: str, log: bool = False, height: int = 240) -> alt.Chart:
    """One metric's curves: a line per series, per-epoch figures as points, the kept best epoch
    ringed. Accuracy is zoomed to the range reached; loss is linear from 0, or logarithmic."""
    part = curves[curves["metric"] == metric]
    low, high = value_range(curves, metric) or (0, 1)
    if log and metric == "loss":
        scale = alt.Scale(type="log")
    else:
        scale = alt.Scale(domain=[low, high], zero=False)
    # Accuracy ticks with two decimals when the axis spans under half a point (a taught model at
    # 100% throughout), where one decimal would label two ticks "100.0%".
    axis = alt.Axis(format=("~g" if metric != "accuracy" else ".2%" if high - low < 0.005 else ".1%"))
    series = sorted(part["series"].unique(), key=lambda s: (s not in RUN_COLOURS, s))
    base = alt.Chart(part, height=height).encode(
        # A little room past the last epoch, so its points and ring are not cut in half.
        x=alt.X("epoch:Q", title="epoch", scale=alt.Scale(domainMin=0, nice=False, padding=10)),
        y=alt.Y("value:Q", title=metric, scale=scale, axis=axis),
        color=alt.Color(
            "series:N", title=None, scale=_colours(series), sort=series, legend=alt.Legend(orient="bottom", labelLimit=320)
        ),
        tooltip=["series", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
    )
    # Plain lines: the live chart redraws while training shares the machine's cores. Lines are
    # clipped (a run's first windows may start below the zoomed axis); points always fit.
    lines = base.mark_line(clip=True)
    points = base.transform_filter("datum.point").mark_point(filled=True, size=45)
    best = (
        base.transform_filter("datum.best")
        .mark_point(size=260, strokeWidth=2, color="black")
        .encode(tooltip=[alt.Tooltip("epoch:Q", title="best epoch, kept"), alt.Tooltip("value:Q", format=".4f")])
    )
    return lines + points + best


def curve_charts(curves: pd.DataFrame, key: str) -> None:
    """Loss and accuracy side by side, with the loss scale toggle."""
    if curves.empty:
        st.caption("No curves recorded for this model (an uploaded one).")
        return
    log = st.toggle("Loss on a log scale", key=f"{key}_log", help="shows the late, small improvements in loss")
    loss, accuracy = st.columns(2)
    loss.altair_chart(curve_chart(curves, "loss", log), key=f"{key}_loss")
    accuracy.altair_chart(curve_chart(curves, "accuracy"), key=f"{key}_accuracy")
    if curves["best"].any():
        st.caption("Ringed: the best epoch, whose weights the model kept.")
