"""Single sign-on: Streamlit's st.login against a real OpenID Connect provider on 127.0.0.1
(oidc-provider-mock), in Chromium. A teacher's school account signs them in as that teacher; a
student's leads to them once they joined their class signed in with it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from benchmarks.replicas import free_port
from model_store.accounts import Accounts
from model_store.classes import Classes
from model_store.roles import TERMINAL
from model_store.sessions import COOKIE, Sessions
from tests.browser import running_app
from tests.oidc import auth_secrets, oidc_provider
from tests.test_classes import join
from tests.waiting import wait_for

USERS = {
    "lee": {"email": "lee@school.test", "email_verified": True},
    "eve": {"email": "lee@school.test", "email_verified": False},  # claims the teacher's address, unverified
    "ada": {"email": "Ada@School.test"},
}


def loopback_only(context) -> None:
    """The provider's pages link a stylesheet on a CDN: nothing leaves the machine."""
    local = ("http://127.0.0.1", "ws://127.0.0.1")
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(local) else route.abort())


def school_sign_in(page, issuer: str, sub: str) -> None:
    page.get_by_role("button", name="Sign in with your school account").click()
    page.wait_for_url(f"{issuer}/oauth2/authorize?**", timeout=60_000)
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def person_of(context) -> str | None:
    tokens = [c["value"] for c in context.cookies() if c["name"] == COOKIE]
    return Sessions().person_of(tokens[0]) if tokens else None


@pytest.mark.browser
def test_in_chromium_a_school_account_signs_in_its_teacher_and_leads_a_student_back(browser, tmp_path):
    port = free_port()
    with oidc_provider(USERS) as issuer:
        secrets = auth_secrets(tmp_path / "secrets.toml", issuer, port)
        with running_app(
            tmp_path, flags=(f"--secrets.files={secrets}",), port=port, MNIST_LAB_TEACHER_PASSWORD="a teacher's password"
        ) as app:
            Accounts().add("Ms Lee", "lee's password")
            Accounts().set_email("Ms Lee", "LEE@school.test")
            seven = Classes().create("7B", TERMINAL)
            desk = browser.new_context(viewport={"width": 1280, "height": 1000})
            loopback_only(desk)
            page = desk.new_page()
            page.goto(app.url)
            school_sign_in(page, issuer, "lee")
            expect(page.get_by_text("Signed in as teacher Ms Lee")).to_be_visible(timeout=60_000)
            desk.close()
            sly = browser.new_context(viewport={"width": 1280, "height": 1000})
            loopback_only(sly)
            page = sly.new_page()
            page.goto(app.url)
            school_sign_in(page, issuer, "eve")
            expect(page.locator("summary", has_text="Student. Teacher? Sign in")).to_be_visible(timeout=60_000)
            assert page.get_by_text("Signed in as teacher").count() == 0 and page.get_by_text("School account").count() == 0
            sly.close()
            # A student: their first time, they join with the code; the next browser needs only the account.
            people = []
            for first in (True, False):
                context = browser.new_context(viewport={"width": 1280, "height": 1000})
                loopback_only(context)
                page = context.new_page()
                page.goto(app.url)
                school_sign_in(page, issuer, "ada")
                if first:
                    expect(page.get_by_text("Join your class below with its code")).to_be_visible(timeout=60_000)
                    join(page, seven.code, "ada")
                expect(page.get_by_text("A student of 7B")).to_be_visible(timeout=60_000)
                people.append(context)
            assert wait_for(lambda: person_of(people[1])) == wait_for(lambda: person_of(people[0]))  # one person, two browsers
            for context in people:
                context.close()


def test_a_teachers_school_account_is_set_on_the_command_line_once_per_address(tmp_path):
    import subprocess
    import sys

    from model_store.accounts import by_email
    from model_store.database import Database
    from tests.conftest import ROOT

    db = tmp_path / "school.sqlite3"

    def teachers(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "model_store", "teachers", *args, "--db", str(db)]
        return subprocess.run(command, cwd=ROOT, input="a long password\n", capture_output=True, text=True, timeout=120)

    added = teachers("add", "Ms Lee", "--email", "Lee@School.test")
    assert added.returncode == 0 and "school account Lee@School.test" in added.stdout, added.stderr
    assert teachers("add", "Mr Roe").returncode == 0
    taken = teachers("email", "Mr Roe", "--email", "lee@school.TEST")
    assert taken.returncode == 2 and "another teacher's school account" in taken.stderr
    bad = teachers("email", "Mr Roe", "--email", "not an address")
    assert bad.returncode == 2 and "is not an e-mail address" in bad.stderr
    with Database(db).read() as connection:
        assert by_email(connection, " LEE@school.test ") == "Ms Lee" and by_email(connection, "roe@school.test") is None
    Accounts(Database(db)).set_disabled("Ms Lee", True)
    with Database(db).read() as connection:
        assert by_email(connection, "lee@school.test") is None  # a disabled teacher signs in by no way
