"""The class: who may change what, the school's classes (made, joined by code), the limits of a
student's training runs, the people (renamed or merged, a forgotten secret replaced), and the
lesson (downloaded, or archived for a new one): the teacher's."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from model_store import lesson
from model_store.accounts import Accounts, is_admin
from model_store.classes import ClassError, Classes
from model_store.database import Database, DatabaseError
from model_store.names import NameRefused
from model_store.people import Register
from model_store.roles import TEACHER_ONLY, NotAllowed
from pages.common import plain, through_app_frame
from pages.common.fields import field_input
from pages.common.people import me, teacher_sign_in
from training.limits import Limits, OverLimit, limits_problem, read_limits, save_limits

through_app_frame()

st.title("Class")
person = me()
if st.session_state.get("class_shown") != person.class_id:  # another class opened: its own figures, not the last one's
    for key in [k for k in st.session_state if str(k).startswith("class_")]:
        del st.session_state[key]
    st.session_state["class_shown"] = person.class_id
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


def classes() -> None:
    """The teacher's classes, with their join codes; a new one; who may come into this one."""
    if not person.teacher:
        return
    st.subheader("Classes")
    sign_in = teacher_sign_in()
    account = sign_in.account if sign_in else None
    try:
        mine = Classes().of_teacher(account)
    except DatabaseError as err:
        st.error(plain(str(err)), icon=":material/error:")
        return
    here = next((c for c in mine if c.id == person.class_id), None)
    if here is not None:
        st.markdown(
            f"This class, **{plain(here.name)}**: students join with the code **`{here.code}`** (sidebar, Join your class)."
        )
        guests = st.toggle("Guests may draw here without joining", value=here.guests, key="class_guests")
        if guests != here.guests:
            attempt_class(
                lambda: Classes().set_guests(guests, person),
                "Saved: " + ("guests welcome." if guests else "students only."),
            )
    table = {"class": [c.name for c in mine], "join code": [c.code for c in mine], "guests": [c.guests for c in mine]}
    st.dataframe(pd.DataFrame(table), hide_index=True)
    st.caption("The sidebar's Class box opens another. Each class has its own drawings, people, runs, limits and lessons.")
    with st.form("class_new_form", clear_on_submit=True):
        name = st.text_input("A new class's name", key="class_new_name", max_chars=40)
        if st.form_submit_button("Make the class", icon=":material/add:") and name.strip():
            attempt_class(lambda: Classes().create(name, person, teacher=account), f"Made {plain(name.strip())}.")


def teachers() -> None:
    """The school admin (the install's first teacher) makes the other teachers' accounts here, as
    `python -m model_store teachers add` does."""
    sign_in = teacher_sign_in()
    try:
        with Database().read() as db:
            if sign_in is None or not is_admin(db, sign_in.account):
                return
        listed = Accounts().list()
    except DatabaseError:
        return
    st.subheader("Teachers")
    st.dataframe(pd.DataFrame({"teacher": [a.name for a in listed], "disabled": [a.disabled for a in listed]}), hide_index=True)
    with st.form("class_teacher_form", clear_on_submit=True):
        name_col, password_col, email_col = st.columns(3)
        name = name_col.text_input("New teacher's name", key="class_teacher_name", max_chars=40)
        password = password_col.text_input("Their password", type="password", key="class_teacher_password")
        email = email_col.text_input("Their school e-mail (optional)", key="class_teacher_email")
        if st.form_submit_button("Add the teacher", icon=":material/person_add:") and name.strip():
            done = f"Added {plain(name.strip())}."
            attempt_class(lambda: Register().add_teacher(name, password, email, person), done)  # the admin's right checked there


def attempt_class(action, done: str) -> None:
    try:
        action()
    except (ClassError, NameRefused, NotAllowed, DatabaseError, ValueError) as err:
        st.error(plain(str(err)), icon=":material/error:")
    else:
        st.success(done, icon=":material/check:")


def new_secret_words() -> None:
    """A student who forgot their secret gets two new words, shown here once."""
    try:
        students = Classes().students(person.class_id)
    except DatabaseError:
        return
    if not students:
        return
    with st.form("class_secret_form"):
        who = st.selectbox("A student who forgot their secret words", students, key="class_secret_who")
        if not st.form_submit_button("Give them new secret words", icon=":material/key:"):
            return
    try:
        first, second = Classes().reset_secret(who, person)
    except (ClassError, NotAllowed, DatabaseError) as err:
        st.error(plain(str(err)), icon=":material/error:")
        return
    st.success(
        f"{plain(who)}'s new secret words: **{first} {second}** (shown once: give them to {plain(who)}).", icon=":material/key:"
    )


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
    if (problem := limits_problem(person.class_id)) and person.teacher:
        st.warning(problem, icon=":material/warning:")
    limits, student = read_limits(person.class_id), not person.teacher
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
        names = Register(class_id=person.class_id).people()
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
classes()
teachers()
limits_form()
people()
if person.teacher:
    new_secret_words()
the_lesson()
