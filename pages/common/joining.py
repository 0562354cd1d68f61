"""The sidebar's class: a student joins (or comes back) with the class code, their name and two
secret words; a teacher opens one of their classes. The rules are `model_store.classes`.

A join makes the tab's session the student's (`Sessions.renew` with their person and class), so
on any browser the same code, name and words lead to the same drawings, models and runs. A
student's Sign out leaves a shared computer a new guest's.
"""

import time

import streamlit as st

from model_store.classes import WORDS, Class, ClassError, Classes, new_secret
from model_store.database import MAIN, DatabaseError
from model_store.names import NameRefused
from model_store.roles import Person
from model_store.sessions import Sessions, new_person
from pages.common import plain
from pages.common.people import NAME_SECONDS, SIGNED_OUT, become, current_visit, teacher_sign_in
from pages.common.sso import school_email, sign_on_button


def the_class() -> Class | None:
    """The class this tab is in, read again every NAME_SECONDS (its teacher may shut its door to
    guests); None when it cannot be read."""
    visit, (kept, read) = current_visit(), st.session_state.get("join_class") or (None, 0.0)
    if kept is None or kept.id != visit.class_id or time.time() - read > NAME_SECONDS:
        try:
            kept = Classes().get(visit.class_id)
        except (ClassError, DatabaseError):
            return None
        st.session_state["join_class"] = (kept, time.time())
    return kept


def is_student(person: Person) -> bool:
    """Whether this tab's person is a student who joined with a secret (read once a session)."""
    kept = st.session_state.get("join_student")
    if kept is None or kept[0] != person.session:
        try:
            kept = (person.session, Classes().student_class(person.session) is not None)
        except DatabaseError:
            return False
        st.session_state["join_student"] = kept
    return kept[1]


def _became(visit, note: str) -> None:
    """The tab is someone else now, or elsewhere: its class and student status are read again."""
    st.session_state.pop("join_student", None)
    st.session_state.pop("join_class", None)
    become(visit, note)


def _join() -> None:
    code, name = st.session_state.get("join_code", ""), st.session_state.get("join_name", "")
    words = (st.session_state.get("join_word_1"), st.session_state.get("join_word_2"))
    visit = current_visit()
    try:
        found, student = Classes().join(code, name, words, visit.person, source=st.context.ip_address or "")
        joined = Sessions().renew(visit, person=student, class_id=found.id)
        if email := school_email():  # joined signed in with the school account: it leads to them from now on
            Classes().link_email(student, email)
    except (ClassError, NameRefused, DatabaseError) as err:
        st.session_state["who_note"] = f"Not joined: {err}"
        return
    st.session_state["join_code"] = ""
    _became(
        joined,
        f"You are in {found.name}. Your secret words are {words[0]} and {words[1]}: keep them to come back on any computer.",
    )


def _leave() -> None:
    try:
        left = Sessions().renew(current_visit(), person=new_person(), class_id=MAIN)
    except DatabaseError as err:
        st.session_state["who_note"] = f"Not signed out: {err}"
        return
    st.session_state[SIGNED_OUT] = True
    _became(left, "Signed out: this browser is a new guest's. Your work waits for you in your class.")


def _open_class() -> None:
    wanted = st.session_state["join_open"]
    try:
        _became(Sessions().move(current_visit(), wanted.id), f"Now in {wanted.name}.")
    except DatabaseError as err:
        st.session_state["who_note"] = f"Class not changed: {err}"


def class_switch(person: Person) -> None:
    """A signed-in teacher's classes (their account's and the install's), to open one."""
    sign_in = teacher_sign_in()
    try:
        mine = Classes().of_teacher(sign_in.account if sign_in else None)
    except DatabaseError as err:
        st.sidebar.caption(plain(f"The classes cannot be read right now: {err}"))
        return
    if len(mine) < 2:
        return
    here = next((c for c in mine if c.id == person.class_id), mine[0])
    st.session_state["join_open"] = here
    st.sidebar.selectbox("Class", mine, key="join_open", format_func=lambda c: c.name, on_change=_open_class)


def student_corner(person: Person) -> None:
    """A student's class and Sign out; for anyone else, the way to join one."""
    if is_student(person):
        shown = the_class()
        st.sidebar.caption(f":material/school: A student of {plain(shown.name) if shown else 'a class'}")
        st.sidebar.button("Sign out", key="join_leave", icon=":material/logout:", on_click=_leave, help="on a shared computer")
        return
    if "join_word_1" not in st.session_state:  # two fresh words: nobody's secret is "acorn acorn"
        st.session_state["join_word_1"], st.session_state["join_word_2"] = new_secret()
    with st.sidebar.expander("Join your class", icon=":material/login:"):
        st.text_input("Class code", key="join_code", max_chars=12, help="your teacher gives it: 8 letters and digits")
        st.text_input("Your name in the class", key="join_name", max_chars=40)
        st.caption("Your secret: two words. The first time, pick any two and remember them; after that, the same two.")
        st.selectbox("First secret word", WORDS, key="join_word_1")
        st.selectbox("Second secret word", WORDS, key="join_word_2")
        st.button("Join", key="join_go", icon=":material/login:", on_click=_join)


def sidebar_class(person: Person) -> None:
    """Every page's class corner of the sidebar (app.py, after `people.sidebar`); a tab kept out
    of a class that takes no guests stops here."""
    if person.teacher:
        class_switch(person)
    else:
        sign_on_button()
        student_corner(person)
    if guests_kept_out(person):
        st.stop()


def guests_kept_out(person: Person) -> bool:
    """True, with the page stopped after a note, when the tab's class takes no guests and this
    person is neither its student nor a teacher."""
    shown = the_class()
    if person.teacher or shown is None or shown.guests or is_student(person):
        return False
    st.info(f"{plain(shown.name)} is for its students: join with your class code in the sidebar.", icon=":material/lock:")
    return True
