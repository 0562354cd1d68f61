"""Who is at this browser: their session, their name, and their role.

A browser is a person through a random token the server issues (`model_store.sessions`), in a
cookie of its own, read when a tab opens; Streamlit's XSRF cookie identifies nobody. The token is
replaced at every sign-in and sign-out, and a guest's session is written only once they save
something (`me(keep=True)`).

With a teacher password set, every visitor is a student until they sign in as teacher from the
sidebar (`sidebar`, drawn by app.py on every page); what each role may do is `model_store.roles`,
and the names and sign-ins are kept in the class database (`model_store.people`), not in links.
The password is compared as Streamlit's own password example does (`hmac.compare_digest`) and
never kept: the field is emptied in the same callback that reads it.
"""

import json
import os
import time
from datetime import datetime

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from model_store.database import MAIN, DatabaseError
from model_store.people import (
    IDLE_SECONDS,
    PASSWORD_VARIABLE,
    SECRETS_KEY,
    NameRefused,
    Register,
    SetupProblem,
    SignIn,
    TooManyTries,
    guest_name,
    password_from,
)
from model_store.roles import Person
from model_store.sessions import COOKIE, Sessions, Visit, digest, new_person, new_token
from pages.common import plain

NAME_SECONDS = 10  # a name is read again from the register this often (the teacher may rename it)
SIGNED_OUT = "who_signed_out"  # set by a Sign out: the school account's sign-out follows (`sso`)


def teacher_password() -> str:
    """$MNIST_LAB_TEACHER_PASSWORD, else `teacher_password` in Streamlit's secrets
    (.streamlit/secrets.toml); "" when neither is configured. SetupProblem when the configuration
    would silently leave the class open (an empty value, a misspelt key, a file that cannot be read)."""
    try:
        found = st.secrets.to_dict()
    except StreamlitSecretNotFoundError as err:
        if getattr(err, "error_id", "") != "no-secrets-found":
            raise SetupProblem(f"The secrets file cannot be read: {err}") from None
        found = None
    return password_from(os.environ.get(PASSWORD_VARIABLE), found)


def check_setup() -> None:
    """At the start of every page run (app.py): a configuration that would open the class to
    everyone stops the app, saying what to fix."""
    try:
        teacher_password()
    except SetupProblem as err:
        st.error(f"**The app cannot start:** {err}", icon=":material/lock:")
        st.caption(
            f"Set the teacher password with {PASSWORD_VARIABLE} or `{SECRETS_KEY}` in .streamlit/secrets.toml, then reload."
        )
        st.stop()


def _visit() -> Visit:
    """This tab's session: found from the browser's cookie at the tab's first page run, then kept
    in the session state (the cookie read is the one the tab opened with; a renewal changes both).
    A token the database does not hold gets a new one: a browser's token is always the server's."""
    if (visit := st.session_state.get("who_visit")) is None:
        cookie = st.context.cookies.get(COOKIE)
        try:
            visit = Sessions().visit(cookie if isinstance(cookie, str) else None)
        except DatabaseError as err:  # a guest for now; the cookie is left as it is for the next load
            st.session_state["who_note"] = f"Your session cannot be read right now: {err}"
            visit = Visit(new_token(), new_person(), kept=False, fresh=False)
        st.session_state["who_visit"] = visit
    return visit


def current_visit() -> Visit:
    """This tab's session (its token, person and class)."""
    return _visit()


def my_class() -> str:
    """The id of the class this tab is in (`model_store.classes`): what the page reads and saves is its."""
    return _visit().class_id


def become(visit: Visit, note: str) -> None:
    """This tab is now `visit` (a student who joined or signed out, a teacher opening another
    class): its name, role and class are read again at the next page run."""
    st.session_state.update(who_visit=visit, who_read=0, who_note=note)
    st.session_state.pop("who_run_checked", None)


def _checked_visit() -> Visit:
    """The session, checked again: one renewed by a sign-in or sign-out in another tab, or idle
    too long, leads nowhere now, and this tab is a guest until it is reloaded."""
    visit = _visit()
    if visit.kept and Sessions().person_of(visit.token) != visit.person:
        st.session_state["who_note"] = (
            "This tab's session has ended (a sign-in or sign-out in another tab, or a long time idle): reload the page."
        )
        visit = Visit(new_token(), new_person(), kept=False, fresh=False)  # not written: the other tab's cookie stays
        st.session_state.update(who_visit=visit, who_guest=guest_name())
    return visit


def _keep() -> None:
    """A guest about to save something is written down now: their session and their name."""
    visit = _visit()
    if visit.kept:
        return
    try:
        shown = st.session_state.get("who_name") or st.session_state.get("who_guest")
        Register(class_id=visit.class_id).name_for(visit.person, shown)  # the name their page showed, if it is still free
        st.session_state["who_visit"] = Sessions().keep(visit)
    except (DatabaseError, NameRefused) as err:  # what they save says so too
        st.session_state["who_note"] = f"You cannot be kept as a guest right now: {err}"
    st.session_state["who_read"] = 0


def write_cookie() -> None:
    """A new token into the browser's cookie. Streamlit 1.67 has no way for a script run to set a
    cookie (its st.App middleware sees only HTTP requests, not this websocket), so the page's own
    script sets it: not HttpOnly, which only a response header can be."""
    visit = _visit()
    if not visit.fresh:
        return
    cookie = json.dumps(f"{COOKIE}={visit.token}; Path=/; Max-Age=34560000; SameSite=Strict")  # the server judges idleness
    st.sidebar.html(
        f'<script>document.cookie = {cookie} + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
    )


def who_am_i() -> str:
    """This person's name, from the class register (a guest's until they pick one: "guest-" and 40 random bits)."""
    return _registered()[0]


def _registered() -> tuple[str, frozenset[str]]:
    """(this person's name, the people merged with them), read from the register again every
    NAME_SECONDS (the teacher may rename or merge); this session's copy when it cannot be read."""
    kept = st.session_state.get("who_name")
    if kept and time.time() - st.session_state.get("who_read", 0) < NAME_SECONDS:
        return kept, st.session_state.get("who_merged", frozenset())
    try:
        visit = _checked_visit()
        name, merged = Register(class_id=visit.class_id).person(visit.person) if visit.kept else (None, frozenset())
    except DatabaseError as err:
        st.session_state["who_note"] = f"Names cannot be kept right now: {err}"
        name, merged = kept, frozenset()
    name = name or st.session_state.setdefault("who_guest", guest_name())  # a guest's is written once they save
    st.session_state.update(who_name=name, who_merged=merged, who_read=time.time())
    return name, merged


def _take_name() -> None:
    """The sidebar's name field: this browser's new name; what it made follows it."""
    from training.runs import rename_person  # the runs' records follow too

    person = me(keep=True)
    try:
        name = rename_person(person.name, st.session_state["who_field"], person)
    except (NameRefused, DatabaseError, PermissionError) as err:
        st.session_state["who_note"] = f"Name not changed: {err}"
        return
    st.session_state.update(who_name=name, who_read=0)  # read again, with any merged browsers


def with_you(name: str, person: Person) -> str:
    """A name in a list of writers, "(you)" beside the person's own."""
    return f"{name} (you)" if name == person.name else name


def me(keep: bool = False) -> Person:
    """The person at this browser, as the functions that change shared things need them. A
    teacher's Person carries its sign-in, which every right it uses checks again (`roles.is_teacher`).
    `keep`: they are about to save something, so a guest is written down first."""
    if keep:
        _keep()
    name, merged = _registered()
    visit = _visit()
    who = {"merged": merged, "class_id": visit.class_id}
    try:
        password = teacher_password()
    except SetupProblem:
        return Person(name, visit.person, teacher=False, **who)
    sign_in, accounts = _signed_in()
    if sign_in is not None:
        return Person(name, visit.person, teacher=True, sign_in=sign_in.id, **who)
    return Person(name, visit.person, teacher=not password and not accounts, **who)  # nothing set: one person


def _signed_in() -> tuple[SignIn | None, bool]:
    """(this session's teacher sign-in, kept in the class register: reloads keep it; whether the
    school has teacher accounts). Read once per page run; an idle sign-out is said once."""
    if (run := st.session_state.get("who_run_checked")) and run == _page_run():
        return st.session_state["who_sign_in"], st.session_state["who_accounts"]
    register = Register(class_id=_visit().class_id)
    try:
        (sign_in, why), accounts = register.teacher(_visit().key), register.accounts_exist()
    except DatabaseError:
        (sign_in, why), accounts = (None, ""), True  # unreadable: nobody gets the teacher's rights
    if why == "idle":
        st.session_state["who_note"] = f"Signed out as teacher after {IDLE_SECONDS // 60} minutes without activity."
    if why == "elsewhere":
        st.session_state["who_note"] = "This class is another teacher's: here you are a student. Sign out, then sign in again."
    st.session_state.update(who_sign_in=sign_in, who_accounts=accounts, who_run_checked=_page_run())
    return sign_in, accounts


def teacher_sign_in() -> SignIn | None:
    """This tab's teacher sign-in as this page run read it; None when it is not signed in."""
    return _signed_in()[0]


def _page_run() -> int:
    st.session_state.setdefault("who_runs", 0)
    return st.session_state["who_runs"]


def _sign_in() -> None:
    given, st.session_state["who_password"] = st.session_state["who_password"], ""  # never kept, the field emptied
    if not given:
        return
    register, visit, token = Register(), _visit(), new_token()
    account = st.session_state.get("who_account", "").strip()  # blank: the install's password alone
    try:
        right = register.attempt(visit.key, given, teacher_password(), account=account, person=visit.person, renew=digest(token))
        if right:  # a new token: one copied or planted before this sign-in leads nowhere
            _keep()  # the teacher is a person of the class from here on
            theirs = Register(class_id=visit.class_id).teacher(digest(token))[1] != "elsewhere"
            st.session_state["who_visit"] = Sessions().renew(_visit(), token, class_id=visit.class_id if theirs else MAIN)
    except (TooManyTries, SetupProblem, DatabaseError) as err:
        st.session_state["who_note"] = str(err)
        return
    st.session_state.pop("who_run_checked", None)
    if right:
        st.session_state.pop("who_note", None)
        return
    wrong = "Wrong name or password" if account else "Wrong password"  # which of the two: not said
    if left := register.tries_left(visit.key):
        st.session_state["who_note"] = f"{wrong}: {left} more {'try' if left == 1 else 'tries'} before a wait."
    else:
        st.session_state["who_note"] = f"{wrong}, too many times in a row."


def _sign_out() -> None:
    try:  # the sign-in ends with its token: the browser goes on as the same person under a new one
        st.session_state["who_visit"] = Sessions().renew(_visit())
    except DatabaseError as err:
        st.session_state["who_note"] = f"Not signed out: {err}"
        return
    st.session_state.pop("who_run_checked", None)
    st.session_state.update({"who_note": "Signed out: you are a student now.", SIGNED_OUT: True})


def sidebar() -> Person:
    """Every page's sidebar: the person's name, their role, and the teacher's sign-in or sign-out."""
    st.session_state["who_runs"] = _page_run() + 1  # the sign-in is read again in each page run
    write_cookie()
    if "who" in st.query_params:  # an older link's name: a name is the browser's, never the link's
        del st.query_params["who"]
    name = who_am_i()
    st.session_state["who_field"] = name
    st.sidebar.text_input(
        "Your name",
        key="who_field",
        max_chars=40,
        on_change=_take_name,
        help="kept for you on this browser, shown beside what you make",
    )
    person = me()
    password = teacher_password()  # check_setup has stopped the app if this fails
    slot = st.sidebar.empty()  # always there: the widgets below keep their place (an expander stays open)
    if note := st.session_state.pop("who_note", None):
        slot.caption(plain(note))
    if not password and not _signed_in()[1]:
        st.sidebar.caption(
            f":material/lock_open: No teacher password is set, so everyone may change everything. "
            f"To run a class, set one: `teacher_password` in .streamlit/secrets.toml or {PASSWORD_VARIABLE}."
        )
        return person
    sign_in, accounts = _signed_in()
    if sign_in is not None:
        until = datetime.fromtimestamp(sign_in.until).strftime("%H:%M")
        account = f" {plain(sign_in.account)}" if sign_in.account else ""
        st.sidebar.success(f"Signed in as teacher{account} (on this browser until {until})", icon=":material/school:")
        st.sidebar.button("Sign out", key="who_sign_out", icon=":material/logout:", on_click=_sign_out)
        return person
    try:
        wait, scope = Register().wait_left(_visit().key, person=person.session)
    except DatabaseError as err:  # a locked or damaged class database: trying says so again
        wait, scope = 0.0, ""
        st.sidebar.caption(plain(f"The sign-in cannot be checked right now: {err}"))
    with st.sidebar.expander("Student. Teacher? Sign in", icon=":material/person:"):
        if wait:
            until = datetime.fromtimestamp(time.time() + wait).strftime("%H:%M:%S")
            whose = "from this browser" if scope == "browser" else "in this class"
            st.error(f"Too many wrong passwords {whose}: the next try at {until} (in {wait:.0f} s).", icon=":material/timer:")
        if accounts:  # each teacher their own; a name left blank: the install's password signs in its first teacher
            st.text_input("Teacher name", key="who_account", max_chars=40, disabled=bool(wait))
        st.text_input("Teacher password", type="password", key="who_password", on_change=_sign_in, disabled=bool(wait))
    return person
