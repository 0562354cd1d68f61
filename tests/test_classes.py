"""A school's classes: each its own drawings, people, runs and limits; students who join with the
class code, their name and two secret words, and find their work on any browser."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import text as sql

from model_store.classes import (
    CODE_LENGTH,
    CODE_LETTERS,
    FIRST_WAIT,
    SCHOOL_CODES,
    SECRET_TRIES,
    WRONG_CODES,
    ClassError,
    Classes,
    JoinWait,
    WrongJoin,
)
from model_store.classes import WORDS as ALL_WORDS
from model_store.database import MAIN, Database
from model_store.drawings import Drawings
from model_store.names import NameRefused
from model_store.people import Register
from model_store.roles import TERMINAL, NotAllowed, Person
from model_store.sessions import Sessions, new_person
from tests.browser import running_app, settle
from tests.conftest import ROOT, recorded_run
from tests.waiting import wait_for

WORDS = ("otter", "tiger")
WRONG_WORDS = [w for w in ALL_WORDS if w != "tiger"]
STUDENT = Person("mallory", "mallory-id")


def ink(seed: int) -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 10 + seed % 5 : 14 + seed % 5] = 255
    return image


def test_two_classes_drawings_people_runs_and_limits_are_invisible_to_each_other(engine):
    from training.limits import Limits, read_limits, save_limits
    from training.runs import list_runs

    seven = Classes().create("7B", TERMINAL)
    here, there = Drawings(class_id=seven.id), Drawings()
    mine = here.add(ink(1), 1, "ada", browser="ada-7b")
    there.add(ink(2), 2, "ada", browser="ada-main")
    there.add(ink(3), 3, "bob", browser="bob-main")
    assert (here.count(), there.count()) == (1, 2)
    assert here.writers() == ["ada"] and there.writers() == ["ada", "bob"]
    assert here.arrays()[2].tolist() == [1] and [d.label for d in there.newest(10)] == [3, 2]
    with pytest.raises(KeyError):
        there.get(mine)  # another class's drawing, even by its id
    assert there.delete_all(TERMINAL) == 2 and here.count() == 1  # the teacher's "delete all" stays in its class
    # A name is one person's in its class: "ada" may be in both, and a rename in one leaves the other.
    Register(class_id=seven.id).claim("ada-7b", "ada")
    Register().claim("ada-main", "ada")
    with pytest.raises(NameRefused, match="try 'ADA-2'"):
        Register(class_id=seven.id).claim("someone", "ADA")
    Register(class_id=seven.id).rename("ada", "ada b", replace(TERMINAL, class_id=seven.id))[0]
    assert list(Register().people()) == ["ada"] and list(Register(class_id=seven.id).people()) == ["ada b"]
    assert here.writers() == ["ada b"]
    # Limits: each class its own.
    save_limits(Limits(epochs=3), replace(TERMINAL, class_id=seven.id))
    assert read_limits(seven.id).epochs == 3 and read_limits(MAIN).epochs == Limits().epochs
    # Runs: each class lists its own; the school's queue holds both.
    recorded_run("20261204-090000-000000-aaaa", {"name": "a", "owner": "ada", "class_id": seven.id})
    recorded_run("20261204-090001-000000-bbbb", {"name": "b", "owner": "bob"})  # an older run: the install's class
    assert [r.config["name"] for r in list_runs(seven.id)] == ["a"]
    assert [r.config["name"] for r in list_runs(MAIN)] == ["b"] and len(list_runs()) == 2


def test_a_classs_lesson_is_backed_up_restored_and_started_anew_without_touching_another_class(engine, store, tiny, tmp_path):
    from model_store.lesson import backup, new_lesson, restore
    from training.limits import Limits, read_limits, save_limits
    from training.runs import archive_runs, list_runs

    seven = Classes().create("7B", TERMINAL)
    teacher_7b = replace(TERMINAL, class_id=seven.id)
    here, there = Drawings(class_id=seven.id), Drawings()
    for i in range(3):
        here.add(ink(i), i, "ada", browser="ada-7b")
    there.add(ink(9), 9, "bob", browser="bob-main")
    Register(class_id=seven.id).claim("ada-7b", "ada")
    Register().claim("bob-main", "bob")
    save_limits(Limits(epochs=4), teacher_7b)
    recorded_run("20261204-090000-000000-aaaa", {"name": "a", "owner": "ada", "class_id": seven.id}, "done")
    recorded_run("20261204-090001-000000-bbbb", {"name": "b", "owner": "bob"}, "done")
    held = backup(tmp_path / "7b", teacher_7b)
    assert (held["drawings"], held["runs"], held["class_id"]) == (3, 1, seven.id)
    Classes().join(seven.code, "ada", WORDS, "ada-7b")
    held = backup(tmp_path / "7b-joined", teacher_7b)
    with Database(tmp_path / "7b-joined" / "class.sqlite3").read() as db:  # no secret words' hash, no join code
        assert db.execute(sql("SELECT count(*) FROM students")).scalar() == 0
        assert seven.code not in [row.code for row in db.execute(sql("SELECT code FROM classes"))]
    kept = Drawings(tmp_path / "7b" / "class.sqlite3", seven.id)
    assert kept.count() == 3 and Drawings(tmp_path / "7b" / "class.sqlite3").count() == 0  # nothing of main's
    # The lesson goes wrong in 7B, and main goes on meanwhile.
    here.delete_all(teacher_7b)
    save_limits(Limits(epochs=9), teacher_7b)
    there.add(ink(8), 8, "bob", browser="bob-main")
    restore(tmp_path / "7b", teacher_7b, store=store)
    assert here.arrays()[2].tolist() == [0, 1, 2] and read_limits(seven.id).epochs == 4
    assert there.arrays()[2].tolist() == [9, 8] and list(Register().people()) == ["bob"]
    assert [r.config["name"] for r in list_runs(seven.id)] == ["a"] and [r.config["name"] for r in list_runs(MAIN)] == ["b"]

    # A class's backup holds its models only; a restore never replaces another class's model of the same name.
    def saved(name: str, class_id: str, layers: int) -> None:
        record = {"name": name, "architecture": f"dense-{layers}", "normalization": "scale", "class_id": class_id}
        store.save(tiny[0], record, overwrite=True)

    saved("net", seven.id, 1)
    saved("mains-net", MAIN, 2)
    backup(tmp_path / "7b-models", teacher_7b)
    with Database(tmp_path / "7b-models" / "class.sqlite3").read() as db:
        assert [r.name for r in db.execute(sql("SELECT name FROM models"))] == ["net"]
    store.delete("net", teacher_7b)
    saved("net", MAIN, 3)  # meanwhile the install's class has a model of that name
    restore(tmp_path / "7b-models", teacher_7b, store=store)
    assert store.get("net").record["architecture"] == "dense-3"  # not overwritten
    # A new lesson in 7B clears 7B's drawings and archives 7B's finished runs only.
    _, cleared, archived = new_lesson(teacher_7b, archive_runs)
    assert (cleared, archived) == (3, 1) and there.count() == 2 and [r.config["name"] for r in list_runs()] == ["b"]


def test_a_student_who_joins_on_a_second_browser_is_the_same_person_with_their_drawings(engine):
    seven = Classes().create("7B", TERMINAL)
    first = Sessions().visit(None)
    found, student = Classes().join(seven.code.lower(), "ada", WORDS, first.person)  # any case
    assert found.id == seven.id and student == first.person
    at_first = Sessions().renew(first, person=student, class_id=seven.id)
    Drawings(class_id=seven.id).add(ink(1), 1, "ada", browser=at_first.person)
    # Another browser, a new guest until the same code, name and words.
    second = Sessions().visit(None)
    assert second.person != student
    _, again = Classes().join(f" {seven.code[:4]}-{seven.code[4:]} ", "Ada", WORDS, second.person)
    assert again == student
    at_second = Sessions().renew(second, person=again, class_id=seven.id)
    assert Sessions().visit(at_second.token).person == student and Sessions().visit(at_second.token).class_id == seven.id
    there = Person("ada", at_second.person, class_id=seven.id)
    x = np.load(__import__("io").BytesIO(Drawings(class_id=seven.id).npz(there)))["x"]
    assert len(x) == 1  # their own drawing, downloaded on the second browser
    assert Sessions().visit(at_first.token).person == student  # the first browser stays theirs too
    assert Classes().students(seven.id) == ["ada"]


def test_wrong_secret_words_wait_after_the_allowance_and_the_teacher_gives_new_ones(engine):
    seven = Classes().create("7B", TERMINAL)
    Classes().join(seven.code, "ada", WORDS, "ada-id", now=1000.0)
    for _ in range(SECRET_TRIES):
        with pytest.raises(WrongJoin, match="not this student's secret words"):
            Classes().join(seven.code, "ada", ("otter", "zebra"), "mallory-id", now=1000.0)
    with pytest.raises(JoinWait, match=f"wait {FIRST_WAIT:.0f} s") as waiting:
        Classes().join(seven.code, "ada", WORDS, "ada-id", now=1000.0)  # even the right words, while it waits
    assert waiting.value.seconds == FIRST_WAIT
    assert Classes().join(seven.code, "ada", WORDS, "ada-id", now=1000.0 + FIRST_WAIT + 1)[1] == "ada-id"
    with pytest.raises(NotAllowed):
        Classes().reset_secret("ada", replace(STUDENT, class_id=seven.id))
    words = Classes().reset_secret("ada", replace(TERMINAL, class_id=seven.id))
    with pytest.raises(WrongJoin):
        Classes().join(seven.code, "ada", WORDS, "ada-id", now=1100.0)
    assert Classes().join(seven.code, "ada", words, "ada-id", now=1100.0)[1] == "ada-id"
    with pytest.raises(WrongJoin, match="two words from the lists"):
        Classes().join(seven.code, "ada", ("otter", "password1"), "ada-id", now=1100.0)


def test_wrong_class_codes_are_counted_per_address_and_for_the_whole_school_from_any_cookie(engine):
    seven = Classes().create("7B", TERMINAL)
    for i in range(WRONG_CODES):
        with pytest.raises(WrongJoin, match="no class has that code"):
            Classes().join("ZZZZZZZZ", f"guesser {i}", WORDS, new_person(), now=5000.0 + i, source="10.0.0.9")
    with pytest.raises(JoinWait, match="from this address"):  # a fresh cookie gets no fresh count
        Classes().join(seven.code, "ada", WORDS, new_person(), now=5030.0, source="10.0.0.9")
    assert Classes().join(seven.code, "ada", WORDS, "ada-id", now=5030.0, source="10.0.0.7")[0].id == seven.id  # others join
    for i in range(SCHOOL_CODES - WRONG_CODES):  # from many addresses: the school's own count
        with pytest.raises(WrongJoin):
            Classes().join("ZZZZZZZZ", "guesser", WORDS, new_person(), now=5031.0, source=f"10.1.{i // 200}.{i % 200}")
    with pytest.raises(JoinWait, match="in this school"):
        Classes().join(seven.code, "bob", WORDS, "bob-id", now=5040.0, source="10.0.0.8")
    assert Classes().join(seven.code, "bob", WORDS, "bob-id", now=5061.0, source="10.0.0.9")[0].id == seven.id  # the next minute


def test_tries_at_once_cannot_pass_the_budget_together(engine):
    """Each try is counted before its code or words are looked at, in one locked write."""
    from concurrent.futures import ThreadPoolExecutor

    seven = Classes().create("7B", TERMINAL)
    Classes().join(seven.code, "ada", WORDS, "ada-id", now=1000.0)

    def guess(i: int) -> str:
        try:
            Classes().join(seven.code, "ada", ("otter", WRONG_WORDS[i]), f"mallory-{i}", now=1000.0)
        except (WrongJoin, JoinWait) as err:
            return type(err).__name__
        return "in"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(guess, range(SECRET_TRIES + 8)))
    assert outcomes.count("WrongJoin") == SECRET_TRIES and outcomes.count("JoinWait") == 8, outcomes


def test_join_codes_have_no_look_alike_letters_and_class_names_no_look_alike_twins(engine):
    codes = {Classes().create(f"class {i}", TERMINAL).code for i in range(40)}
    assert len(codes) == 40 and all(len(c) == CODE_LENGTH and set(c) <= set(CODE_LETTERS) for c in codes)
    assert not set("01OIL") & set(CODE_LETTERS) and len(CODE_LETTERS) ** CODE_LENGTH > 8e11
    with pytest.raises(ClassError, match="already has a class"):
        Classes().create("CLASS 1", TERMINAL)
    with pytest.raises(NameRefused):
        Classes().create("сlass 2", TERMINAL)  # a Cyrillic с: one script only
    with pytest.raises(NotAllowed):
        Classes().create("8A", STUDENT)
    with pytest.raises(WrongJoin, match="chose no secret words"):  # a guest of the class keeps their name
        seven = Classes().create("7B", TERMINAL)
        Register(class_id=seven.id).claim("guest-id", "bob")
        Classes().join(seven.code, "bob", WORDS, "someone-else")


def test_a_teacher_has_no_rights_in_another_teachers_class_even_after_joining_it(engine):
    from model_store.accounts import Accounts
    from training.limits import Limits, read_limits, save_limits

    Accounts().add("Ms Lee", "lee's password")
    Accounts().add("Mr Roe", "roe's password")
    mine, theirs = Classes().create("7A", TERMINAL, teacher="Ms Lee"), Classes().create("7B", TERMINAL, teacher="Mr Roe")
    Classes().join(theirs.code, "lee", WORDS, "lee-id")  # she joins 7B as a student, then signs in there
    assert Register().attempt("desk", "lee's password", "", account="Ms Lee", person="lee-id")
    lee = Person("Ms Lee", "lee-id", teacher=True, sign_in=Register().teacher("desk")[0].id)
    save_limits(Limits(epochs=3), replace(lee, class_id=mine.id))  # her own class
    save_limits(Limits(epochs=4), lee)  # the install's own: every teacher's
    in_theirs = replace(lee, class_id=theirs.id)
    for action in (
        lambda: save_limits(Limits(epochs=50), in_theirs),
        lambda: Classes().set_guests(False, in_theirs),
        lambda: Classes().reset_secret("lee", in_theirs),
        lambda: Drawings(class_id=theirs.id).delete_all(in_theirs),
    ):
        with pytest.raises(NotAllowed):
            action()
    assert read_limits(theirs.id) == Limits() and Classes().get(theirs.id).guests
    assert Register(class_id=theirs.id).teacher("desk") == (None, "elsewhere")  # the sidebar: a student there


def test_a_rename_carries_only_the_renamed_persons_things_in_any_class(engine, store, tiny):
    """A name is shown, not owned: renaming one "ada" renames neither another class's ada's model nor
    a drawing another person made under that name."""
    from training.runs import rename_person

    seven = Classes().create("7B", TERMINAL)
    Register().claim("ada-main", "ada")
    owner = {"name": "ada", "browser": "ada-main"}
    store.save(tiny[0], {"name": "adas-net", "architecture": "dense-128", "normalization": "scale", "owner": owner})
    teacher = Person("Ms T", "teacher-id", teacher=True, class_id=seven.id)
    Register().claim("teacher-id", "Ms T")  # the teacher's row is the install's class's...
    Drawings(class_id=seven.id).add(ink(1), 1, "Ms T", browser="teacher-id")  # ...and she draws in 7B
    with pytest.raises(NameRefused, match="already someone else's name"):
        Register(class_id=seven.id).claim("mallory-id", "ms t")  # her name is hers in 7B too
    Register(class_id=seven.id).claim("mallory-id", "ada")
    mallory = Person("ada", "mallory-id", class_id=seven.id)
    assert rename_person("ada", "ada the great", mallory) == "ada the great"
    assert store.get("adas-net").record["owner"]["name"] == "ada"  # main's ada's model keeps her name
    assert rename_person("Ms T", "Ms Tee", teacher) == "Ms Tee"  # a teacher renames herself from 7B
    assert Drawings(class_id=seven.id).writers() == ["Ms Tee"]


def test_a_teacher_sees_their_own_classes_and_the_installs(engine):
    Classes().create("7B", TERMINAL, teacher="Ms Lee")
    Classes().create("8A", TERMINAL, teacher="Mr Roe")
    assert [c.name for c in Classes().of_teacher("Ms Lee")] == ["main", "7B"]
    assert sorted(c.name for c in Classes().of_teacher(None)) == ["7B", "8A", "main"]  # the install's password


def test_the_command_line_makes_a_class_and_works_in_it(tmp_path, mnist_test):
    db = tmp_path / "school.sqlite3"

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "model_store", *args, "--db", str(db)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    made = run("classes", "create", "7B", "--json")
    assert made.returncode == 0, made.stderr
    printed = json.loads(made.stdout)
    assert (
        set(printed) == {"class", "code"} and printed["class"] == "7B" and re.fullmatch(f"[{CODE_LETTERS}]{{8}}", printed["code"])
    )
    unknown = run("classes", "create", "8A", "--teacher", "nobody")
    assert unknown.returncode == 2 and "no teacher account is called 'nobody'" in unknown.stderr
    (x, y) = mnist_test
    np.savez(tmp_path / "three.npz", x=x[:3], y=y[:3])
    imported = run("drawings", "import", str(tmp_path / "three.npz"), "--by", "ada", "--class", "7B")
    assert imported.returncode == 0 and "the class has 3" in imported.stdout, imported.stderr
    assert Drawings(Database(db)).count() == 0  # not in the install's own class
    listed = run("drawings", "list", "--class", "7b")
    assert listed.stdout.splitlines()[-1].split()[-1] == "3"
    saved = run("backup", str(tmp_path / "lesson"), "--class", "7B")
    assert saved.returncode == 0 and ": 3 drawings" in saved.stdout, saved.stderr
    missing = run("drawings", "list", "--class", "9Z")
    assert missing.returncode == 2 and "no class is called '9Z' (the school's classes: main, 7B)" in missing.stderr


@pytest.mark.browser
def test_in_chromium_a_student_joins_then_signs_in_on_a_second_browser_and_finds_their_drawings(browser, tmp_path):
    with running_app(tmp_path, MNIST_LAB_TEACHER_PASSWORD="a teacher's password") as app:
        seven = Classes().create("7B", TERMINAL)
        people = []
        for _ in range(2):
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(app.url)
            join(page, seven.code, "ada")
            people.append((context, page))
            if len(people) == 1:  # the first browser saves a drawing as the student
                token = wait_for(lambda: student_token(people[0][0]))
                Drawings(class_id=seven.id).add(ink(1), 1, "ada", browser=Sessions().person_of(token))
        (first, _), (second, page) = people
        both = [wait_for(lambda context=context: student_token(context)) for context in (first, second)]  # the cookies written
        assert Sessions().person_of(both[0]) == Sessions().person_of(both[1])
        page.get_by_test_id("stSidebarNav").get_by_text("Data", exact=True).click()
        page.wait_for_url("**/data")
        # Their drawing is theirs here: they may delete it (another's shows the teacher's lock).
        expect(page.get_by_role("button", name="Delete this drawing")).to_be_visible(timeout=60_000)
        settle(page)
        assert page.get_by_text("Only the teacher may delete other people's drawings").count() == 0
        assert "7B" in page.get_by_test_id("stSidebar").inner_text()
        page.get_by_role("button", name="Sign out").click()  # a shared computer: a new guest's again
        expect(page.get_by_text("Join your class")).to_be_visible(timeout=60_000)
        for context, _ in people:
            context.close()


def join(page, code: str, name: str) -> None:
    """The sidebar's Join your class, filled: the code, the name, the two words. Each step waits for
    the page's run before it (a loaded machine takes seconds to serve a fresh page)."""
    summary = page.locator("summary", has_text="Join your class")
    summary.wait_for(timeout=60_000)
    settle(page)
    summary.click()
    page.get_by_role("textbox", name="Class code").fill(code)
    page.get_by_role("textbox", name="Your name in the class").fill(name)
    for label, word in zip(("First secret word", "Second secret word"), WORDS):
        page.get_by_role("combobox", name=label).click()
        page.keyboard.type(word)
        page.keyboard.press("Enter")
        settle(page)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_text("A student of 7B")).to_be_visible(timeout=60_000)


def student_token(context) -> str | None:
    from model_store.sessions import COOKIE

    tokens = [c["value"] for c in context.cookies() if c["name"] == COOKIE]
    return tokens[0] if tokens and Sessions().person_of(tokens[0]) else None


def test_a_class_bounds_its_new_guests_an_hour_and_its_saves_a_minute_whatever_the_cookies(engine, monkeypatch):
    import model_store.drawings
    import model_store.people

    monkeypatch.setattr(model_store.people, "NEW_GUESTS_AN_HOUR", 3)
    monkeypatch.setattr(model_store.drawings, "CLASS_SAVES_PER_MINUTE", 5)
    seven = Classes().create("7B", TERMINAL)
    Classes().join(seven.code, "ada", WORDS, "ada-id")  # a student: not a guest
    for i in range(3):
        Register().name_for(f"guest-{i}")
    with pytest.raises(NameRefused, match="3 new guests in the last hour"):
        Register().name_for("guest-3")  # a fresh cookie, one guest too many
    assert Register(class_id=seven.id).name_for("visitor").startswith("guest-")  # another class: its own count
    here = Drawings()
    for i in range(5):
        here.add(ink(i), 1, f"guest-{i}", browser=f"guest-{i}")
    with pytest.raises(model_store.drawings.TooManySaves, match="the class saved 5 drawings in the last minute"):
        here.add(ink(6), 1, "guest-0", browser="guest-6")
    assert Drawings(class_id=seven.id).add(ink(1), 1, "ada", browser="ada-id")  # 7B saves on


def test_a_model_is_its_classs_until_its_teacher_shares_it_and_each_class_has_its_default(engine, store, tiny):
    from model_store.store import StoreError

    seven = Classes().create("7B", TERMINAL)
    teacher_7b = replace(TERMINAL, class_id=seven.id)

    def saved(name: str, **record) -> None:
        store.save(tiny[0], {"name": name, "architecture": "dense-128", "normalization": "scale", **record})

    saved("sevens-net", class_id=seven.id)
    saved("older-net")  # from before classes: the install's own class's
    assert [m.name for m in store.list(seven.id)] == ["sevens-net"] and [m.name for m in store.list(MAIN)] == ["older-net"]
    with pytest.raises(StoreError, match="another class's"):
        store.set_default("sevens-net", TERMINAL)
    store.set_default("sevens-net", teacher_7b)
    assert store.default(seven.id).name == "sevens-net" and store.default(MAIN).name == "older-net"
    with pytest.raises(NotAllowed):
        store.set_shared("sevens-net", True, replace(STUDENT, class_id=seven.id))
    with pytest.raises(StoreError, match="not a model of this class"):
        store.set_shared("sevens-net", True, TERMINAL)  # the install's class's teacher: not theirs to share
    store.set_shared("sevens-net", True, teacher_7b)
    assert sorted(m.name for m in store.list(MAIN)) == ["older-net", "sevens-net"]
    for change in (lambda: store.delete("sevens-net", TERMINAL), lambda: store.rename("sevens-net", "mine-now", TERMINAL)):
        with pytest.raises(StoreError, match="another class's model"):
            change()  # shared: the install's class uses it, and changes nothing of it
    store.set_shared("sevens-net", False, teacher_7b)
    assert [m.name for m in store.list(MAIN)] == ["older-net"]


def test_the_school_admin_adds_teachers_on_the_class_page_and_no_other_teacher_may(tiny_store, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from model_store.accounts import Accounts
    from tests.conftest import run_clean

    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "the install's password")
    Accounts().add("Ms Lee", "lee's password")  # the first teacher: the school admin
    Accounts().add("Mr Roe", "roe's password")
    assert Register().attempt("desk-roe", "roe's password", "", account="Mr Roe", person="roe-id")
    roe = Person("Mr Roe", "roe-id", teacher=True, sign_in=Register().teacher("desk-roe")[0].id)
    for nobody in (roe, STUDENT):
        with pytest.raises(NotAllowed, match="Only the school admin"):
            Register().add_teacher("Eve", "a long password", "", nobody)
    st.cache_data.clear()
    at = run_clean(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60))
    at.sidebar.text_input(key="who_password").set_value("the install's password")  # alone: the first teacher
    run_clean(at)
    run_clean(at.switch_page("pages/classroom.py"))
    at.text_input(key="class_teacher_name").set_value("Ms Ng")
    at.text_input(key="class_teacher_password").set_value("ng's long password")
    at.text_input(key="class_teacher_email").set_value("ng@school.test")
    at.button(key="FormSubmitter:class_teacher_form-Add the teacher").click()
    run_clean(at)
    assert [a.name for a in Accounts().list()] == ["Ms Lee", "Mr Roe", "Ms Ng"]
    assert Register().attempt("desk-ng", "ng's long password", "", account="Ms Ng", person="ng-id")
