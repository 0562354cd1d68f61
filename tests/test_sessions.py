"""Identity nobody can plant or guess: a browser is a person only through a random token the server
issued, kept hashed, replaced at every sign-in and sign-out; guests cost nothing until they save."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from sqlalchemy import text

from tests.browser import running_app, settle
from tests.waiting import wait_for

PASSWORD = "Zebra-42-ünïcode"


def rows(db, table: str) -> list[tuple]:
    with db.read() as connection:
        return [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table}"))]


def test_65537_guest_visits_write_no_row_and_a_guest_is_kept_once_they_save():
    from model_store.people import Register, guest_name
    from model_store.sessions import Sessions

    sessions, register = Sessions(), Register()
    statements, started = register.db.counted(), time.monotonic()
    visits = [sessions.visit(None) for _ in range(65_537)]  # a page load without a cookie asks this, and no more
    assert register.db.counted() == statements  # not one statement: a visit costs the database nothing
    for i in range(1_000):  # made-up cookies: one read each, nothing written
        assert not sessions.visit(f"made-up-{i}").kept
    names = {guest_name() for _ in visits}
    took = time.monotonic() - started
    assert rows(register.db, "people") == [] and rows(register.db, "sessions") == []
    assert took < 10, f"{took:.1f} s"
    assert len({v.person for v in visits}) == len({v.token for v in visits}) == 65_537
    assert len(names) == 65_537 and all(re.fullmatch(r"guest-[0-9a-f]{10}", n) for n in names)  # 40 bits: none clash
    # The one guest who saves something costs one session and one name; their token leads back to them.
    visit = sessions.keep(sessions.visit(None))
    name = register.name_for(visit.person, "guest-0123456789")
    assert name == "guest-0123456789" and sessions.visit(visit.token).person == visit.person
    assert len(rows(register.db, "people")) == 1 and len(rows(register.db, "sessions")) == 1


def test_a_token_is_random_kept_only_hashed_and_replaced_at_sign_in_and_sign_out(engine, tmp_path):
    from model_store.database import Database
    from model_store.lesson import backup
    from model_store.people import Register
    from model_store.roles import TERMINAL, Person, is_teacher
    from model_store.sessions import IDLE_SECONDS, Sessions, digest, new_token

    sessions, register = Sessions(), Register()
    student = sessions.keep(sessions.visit(None))
    assert len(student.token) >= 43 and student.person not in student.token  # 256 bits; the id is not the token's
    assert student.token not in repr(rows(register.db, "sessions")) and student.key in repr(rows(register.db, "sessions"))
    # A made-up token, or one copied from another browser, is never adopted: a new one is issued.
    made_up = sessions.visit("a-token-I-chose")
    assert made_up.token != "a-token-I-chose" and made_up.fresh and not made_up.kept
    # The teacher signs in at a browser holding the student's token (planted): the token is renewed.
    planted = sessions.visit(student.token)
    renewed = new_token()
    assert register.attempt(planted.key, PASSWORD, PASSWORD, person=planted.person, renew=digest(renewed))
    teacher = sessions.renew(planted, renewed)
    assert register.teacher(teacher.key)[0] is not None and register.teacher(student.key) == (None, "")
    again = sessions.visit(student.token)  # the student's copy leads nowhere now
    assert again.person != student.person and again.token != student.token and not again.kept
    sign_in = register.teacher(teacher.key)[0].id
    assert is_teacher(Person("t", teacher.person, teacher=True, sign_in=sign_in))
    assert not is_teacher(Person("t", again.person, teacher=True, sign_in=sign_in))  # the sign-in is its person's
    # Sign out: renewed again, the signed-in token is no one's and its sign-in has ended.
    after = sessions.renew(teacher)
    assert sessions.visit(teacher.token).person != teacher.person and sessions.visit(after.token).person == teacher.person
    assert register.teacher(teacher.key) == (None, "") and register.teacher(after.key) == (None, "")
    assert not is_teacher(Person("t", teacher.person, teacher=True, sign_in=sign_in))
    # Idle for IDLE_SECONDS: gone, and its row deleted as the next guest is kept.
    assert sessions.visit(after.token, now=time.time() + IDLE_SECONDS + 1).person != teacher.person
    sessions.keep(sessions.visit(None), now=time.time() + IDLE_SECONDS + 120)
    assert sessions.count() == 1
    # A lesson's download carries no session: not even a token's hash leaves the class database.
    backup(tmp_path / "lesson", TERMINAL)
    assert rows(Database(tmp_path / "lesson" / "class.sqlite3"), "sessions") == []


def test_a_class_database_of_schema_0003_is_upgraded_and_its_xsrf_keyed_sign_ins_end(tmp_path):
    from model_store.database import HEAD, Database
    from model_store.people import Register
    from tests.conftest import database_at

    path = tmp_path / "last-release.sqlite3"
    with database_at(path, "0003") as connection:  # the release before sessions
        connection.execute(
            text("INSERT INTO teachers VALUES ('a1b2c3d4e5f6', :until, :seen, NULL, 'an-id')"),
            {"until": time.time() + 3600, "seen": time.time()},
        )
    register = Register(Database(path))
    assert register.teacher("a1b2c3d4e5f6") == (None, "")  # a browser id anyone's copied cookie gave: signed in again
    assert rows(register.db, "teachers") == [] and rows(register.db, "sessions") == []
    with Database(path).read() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD == "0005"


def test_the_models_page_shows_a_models_owner_by_name_never_their_id(store, monkeypatch):
    from model_store.networks import dense_128
    from tests.conftest import open_page, run_clean

    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    owner = {"name": "ada", "browser": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
    store.save(dense_128(), {"name": "ada-net", "architecture": "dense-128", "normalization": "scale", "owner": owner})
    at = open_page("models")
    at.selectbox(key="models_pick").set_value("ada-net")
    run_clean(at)
    assert "ada" in repr(at.json[0].value) and owner["browser"] not in repr(at.json[0].value)


def test_the_sidebars_sign_in_and_sign_out_renew_the_token_and_a_tab_on_an_ended_one_is_told_to_reload(monkeypatch, tmp_path):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from model_store.people import Register
    from model_store.sessions import Sessions
    from tests.conftest import ROOT, as_read, run_clean

    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()
    at = run_clean(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120))
    guest = at.session_state["who_visit"]
    assert not guest.kept and Sessions().count() == 0  # a visit writes nothing
    at.sidebar.text_input(key="who_password").set_value(PASSWORD)
    run_clean(at)
    teacher = at.session_state["who_visit"]
    assert at.sidebar.success and teacher.kept and teacher.token != guest.token and teacher.person == guest.person
    at.sidebar.button(key="who_sign_out").click()
    run_clean(at)
    student = at.session_state["who_visit"]
    assert student.token != teacher.token and Sessions().visit(teacher.token).person != teacher.person
    assert Register().name_of(student.person) == at.sidebar.text_input(key="who_field").value  # kept at the sign-in
    # Another tab of this browser signs in: this tab's token is replaced there, and this tab is told.
    Sessions().renew(student)
    at.session_state["who_read"] = 0  # the name and session are read again (every 10 s)
    run_clean(at)
    assert "This tab's session has ended" in " ".join(as_read(c.value) for c in at.sidebar.caption)
    assert at.session_state["who_visit"].person != student.person and not at.session_state["who_visit"].fresh


def sign_in(page) -> None:
    """The teacher signs in from the sidebar (its expander opened again if a page run closed it)."""
    expander, field = page.get_by_text("Student. Teacher? Sign in"), page.get_by_label("Teacher password")
    expander.wait_for(timeout=60_000)
    for _ in range(5):
        if not field.is_visible():
            expander.click()
        try:
            field.wait_for(state="visible", timeout=3_000)
            break
        except PlaywrightTimeout:
            continue
    field.fill(PASSWORD)
    field.press("Enter")
    page.get_by_text("Signed in as teacher").wait_for()


def role_shown(page) -> str:
    """What the sidebar says the browser is, once it says it: "student" or "teacher"."""
    said = "() => ['Teacher? Sign in', 'Signed in as teacher'].some(s => document.body.innerText.includes(s))"
    page.wait_for_function(said, timeout=60_000)
    return "teacher" if page.get_by_text("Signed in as teacher").count() else "student"


def kept_token(context, not_this: str | None = None) -> str | None:
    """The browser's session token once the class database keeps it (and it is not `not_this`)."""
    from model_store.sessions import COOKIE, Sessions

    tokens = [c["value"] for c in context.cookies() if c["name"] == COOKIE]
    token = tokens[0] if tokens else None
    return token if token and token != not_this and Sessions().person_of(token) else None


@pytest.mark.browser
def test_in_chromium_a_cookie_planted_in_the_teachers_browser_gives_the_student_nothing(browser, tmp_path):
    with running_app(tmp_path, MNIST_LAB_TEACHER_PASSWORD=PASSWORD) as app:
        student = browser.new_context(viewport={"width": 1280, "height": 1000})
        mine = student.new_page()
        mine.goto(app.url)
        mine.get_by_text("Student. Teacher? Sign in").wait_for(timeout=60_000)
        name = mine.get_by_role("textbox", name="Your name")  # a name: the student is kept, their token live
        name.fill("mallory")
        name.press("Enter")
        planted_token = wait_for(lambda: kept_token(student))  # the name and the cookie written
        mine.reload()
        mine.wait_for_function("() => document.body.innerText.includes('Student. Teacher? Sign in')", timeout=60_000)
        expect(mine.get_by_role("textbox", name="Your name")).to_have_value("mallory", timeout=30_000)  # filled as it renders
        planted = student.cookies()  # every cookie of the student's own browser...
        teachers = browser.new_context(viewport={"width": 1280, "height": 1000})
        teachers.add_cookies(planted)  # ...planted at the teacher's desk before the teacher signs in
        desk = teachers.new_page()
        desk.goto(app.url)
        sign_in(desk)
        wait_for(lambda: kept_token(teachers, not_this=planted_token))  # renewed at the sign-in
        desk.reload()  # the teacher's browser keeps its sign-in
        desk.get_by_text("Signed in as teacher").wait_for(timeout=60_000)
        # The student's browser, reloaded and on the Class page: a student, with nothing of the teacher's.
        mine.reload()
        assert role_shown(mine) == "student"
        mine.get_by_test_id("stSidebarNav").get_by_text("Class", exact=True).click()
        mine.wait_for_url("**/class")
        settle(mine)
        assert role_shown(mine) == "student" and mine.get_by_text("Signed in as teacher").count() == 0
        tokens = [c["value"] for c in teachers.cookies() + student.cookies() if c["name"] == "mnist_lab_session"]
        assert len(set(tokens)) == 2  # the teacher's token is not the one planted
        for page in (mine, desk):
            shown = page.evaluate("() => document.body.innerText")
            assert not any(token in shown for token in tokens)  # never shown on a page
        student.close()
        teachers.close()
