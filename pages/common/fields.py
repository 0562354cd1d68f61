"""A declared option's widget: the Train, teaching and Class forms draw every field this one way."""

from __future__ import annotations

from training.config import option_of


def field_input(place, name: str, key: str, label: str | None = None, within: tuple | None = None, of=None, **given):
    """One option's widget, as its field declares it (training.config: label, help, widget, range),
    a TrainConfig field's or another dataclass's (`of`: the class limits). `within` narrows a
    number's range (low, high) for a form that allows less; `given` may also replace its help, step
    or format."""
    option = option_of(name, of)
    label, help = label or option.label, given.pop("help", option.text or None)
    if option.widget == "select":
        return place.selectbox(label, option.choices, key=key, help=help, **given)
    if option.widget == "radio":
        return place.radio(label, option.choices, key=key, horizontal=True, help=help, **given)
    if option.widget == "checkbox":
        return place.checkbox(label, key=key, help=help, **given)
    if option.widget in ("text", "sizes"):
        return place.text_input(label, key=key, help=help, **given)
    kind = int if option.whole else float
    low, high = (None if bound is None else kind(bound) for bound in (within or (option.low, option.high)))
    step = given.pop("step", option.step)
    step, number_format = None if step is None else kind(step), given.pop("format", option.format)
    if option.high_open and high is not None and step and not within:  # the top itself is refused: one step below it
        high = round(high - step, 10)
    return place.number_input(label, low, high, step=step, format=number_format, key=key, help=help, **given)
