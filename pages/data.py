"""Look at MNIST (samples, raw pixels, class counts, mean digits, normalisation, preparation) and at
the class's own drawings (by digit and person, any one large, downloaded as an .npz: a student
their own, the teacher everyone's with names; each writer deletes their own, the teacher any, and
adds them from a file)."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from model_store import ImageError, decode_image, load_mnist, normalize, prepare
from model_store.database import DatabaseError
from model_store.drawings import Drawings
from model_store.names import clean_name
from model_store.preprocess import IMAGE_TYPES
from model_store.roles import NotAllowed, owns
from pages.common import plain, through_app_frame
from pages.common.people import me, my_class, with_you

through_app_frame()

st.title("Data")
(x_train, y_train), (x_test, y_test) = load_mnist()
SPLITS = {"training": (x_train, y_train), "test": (x_test, y_test)}


@st.cache_data
def mean_digits() -> np.ndarray:
    """The average training image of each digit, (10, 28, 28) in [0, 1]."""
    return np.stack([x_train[y_train == d].mean(axis=0) / 255 for d in range(10)])


@st.cache_data
def class_counts() -> pd.DataFrame:
    counts = [
        {"digit": str(d), "split": name, "images": int((y == d).sum())} for name, (_, y) in SPLITS.items() for d in range(10)
    ]
    return pd.DataFrame(counts)


def value_range(a: np.ndarray) -> str:
    return f"{a.dtype}, {a.min():.3g} to {a.max():.3g}"


def samples() -> None:
    st.subheader("Random samples")
    split, size, _ = st.columns([1, 1, 2])
    name = split.radio("Split", list(SPLITS), horizontal=True, key="data_split")
    side = size.select_slider("Grid", [2, 3, 4, 5, 6], value=3, key="data_grid", format_func=lambda n: f"{n}x{n}")
    if st.button("Reshuffle", key="data_reshuffle", icon=":material/shuffle:"):
        st.session_state["data_seed"] = st.session_state.get("data_seed", 0) + 1
    x, y = SPLITS[name]
    picks = np.random.default_rng(st.session_state.get("data_seed", 0)).choice(len(x), side * side, replace=False)
    for row in picks.reshape(side, side):
        for col, i in zip(st.columns(side), row):
            col.image(x[i], caption=f"Class Label: {y[i]}", width=84, alt=f"MNIST {name.lower()} image #{i}: a {y[i]}")


def pixel_matrix() -> None:
    st.subheader("One digit's raw pixels")
    index = st.number_input("Training image index", 0, len(x_train) - 1, 0, key="data_index")
    image, matrix = st.columns([1, 4])
    image.image(
        x_train[index],
        caption=f"#{index}: a {y_train[index]}",
        width=140,
        alt=f"MNIST training image #{index}: a {y_train[index]}",
    )
    # Each cell shaded by its own value, as the notebook's printed 28x28 array reads. Its number in
    # black from 119 up, white below: either way at least 4.5:1 (grey #888 was 1:1 on a mid-grey cell).
    table = pd.DataFrame(x_train[index])
    styled = table.style.map(lambda v: f"background-color: rgb({v},{v},{v}); color: {'black' if v > 118 else 'white'}")
    matrix.dataframe(styled, height=28 * 35 + 38)


def counts_and_means() -> None:
    st.subheader("How many of each digit, and the average one")
    chart = (
        alt.Chart(class_counts(), height=220)
        .mark_bar()
        .encode(x=alt.X("digit:N", axis=alt.Axis(labelAngle=0)), xOffset="split:N", y="images:Q", color="split:N")
    )
    st.altair_chart(chart)
    for col, d in zip(st.columns(10), range(10)):
        col.image(
            mean_digits()[d],
            caption=f"mean {d}",
            clamp=True,
            width=64,
            alt=f"The mean of every MNIST training {d}: a blurred {d}",
        )


def normalisations() -> None:
    st.subheader("What normalisation does")
    st.caption(
        "Training image 0 three ways: the raw bytes, divided by 255 (most notebooks), and L2-normalised along axis 1 (notebook A)."
    )
    raw = x_train[0]
    scaled = normalize(raw[None] / 255.0, "scale")[0]
    l2 = normalize(raw[None] / 255.0, "l2")[0]
    for col, (title, a) in zip(st.columns(3), [("raw bytes", raw), ("/ 255", scaled), ("L2 along axis 1", l2)]):
        col.image(
            a / a.max(),
            caption=f"{title}: {value_range(a)}",
            clamp=True,
            width=168,
            alt=f"MNIST training image #0, a {y_train[0]}, as {title}: {value_range(a)}",
        )


def preparation() -> None:
    st.subheader("What the preparation pipeline does")
    st.caption("Any image becomes MNIST's form: ink found and cropped, fitted into 20x20, centred by its centre of mass.")
    file = st.file_uploader("An image of a digit (or see the example)", type=IMAGE_TYPES, key="data_upload")
    if file is None:  # the example: test image 0, small and off-centre on grey paper
        image = np.full((240, 320), 200, np.uint8)
        image[20:104, 200:284] = 200 - (np.kron(x_test[0], np.ones((3, 3), np.uint8)) * 0.7).astype(np.uint8)
    else:
        try:
            image = decode_image(file.getvalue())
        except ImageError as err:
            st.error(f"{file.name}: {err}")
            return
    prepared = prepare(image, keep_steps=True)
    steps = [
        ("the image", image),
        *[(name, prepared.steps[name]) for name in ("ink", "crop", "fit", "centred") if name in prepared.steps],
    ]
    captions = {
        "ink": "ink: paper removed",
        "crop": "crop: specks dropped",
        "fit": "fit: into 20x20",
        "centred": "centred in 28x28",
    }
    shown = file.name if file else f"MNIST test image #0 (a {y_test[0]}), small on grey paper"
    for col, (name, a) in zip(st.columns(len(steps)), steps):
        col.image(a, caption=captions.get(name, name), clamp=True, width=140, alt=f"{shown}, {captions.get(name, name)}")
    if prepared.image is None:
        st.warning(f"Nothing to read: {prepared.blank_reason}")


def drawings_table(counts: list[tuple[str, int, int]]) -> None:
    """Drawings per person and digit, with the totals."""
    table = pd.DataFrame(counts, columns=["writer", "digit", "n"]).pivot(index="writer", columns="digit", values="n")
    table = table.reindex(columns=range(10)).fillna(0).astype(int)
    table.loc["the class"] = table.sum()
    table["all"] = table.sum(axis=1)
    st.dataframe(table.rename(columns=str), column_config={"writer": st.column_config.TextColumn("who")})


def class_drawings() -> None:
    st.subheader("The class's drawings")
    st.caption("Saved from the Draw page, each labelled by whoever drew it.")
    db = Drawings(class_id=my_class())
    try:
        counts, writers = db.counts(), db.writers()
    except DatabaseError as err:
        st.error(str(err), icon=":material/error:")
        return
    if counts:
        browse(db, counts, writers)
    else:
        st.info('None yet: on the Draw page, "Right" or "No, it is a ..." saves a drawing here.', icon=":material/draw:")
    teachers_import(db)


def browse(db: Drawings, counts: list[tuple[str, int, int]], writers: list[str]) -> None:
    drawings_table(counts)
    person = me()
    whose_col, digit_col, pick_col = st.columns(3)
    whose = whose_col.selectbox(
        "Whose", ["everyone", *writers], key="data_class_writer", format_func=lambda w: with_you(w, person)
    )
    digit = digit_col.selectbox("Digit", ["any", *range(10)], key="data_class_digit")
    writer = None if whose == "everyone" else whose
    ids, _, labels, names = db.rows(writer)
    download(db, writer, person)
    shown = [i for i, label in zip(range(len(ids)), labels) if digit == "any" or label == digit]
    if not shown:
        st.caption("No drawing of that digit here.")
        return
    by_id = {int(ids[i]): (names[i], int(labels[i])) for i in shown}
    chosen = pick_col.selectbox(
        "Drawing", list(by_id), key="data_class_id", format_func=lambda i: f"#{i}: a {by_id[i][1]} by {by_id[i][0]}"
    )
    drawing = one_drawing(db, chosen)
    deletes(db, drawing, whose, len(ids), person)


def download(db: Drawings, writer: str | None, person) -> None:
    """The teacher downloads everyone's or one writer's, with names; a student only their own."""
    if person.teacher:
        label = f"Download {'all ' if writer is None else ''}drawings{'' if writer is None else ' by ' + writer}, with names"
        file_name = f"class-drawings{'' if writer is None else '-' + writer}.npz"
        about = "`writer` and `created` (UTC) beside each drawing, "
    else:
        label, file_name, about = "Download your drawings", "my-drawings.npz", ""
    st.download_button(
        plain(label) + " (.npz)",
        data=lambda: db.npz(person, writer),  # made when pressed, not at every rerun
        file_name=file_name,
        mime="application/zip",
        on_click="ignore",
        icon=":material/download:",
        key="data_class_download",
        help="The prepared 28x28 images as `x` uint8 (n, 28, 28) and the digits as `y` uint8 (n,), "
        f"the shape `keras.datasets.mnist` gives; {about}as `python -m model_store drawings export` writes.",
    )


def one_drawing(db: Drawings, drawing_id: int):
    d = db.get(drawing_id)
    original, prepared, about = st.columns([1, 1, 1])
    if d.original:
        original.image(
            d.original, caption=f"as drawn ({d.source})", width=224, alt=f"Class drawing #{drawing_id} as drawn: a {d.label}"
        )
    prepared.image(
        np.kron(d.image, np.ones((8, 8), np.uint8)),
        caption="prepared: the 28x28 a model reads",
        width=224,
        alt=f"Class drawing #{drawing_id} prepared, 28x28: a {d.label}",
    )
    answer = (
        f"{d.model} read it as a {int(np.argmax(d.probabilities))} ({max(d.probabilities):.0%})"
        if d.probabilities
        else "no model's answer kept"
    )
    about.markdown(f"**A {d.label}**, by {plain(d.writer)}  \n{d.created[:16].replace('T', ' ')} UTC  \n{answer}")
    return d


def deletes(db: Drawings, drawing, whose: str, n: int, person) -> None:
    """The drawing's writer deletes it (or all of their own); the teacher any, or all of anyone's."""
    own, everyone = owns(person, drawing.owner), whose == "everyone"
    if not person.teacher and not own:
        st.caption(
            ":material/lock: Only the teacher may delete other people's drawings or add drawings from a file: "
            "sign in as teacher in the sidebar."
        )
        return
    one, sure, every = st.columns([1, 2, 1], vertical_alignment="bottom")
    try:
        if one.button("Delete this drawing", key="data_class_delete", icon=":material/delete:"):
            db.delete(drawing.id, person)
            st.rerun()
        if not person.teacher and whose != person.name:
            return
        label = f"Yes, delete all {n} drawings" + ("" if everyone else f" by {whose}")
        if every.button(
            "Delete all",
            key="data_class_delete_all",
            type="primary",
            disabled=not sure.checkbox(plain(label), key="data_class_sure"),
        ):
            st.toast(f"Deleted {db.delete_all(person, None if everyone else whose)} drawings")
            st.rerun()
    except (DatabaseError, NotAllowed, KeyError) as err:
        st.error(plain(str(err)), icon=":material/error:")


def teachers_import(db: Drawings) -> None:
    """Drawings from an .npz file (another class's, last year's, an export), for the teacher."""
    person = me()
    if not person.teacher:
        return
    with st.expander("Add drawings from a file (.npz)", icon=":material/upload_file:"):
        st.caption(
            "`x`: uint8 images (n, height, width) of any size, light ink on dark or dark on light; `y`: their "
            "digits 0-9, as `keras.datasets.mnist` gives them and the download above writes. Each image is "
            "prepared as a drawing is; a bad file or label adds nothing and says why."
        )
        round_ = st.session_state.setdefault("data_import_round", 0)  # a new uploader once a file is in
        file = st.file_uploader("File", type=["npz"], key=f"data_class_import_file_{round_}")
        writer = st.text_input("Whose drawings they are", "import", key="data_class_import_writer", max_chars=40)
        if st.button("Add them", key="data_class_import", disabled=file is None, icon=":material/add:"):
            try:
                writer = clean_name(writer)
                with st.spinner(f"Preparing each image of {plain(file.name)}..."):  # ~0.4 ms an image
                    n = db.import_npz(file.getvalue(), writer, person)
            except (DatabaseError, ValueError, NotAllowed) as err:  # NameRefused is a ValueError
                st.error(plain(f"{file.name}: {err}"), icon=":material/error:")
                return
            st.session_state.data_import_round += 1
            st.toast(plain(f"Added {n} drawings from {file.name} as {writer}"))
            st.rerun()


samples()
pixel_matrix()
counts_and_means()
normalisations()
preparation()
class_drawings()
