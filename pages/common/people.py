"""Who is at this browser: their display name, the browser's id, and their role.

With a teacher password set, every visitor is a student until they sign in as teacher from the
sidebar (`sidebar`, drawn by app.py on every page); what each role may do is `model_store.roles`.
The password is compared as Streamlit's own password example does (`hmac.compare_digest`) and
never kept: the field is emptied in the same callback that reads it.
"""

import hashlib
import os
import secrets
import time
from datetime import datetime

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from model_store.roles import IDLE_SECONDS, MAX_TRIES, Person, SignIns, TooManyTries

PASSWORD_VARIABLE = "MNIST_LAB_TEACHER_PASSWORD"


def teacher_password() -> str:
    """$MNIST_LAB_TEACHER_PASSWORD, else `teacher_password` in Streamlit's secrets
    (.streamlit/secrets.toml); "" when neither is set. A secrets file that cannot be parsed raises
    StreamlitSecretNotFoundError: a typo in it must not leave the class open to everyone."""
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    try:
        return str(st.secrets.get("teacher_password") or "")
    except StreamlitSecretNotFoundError as err:
        if getattr(err, "error_id", "") == "failed-parsing-secrets-file":
            raise
        return ""  # no secrets file at all


def browser_id() -> str:
    """The same for every tab and every reload of one browser, so a student can stop their own
    run after a reload: the token in Streamlit's XSRF cookie, hashed (the token is the browser's
    secret). Without the cookie (XSRF protection off, or a test), one id per session."""
    cookie = st.context.cookies.get("_streamlit_xsrf")
    if isinstance(cookie, str) and cookie:
        return hashlib.sha256(_xsrf_token(cookie)).hexdigest()[:12]
    return st.session_state.setdefault("session_id", secrets.token_hex(6))


def _xsrf_token(cookie: str) -> bytes:
    """The cookie is "2|mask|masked token|time" and is set again, masked anew, at every page load:
    the token itself (masked token XOR mask) is what stays. Another format: the cookie as it is."""
    parts = cookie.split("|")
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except (IndexError, ValueError):
        return cookie.encode()
    if parts[0] != "2" or len(mask) != 4:
        return cookie.encode()
    return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))


def _take_name() -> None:
    name = " ".join(st.session_state["who_field"].split())[:40]
    st.session_state["who_name"] = name or st.session_state["who_name"]


def who_am_i(field: bool = False) -> str:
    """The display name runs (and drawings) carry: picked once, kept in the page's address so a
    reload keeps it; "guest-" and a short id until then. `field` draws the sidebar field to change it."""
    name = st.session_state.setdefault("who_name", st.query_params.get("who") or f"guest-{secrets.token_hex(2)}")
    if field:
        st.session_state["who_field"] = name
        st.sidebar.text_input("Your name", key="who_field", max_chars=40, on_change=_take_name, help="shown beside your runs")
    if st.query_params.get("who") != name:
        st.query_params["who"] = name
    return name


def _teacher_now() -> bool:
    """Signed in as teacher and active within IDLE_SECONDS; an idle teacher is a student again."""
    active = st.session_state.get("who_teacher_active")
    if active is None:
        return False
    if time.time() - active > IDLE_SECONDS:
        del st.session_state["who_teacher_active"]
        st.session_state["who_note"] = f"Signed out as teacher after {IDLE_SECONDS // 60} minutes without activity."
        return False
    return True


def me() -> Person:
    """The person at this browser, as the functions that change shared things need them."""
    try:
        password = teacher_password()
    except StreamlitSecretNotFoundError:
        return Person(who_am_i(), browser_id(), teacher=False)
    return Person(who_am_i(), browser_id(), teacher=not password or _teacher_now())


@st.cache_resource
def sign_ins() -> SignIns:
    """Wrong passwords per browser, for this app process."""
    return SignIns()


def _sign_in() -> None:
    given, st.session_state["who_password"] = st.session_state["who_password"], ""  # never kept, the field emptied
    if not given:
        return
    try:
        right = sign_ins().attempt(browser_id(), given, teacher_password())
    except (TooManyTries, StreamlitSecretNotFoundError) as err:
        st.session_state["who_note"] = str(err)
        return
    if right:
        st.session_state["who_teacher_active"] = time.time()
        st.session_state.pop("who_note", None)
    elif left := sign_ins().tries_left(browser_id()):
        st.session_state["who_note"] = f"Wrong password: {left} more {'try' if left == 1 else 'tries'} before a wait."
    else:
        st.session_state["who_note"] = f"Wrong password, {MAX_TRIES} times in a row."


def _sign_out() -> None:
    st.session_state.pop("who_teacher_active", None)
    st.session_state["who_note"] = "Signed out: you are a student now."


def sidebar() -> Person:
    """Every page's sidebar: the person's name, their role, and the teacher's sign-in or sign-out."""
    who_am_i(field=True)
    person = me()
    try:
        password = teacher_password()
    except StreamlitSecretNotFoundError as err:
        st.sidebar.error(f"Nobody can sign in as teacher: {err}", icon=":material/error:")
        return person
    if not password:
        st.sidebar.caption(
            f":material/lock_open: No teacher password is set, so everyone may change everything. "
            f"To run a class, set one: `teacher_password` in .streamlit/secrets.toml or {PASSWORD_VARIABLE}."
        )
        return person
    if note := st.session_state.pop("who_note", None):
        st.sidebar.caption(note)
    if person.teacher:
        st.session_state["who_teacher_active"] = time.time()  # a page opened or a button pressed
        st.sidebar.success("Signed in as teacher", icon=":material/school:")
        st.sidebar.button("Sign out", key="who_sign_out", icon=":material/logout:", on_click=_sign_out)
        return person
    wait = sign_ins().wait_left(person.session)
    with st.sidebar.expander("Student. Teacher? Sign in", icon=":material/person:"):
        if wait:
            until = datetime.fromtimestamp(time.time() + wait).strftime("%H:%M:%S")
            st.error(f"Too many wrong passwords: the next try at {until} (in {wait:.0f} s).", icon=":material/timer:")
        st.text_input("Teacher password", type="password", key="who_password", on_change=_sign_in, disabled=bool(wait))
    return person
