"""The class: who may change what, and the limits of a student's training runs (the teacher's)."""

import streamlit as st

from model_store.roles import TEACHER_ONLY, NotAllowed
from pages.common import through_app_frame
from pages.common.people import me
from training.limits import MOST_WAITING, Limits, OverLimit, limits_problem, read_limits, save_limits

through_app_frame()

st.title("Class")
person = me()
STUDENTS_MAY = (
    "draw, upload images, predict, save drawings, train (queued, within the limits below), run experiments, "
    "look at every page, download models and exports, cancel or stop their own runs"
)


def roles() -> None:
    st.subheader("Who may do what")
    if person.teacher:
        st.success(f"You are {person.name}, signed in as teacher: you may do everything below.", icon=":material/school:")
    else:
        st.info(f"You are {person.name}, a student. The teacher signs in from the sidebar.", icon=":material/person:")
    st.markdown(f"**Everyone** may {STUDENTS_MAY}.")
    st.markdown(f"**Only the teacher** may {', '.join(TEACHER_ONLY.values())}.")


def limits_form() -> None:
    st.subheader("Class limits")
    st.caption("What a student's training run may ask for; 0 means no limit. Kept on disk, for every app process.")
    if (problem := limits_problem()) and person.teacher:
        st.warning(problem, icon=":material/warning:")
    limits, student = read_limits(), not person.teacher
    with st.form("class_limits_form"):
        a, b, c = st.columns(3)
        epochs = a.number_input("Most epochs a run", 0, 1000, limits.epochs, key="class_epochs", disabled=student)
        images = b.number_input(
            "Most training images a run",
            0,
            160_000,
            limits.train_images,
            step=5000,
            key="class_images",
            disabled=student,
            help="MNIST images (all are 60,000) plus synthetic printed digits",
        )
        waiting = c.number_input(
            "Most runs waiting", 1, MOST_WAITING, limits.waiting, key="class_waiting", disabled=student, help="per browser"
        )
        saved = st.form_submit_button("Save the limits", disabled=student)
    if student:
        st.caption(":material/lock: Only the teacher may change the class limits: sign in as teacher in the sidebar.")
    if saved:
        try:
            save_limits(Limits(int(epochs), int(images), int(waiting)), person)
        except (NotAllowed, OverLimit) as err:
            st.error(str(err), icon=":material/lock:")
        else:
            st.success("Saved: the next runs queued keep to them.", icon=":material/check:")


roles()
limits_form()
