"""Teacher accounts: each teacher's own name and password (an argon2 hash), signed in within the
wrong-password budget; the install's password still signs in its first teacher; removing,
disabling or a new password ends that teacher's sign-ins; the command line that makes them.
(A right checked again when it is used: test_roles.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from model_store.accounts import Accounts, NoSuchTeacher
from model_store.database import Database, teacher_accounts
from model_store.names import NameRefused
from model_store.people import BROWSER_TRIES, Register
from tests.conftest import ROOT

ADA, BOB = "correct horse ada", "battery staple bob"
INSTALL = "the-install-password"


def test_an_account_keeps_only_an_argon2_hash_and_signs_in_by_name_within_the_budget(engine):
    accounts, register = Accounts(), Register()
    assert accounts.add(" Ms  Ada ", ADA) == "Ms Ada" and accounts.add("Mr Bob", BOB) == "Mr Bob"
    with Database().read() as db:
        hashes = db.execute(select(teacher_accounts.c.hash)).scalars().all()
    assert all(h.startswith("$argon2id$") and ADA not in h and BOB not in h for h in hashes)
    with pytest.raises(NameRefused, match="'ms ada' is already a teacher account's name"):
        accounts.add("ms ada", "another long one")
    with pytest.raises(ValueError, match="at least 8 characters"):
        accounts.add("Ms Eve", "short")
    assert [a.name for a in accounts.list()] == ["Ms Ada", "Mr Bob"]
    # A wrong password, a name that is nobody's and another teacher's password all count against the budget.
    assert not register.attempt("desk", "guess", "", account="Ms Ada")
    assert not register.attempt("desk", ADA, "", account="Ms Nobody")
    assert not register.attempt("desk", BOB, "", account="Ms Ada")
    assert register.tries_left("desk") == BROWSER_TRIES - 3 and register.teacher("desk") == (None, "")
    assert register.attempt("desk", ADA, "", account="ms  ada")  # her name as she types it
    assert register.teacher("desk")[0].account == "Ms Ada" and register.tries_left("desk") == BROWSER_TRIES


def test_the_install_password_alone_signs_in_its_first_teacher(engine):
    register = Register()
    assert register.attempt("one-class", INSTALL, INSTALL)  # no accounts: as a one-class install always did
    assert register.teacher("one-class")[0].account is None
    Accounts().add("Ms Ada", ADA)
    Accounts().add("Mr Bob", BOB)
    assert register.attempt("staff-room", INSTALL, INSTALL)
    assert register.teacher("staff-room")[0].account == "Ms Ada"  # the first made
    assert not register.attempt("staff-room", "not it", INSTALL)
    assert not register.attempt("no-install-password", "", "")  # none configured: nothing signs in without a name
    Accounts().set_disabled("Ms Ada", True)
    assert register.attempt("staff-room", INSTALL, INSTALL) and register.teacher("staff-room")[0].account == "Mr Bob"


def test_removing_disabling_or_a_new_password_ends_that_teachers_sign_ins_at_once(engine):
    accounts, register = Accounts(), Register()
    accounts.add("Ms Ada", ADA)
    accounts.add("Mr Bob", BOB)
    assert register.attempt("ada-desk", ADA, "", account="Ms Ada") and register.attempt("bob-desk", BOB, "", account="Mr Bob")

    def signed_in(browser: str) -> bool:
        return register.teacher(browser)[0] is not None

    accounts.set_password("Ms Ada", "a new one, it got out")
    assert not signed_in("ada-desk") and signed_in("bob-desk")  # only hers ended
    assert not register.attempt("ada-desk", ADA, "", account="Ms Ada")  # the old password is gone
    assert register.attempt("ada-desk", "a new one, it got out", "", account="Ms Ada")
    accounts.set_disabled("Ms Ada", True)
    assert not signed_in("ada-desk") and not register.attempt("ada-desk", "a new one, it got out", "", account="Ms Ada")
    accounts.set_disabled("Ms Ada", False)
    assert register.attempt("ada-desk", "a new one, it got out", "", account="Ms Ada")
    accounts.remove("Mr Bob")
    assert not signed_in("bob-desk") and not register.attempt("bob-desk", BOB, "", account="Mr Bob")
    with pytest.raises(NoSuchTeacher, match="no teacher account is called 'Mr Bob'"):
        accounts.remove("Mr Bob")
    assert [(a.name, a.disabled) for a in accounts.list()] == [("Ms Ada", False)]


def test_the_command_line_adds_lists_changes_and_removes_teachers_with_the_password_from_stdin(tmp_path):
    db = tmp_path / "school.sqlite3"

    def teachers(*args: str, password: str = "") -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "model_store", "teachers", *args, "--db", str(db)]
        return subprocess.run(command, cwd=ROOT, input=password + "\n", capture_output=True, text=True, timeout=120)

    assert teachers("add", "Ms Ada", password=ADA).stdout == "added teacher Ms Ada\n"
    assert teachers("add", "Mr Bob", password=BOB).returncode == 0
    refused = teachers("add", "mr bob", password=BOB)
    assert refused.returncode == 2 and "'mr bob' is already a teacher account's name" in refused.stderr
    assert Register(Database(db)).attempt("desk", BOB, "", account="Mr Bob")
    assert teachers("password", "Mr Bob", password="a brand new one").returncode == 0
    assert not Register(Database(db)).attempt("desk", BOB, "", account="Mr Bob")
    assert Register(Database(db)).attempt("desk", "a brand new one", "", account="Mr Bob")
    assert teachers("remove", "Mr Bob").stdout == "removed teacher Mr Bob; their sign-ins ended\n"
    listed = teachers("list")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "CREATED", "NOTE"]
    assert listed.stdout.splitlines()[1].startswith("Ms Ada") and listed.stdout.splitlines()[1].endswith("first")
    assert len(listed.stdout.splitlines()) == 2 and ADA not in listed.stdout + listed.stderr
    gone = teachers("remove", "Mr Bob")
    assert gone.returncode == 2 and "no teacher account is called 'Mr Bob'" in gone.stderr


def test_a_lesson_backup_carries_no_teacher_account_and_a_restore_keeps_the_schools(engine, store, tmp_path, monkeypatch):
    from model_store.lesson import backup, restore
    from tests.people import TEACHER

    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    Accounts().add("Ms Ada", ADA)
    backup(tmp_path / "lesson", TEACHER)
    with Database(tmp_path / "lesson" / "class.sqlite3").read() as db:
        assert db.execute(select(teacher_accounts)).all() == []  # no hash in a download
    Accounts().remove("Ms Ada")
    Accounts().add("Mr Bob", BOB)
    restore(tmp_path / "lesson", TEACHER, store=store)
    assert [a.name for a in Accounts().list()] == ["Mr Bob"]  # the removed teacher is not brought back


def test_a_class_database_of_schema_0002_is_upgraded_and_its_old_sign_ins_must_sign_in_again(tmp_path):
    import time

    from sqlalchemy import text

    from model_store.database import HEAD
    from tests.conftest import database_at

    path = tmp_path / "last-release.sqlite3"
    with database_at(path, "0002") as connection:  # the release before accounts
        connection.execute(
            text("INSERT INTO teachers VALUES ('desk', :until, :seen)"), {"until": time.time() + 3600, "seen": time.time()}
        )
    register = Register(Database(path))
    assert register.teacher("desk") == (None, "")  # a sign-in without an id: made again, with one
    assert not register.accounts_exist() and register.attempt("desk", INSTALL, INSTALL)
    assert register.teacher("desk")[0].id
    with Database(path).read() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD == "0005"
