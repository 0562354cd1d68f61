"""The class: who may change what, the limits of a student's training runs, the people (renamed
or merged), and the lesson (downloaded, or archived for a new one): the teacher's."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from model_store import lesson
from model_store.database import DatabaseError
from model_store.names import NameRefused
from model_store.people import Register
from model_store.roles import TEACHER_ONLY, NotAllowed
from pages.common import plain, through_app_frame
from pages.common.fields import field_input
from pages.common.people import me
from training.limits import Limits, OverLimit, limits_problem, read_limits, save_limits

through_app_frame()

st.title("Class")
person = me()
STUDENTS_MAY = (
    "draw, upload images, predict, save drawings (at most 30 a minute), train (queued, within the limits below), "
    "run experiments, look at every page, download models and their own drawings, rename themselves, "
    "rename and delete their own models, delete their own drawings, cancel or stop their own runs"
)


def roles() -> None:
    st.subheader("Who may do what")
    if person.teacher:
        st.success(f"You are {plain(person.name)}, signed in as teacher: you may do everything below.", icon=":material/school:")
    else:
        st.info(f"You are {plain(person.name)}, a student. The teacher signs in from the sidebar.", icon=":material/person:")
    st.markdown(f"**Everyone** may {STUDENTS_MAY}.")
    st.markdown(f"**Only the teacher** may {', '.join(TEACHER_ONLY.values())}.")


# Where each limit sits on the form: four to a row.
LIMITS_LAYOUT = (
    ("epochs", "train_images", "waiting", "running"),
    ("smallest_batch", "layers", "units", "filters"),
    ("largest_batch", "parameters"),
)


def limits_form() -> None:
    st.subheader("Class limits")
    st.caption(
        "What a student's training run may ask for (0 epochs or images: no limit); they hold from the start and "
        "the command line is not limited. Kept in the class database, for every app process."
    )
    if (problem := limits_problem()) and person.teacher:
        st.warning(problem, icon=":material/warning:")
    limits, student = read_limits(), not person.teacher
    figures = {}
    with st.form("class_limits_form"):
        for row in LIMITS_LAYOUT:
            for column, name in zip(st.columns(4), row):
                # Its label, range, step and help, as training.limits declares them.
                figures[name] = field_input(
                    column, name, f"class_{name}", of=Limits, value=getattr(limits, name), disabled=student
                )
        saved = st.form_submit_button("Save the limits", disabled=student)
    if student:
        st.caption(":material/lock: Only the teacher may change the class limits: sign in as teacher in the sidebar.")
    if saved:
        try:
            save_limits(Limits(**{name: int(value) for name, value in figures.items()}), person)
        except (NotAllowed, OverLimit) as err:
            st.error(str(err), icon=":material/lock:")
        else:
            st.success("Saved: the next runs queued keep to them.", icon=":material/check:")


def people() -> None:
    """Every name in the class; the teacher renames one, or merges it into another (one person
    at two browsers): their models, runs and drawings follow."""
    st.subheader("People")
    try:
        names = Register().people()
    except DatabaseError as err:
        st.error(plain(str(err)), icon=":material/error:")
        return
    st.dataframe(pd.DataFrame({"name": list(names), "browsers": [len(b) for b in names.values()]}), hide_index=True)
    if not person.teacher or not names:
        return
    with st.form("class_rename_form"):
        old_col, new_col = st.columns(2)
        old = old_col.selectbox("Person", list(names), key="class_rename_old")
        new = new_col.text_input("New name, or another person's to merge into", key="class_rename_new", max_chars=40)
        merge = st.checkbox("Merge into that person if the name is taken (one person, two browsers)", key="class_merge")
        if not st.form_submit_button("Rename"):
            return
    from training.runs import rename_person  # the runs' records follow too

    try:
        done = rename_person(old, new, person, merge)
    except (NameRefused, NotAllowed, DatabaseError) as err:
        st.error(plain(str(err)), icon=":material/error:")
        return
    st.success(plain(f"{old} is now {done}: their models, runs and drawings too."), icon=":material/check:")


def the_lesson() -> None:
    """The teacher's: the whole lesson as one zip, or a fresh start (backed up first)."""
    st.subheader("The lesson")
    if not person.teacher:
        st.caption(":material/lock: Backing up the lesson and starting a new one are the teacher's.")
        return
    st.caption(
        "Everything of the lesson in one zip: the class database (drawings with who drew them and when, names; "
        "copied consistently while the class draws), every model, every run's record. "
        "`python -m model_store restore DIR` puts an unzipped one back."
    )
    st.download_button(
        "Download the lesson (.zip)",
        data=lesson_zip,  # made when pressed
        file_name="mnist-lab-lesson.zip",
        mime="application/zip",
        on_click="ignore",
        icon=":material/download:",
        key="class_download_lesson",
    )
    sure = st.checkbox("Yes: back up this lesson, then clear the class drawings and the finished runs", key="class_new_sure")
    if st.button("Start a new lesson", key="class_new_lesson", disabled=not sure, icon=":material/restart_alt:"):
        from training.runs import archive_runs

        try:
            folder, drawings, runs = lesson.new_lesson(person, archive_runs)
        except (DatabaseError, NotAllowed, OSError) as err:
            st.error(plain(str(err)), icon=":material/error:")
            return
        st.success(
            plain(
                f"Backed up into {folder}. Cleared {drawings} drawings and archived {runs} finished runs; models and names stay."
            ),
            icon=":material/check:",
        )


def lesson_zip() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "lesson"
        lesson.backup(folder, person)
        return lesson.zipped(folder)


roles()
limits_form()
people()
the_lesson()
