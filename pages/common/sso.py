"""Single sign-on where a school has it: Streamlit's `st.login` (OpenID Connect: Google Workspace,
Microsoft Entra and the like), configured in `.streamlit/secrets.toml`:

    [auth]
    redirect_uri = "https://lab.school.example/oauth2callback"
    cookie_secret = "..."        # signs the identity cookie Streamlit keeps (HttpOnly)
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"

The identity (`st.user`, its verified e-mail) is matched at each new session:
- a teacher account with that school account (`teachers add NAME --email E`) is signed in, as its
  password would, under a new session token;
- a student who once joined their class signed in with it comes back as that student;
- anyone else is signed in as nobody yet: they join their class with its code once (their secret
  words too, for the days without the school account), and the school account leads to them.
A Sign out here also signs out of the school account on this browser.
"""

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from model_store.accounts import by_email
from model_store.classes import Classes
from model_store.database import MAIN, Database, DatabaseError
from model_store.people import Register
from model_store.sessions import Sessions, digest, new_token
from pages.common import plain
from pages.common.people import SIGNED_OUT, become, current_visit


def configured() -> bool:
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:
        return False


def school_email() -> str | None:
    """The signed-in school account's e-mail, when its provider has verified it."""
    if not configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return email if isinstance(email, str) and st.user.get("email_verified") is not False else None


def single_sign_on() -> None:
    """At the start of every page run (app.py, before the sidebar): a Sign out also ends the school
    account's sign-in; a session new to the signed-in account is matched to its person."""
    if st.session_state.pop(SIGNED_OUT, False) and configured() and st.user.is_logged_in:
        st.session_state["sso_matched"] = None
        st.logout()
    email = school_email()
    if email is None or st.session_state.get("sso_matched") == email:
        return
    st.session_state["sso_matched"] = email
    try:
        _match(email)
    except (DatabaseError, ValueError) as err:
        st.session_state["who_note"] = f"Your school account cannot be matched right now: {err}"


def _match(email: str) -> None:
    """The session made the account's teacher's or student's, unless it is already (a reload, a
    new tab: renewing again would end the other tabs' session)."""
    visit, token = current_visit(), new_token()
    with Database().read() as db:
        account = by_email(db, email)
    if account is not None:
        here = Register(class_id=visit.class_id)
        if (sign_in := here.teacher(visit.key)[0]) is not None and sign_in.account == account:
            return
        Register().single_sign_in(digest(token), email, visit.person)
        theirs = here.teacher(digest(token))[1] != "elsewhere"  # the class it is in, if it is theirs
        become(
            Sessions().renew(visit, token, class_id=visit.class_id if theirs else MAIN),
            f"Signed in with the school account {email}.",
        )
        st.session_state.pop("join_student", None)
        return
    if found := Classes().student_by_email(email):
        person, class_id = found
        if visit.kept and visit.person == person:
            return
        become(Sessions().renew(visit, token, person=person, class_id=class_id), f"Welcome back ({email}).")
        st.session_state.pop("join_student", None)
        st.session_state.pop("join_class", None)
        return
    st.session_state["who_note"] = (
        f"Signed in as {email}. Join your class below with its code, once: from then on this account leads to your work."
    )


def sign_on_button() -> None:
    """The sidebar's way in with the school account, when the school has one configured."""
    if not configured():
        return
    if email := school_email():
        st.sidebar.caption(f":material/badge: School account: {plain(email)}")
        return
    st.sidebar.button("Sign in with your school account", key="sso_login", icon=":material/badge:", on_click=st.login)
