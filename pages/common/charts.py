"""Charts of a model on a set of images: the confusion matrix and the accuracy per digit (Gallery),
the reliability diagram (Models)."""

import altair as alt
import numpy as np
import pandas as pd


def confusion_chart(confusion: np.ndarray) -> alt.Chart:
    cells = pd.DataFrame([{"true": t, "predicted": p, "images": int(confusion[t, p])} for t in range(10) for p in range(10)])
    cells["mistake"] = np.where(cells["true"] != cells["predicted"], cells["images"], 0)
    pick = alt.selection_point(name="cell", fields=["true", "predicted"], toggle="true")
    base = alt.Chart(cells, width=360, height=360).encode(
        x=alt.X("predicted:O", title="predicted"), y=alt.Y("true:O", title="true digit")
    )
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("mistake:Q", scale=alt.Scale(scheme="oranges"), title="mistakes"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=["true", "predicted", "images"],
    )
    # Each count in black up to 80% of the most mistakes (4.7:1 on that orange) and in white above
    # (4.5:1 there, 7.1:1 on the darkest); the dark grey before was 1.8:1 on the darkest cell.
    dark = f"datum.mistake > {0.8 * max(1, cells['mistake'].max())}"
    text = base.mark_text(fontSize=11).encode(text="images:Q", color=alt.condition(dark, alt.value("white"), alt.value("black")))
    return (heat + text).add_params(pick)


def per_digit_chart(accuracies: list[float]) -> alt.Chart:
    """Ten bars, zoomed in on the range they span but showing every bar whole."""
    data = pd.DataFrame({"digit": [str(d) for d in range(10)], "accuracy": accuracies})
    low = min(0.9, np.floor((min(accuracies) - 0.02) * 20) / 20)
    return (
        alt.Chart(data, height=300)
        .mark_bar(clip=True)
        .encode(
            x=alt.X("digit:N", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[max(0.0, low), 1]), axis=alt.Axis(format="%")),
        )
    )


def reliability_chart(sets: dict, fewest: int = 20) -> alt.Chart:
    """The reliability diagram: per confidence bin, how often the model was right against how sure
    it said it was, each set before (dashed) and after calibration; on the grey diagonal, "80%
    sure" means right 80% of the time. Bins of fewer than `fewest` answers are left out: a bin of
    three images is right 0%, 33%, 67% or 100% of the time, whatever the model."""
    rows = [
        {"set": name, "when": when, "confidence": r["confidence"], "right": r["accuracy"], "answers": r["count"]}
        for name, s in sets.items()
        for when, key in (("before", "reliability_before"), ("after", "reliability"))
        for r in s.get(key, [])
        if r["count"] >= fewest
    ]
    axis = alt.Scale(domain=[0, 1])
    diagonal = (
        alt.Chart(pd.DataFrame({"confidence": [0, 1], "right": [0, 1]}))
        .mark_line(color="#bbb")
        .encode(x=alt.X("confidence:Q", scale=axis), y=alt.Y("right:Q", scale=axis))
    )
    lines = (
        alt.Chart(pd.DataFrame(rows), height=320)
        .mark_line(point=True)
        .encode(
            x=alt.X("confidence:Q", scale=axis, axis=alt.Axis(format="%"), title="how sure it said it was"),
            y=alt.Y("right:Q", scale=axis, axis=alt.Axis(format="%"), title="how often it was right"),
            color=alt.Color("set:N", title="images"),
            strokeDash=alt.StrokeDash("when:N", sort=["after", "before"], title="calibration"),
            tooltip=["set", "when", alt.Tooltip("confidence:Q", format=".1%"), alt.Tooltip("right:Q", format=".1%"), "answers"],
        )
    )
    return diagonal + lines
