"""Owners, names and the lesson: who made what and may change it, names kept per browser and
never in a link, the sign-in's budget shared by every app process, and a backup taken while the
class draws. (The rules for the teacher's buttons: test_roles.py.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from model_store import ModelStore
from model_store.database import HEAD
from model_store.drawings import Drawings, TooManySaves
from model_store.lesson import backup, restore
from model_store.names import NameRefused, clean_name
from model_store.networks import dense_128
from model_store.people import APP_TRIES, BROWSER_TRIES, Register, TooManyTries
from model_store.roles import NotAllowed, Person
from tests.conftest import ROOT, as_read, recorded_run, run_clean
from tests.people import OTHER_STUDENT, STUDENT, TEACHER, at_browser, signed_in_as_teacher

PASSWORD = "Zebra-42"
BLANK = np.zeros((28, 28), np.uint8)


def owned_models(store: ModelStore) -> ModelStore:
    """'ada-net' made by ada, 'bob-net' by bob, 'old-net' by nobody known (the command line)."""
    for name, owner in (("ada-net", STUDENT), ("bob-net", OTHER_STUDENT), ("old-net", None)):
        maker = {"name": owner.name, "browser": owner.session} if owner else None
        store.save(dense_128(), {"name": name, "architecture": "dense-128", "normalization": "scale", "owner": maker})
    return store


def test_a_student_deletes_and_renames_their_own_model_and_is_refused_anothers(store):
    owned_models(store)
    for attempt in (lambda: store.delete("bob-net", STUDENT), lambda: store.rename("old-net", "x", STUDENT)):
        with pytest.raises(NotAllowed, match="Only the teacher may (delete|rename) another person's model"):
            attempt()
    # Her name typed at another browser is not her: things belong to the browser that made them.
    with pytest.raises(NotAllowed):
        store.delete("ada-net", Person("ada", "someone-elses-browser"))
    store.rename("ada-net", "ada-best", STUDENT)
    assert store.get("ada-best").record["owner"] == {"name": "ada", "browser": STUDENT.session}
    store.delete("ada-best", STUDENT)
    store.delete("old-net", TEACHER)
    assert [m.name for m in store.list()] == ["bob-net"]


def test_a_name_is_kept_per_browser_unique_clean_and_refused_with_a_suggestion():
    register = Register()
    assert register.name_for("browser-1").startswith("guest-")
    assert register.name_for("browser-1") == register.name_for("browser-1")  # kept
    assert register.claim("browser-1", "  Ada   Lovelace ") == "Ada Lovelace"
    with pytest.raises(NameRefused, match="'ada lovelace' is already someone else's name in this class: try 'ada lovelace-2'"):
        register.claim("browser-2", "ada lovelace")
    for bad, said in [
        ("", "cannot be empty"),
        ("x" * 41, "at most 40 characters .this one has 41."),
        ("evil\u202etxt", "control characters"),
        ("tab\there", "control characters"),
        ("=cmd|' /C calc'!A0", "cannot start with '=': a spreadsheet would read it as a formula"),
        ("@SUM(1)", "cannot start with '@'"),
    ]:
        with pytest.raises(NameRefused, match=said):
            clean_name(bad)
    assert clean_name("[sign in again](http://x.example/)") == "[sign in again](http://x.example/)"  # kept, shown as text


def test_a_name_that_only_looks_like_anothers_is_refused():
    register = Register()
    register.claim("browser-1", "ada")
    with pytest.raises(NameRefused, match=r"invisible characters \(U\+2060\)"):
        register.claim("browser-2", "ada\u2060")
    with pytest.raises(NameRefused, match="one script .this one mixes Cyrillic and Latin letters"):
        register.claim("browser-2", "\u0430da")  # a Cyrillic a, then Latin
    with pytest.raises(NameRefused, match="'аԁа' is already someone else's name"):
        register.claim("browser-2", "\u0430\u0501\u0430")  # all Cyrillic, the same to the eye
    with pytest.raises(NameRefused, match="'ada' is already someone else's name"):
        register.claim("browser-2", "\uff41\uff44\uff41")  # full-width, read as ada
    assert register.claim("browser-2", "Ада") == "Ада"  # a Russian name of its own passes
    assert register.claim("browser-3", "José Núñez") == "José Núñez"


def test_renaming_or_merging_a_person_carries_their_models_runs_and_drawings(store, tmp_path, monkeypatch):
    from training.runs import list_runs, rename_person

    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    register, db = Register(), Drawings()
    register.claim(STUDENT.session, "ada")
    register.claim(OTHER_STUDENT.session, "bob")
    register.claim("ada-laptop", "ada2")
    owned_models(store)
    db.add(BLANK, 1, "ada", browser=STUDENT.session)
    db.add(BLANK, 2, "ada2", browser="ada-laptop")
    recorded_run("20261124-090000-000000-abcd", {"name": "ada-net", "owner": "ada", "session": STUDENT.session}, "done")
    assert list_runs()[0].owner == "ada"  # read once: the rename must show through the cache

    with pytest.raises(NotAllowed, match="Only the teacher may rename or merge a person .bob."):
        rename_person("bob", "robert", STUDENT)
    assert rename_person("ada", "Ada L", STUDENT) == "Ada L"  # herself
    assert db.writers() == ["Ada L", "ada2"] and list_runs()[0].owner == "Ada L"
    assert ModelStore().get("ada-net").record["owner"]["name"] == "Ada L"
    with pytest.raises(NameRefused, match="already someone else's name"):
        rename_person("ada2", "ada l", TEACHER)  # taken: only an explicit merge
    assert rename_person("ada2", "ada l", TEACHER, merge=True) == "Ada L"  # one person at two browsers
    assert db.writers() == ["Ada L"] and register.person(STUDENT.session) == ("Ada L", frozenset({"ada-laptop"}))
    # The old name is free again, and taking it brings nothing of hers with it.
    register.claim("newcomer", "ada")
    newcomer = Person("ada", "newcomer")
    with pytest.raises(NotAllowed):
        store.delete("ada-net", newcomer)
    assert Drawings().npz(newcomer) and np.load(io.BytesIO(Drawings().npz(newcomer)))["y"].size == 0


def test_a_shared_link_carries_no_identity_and_a_markdown_name_is_shown_as_text(tiny_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    Register().claim("projector", "[sign in again](http://x.example/)")
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["who"] = "[sign in again](http://x.example/)"  # the teacher's projected link, as before
    run_clean(at)
    name = at.sidebar.text_input(key="who_field").value
    assert name.startswith("guest-") and "who" not in at.query_params  # a name of its own, none in the link
    at.sidebar.text_input(key="who_field").set_value("[sign in again](http://x.example/)")
    run_clean(at)
    assert at.sidebar.text_input(key="who_field").value == name  # refused: that name is the projector's
    note = as_read(at.sidebar.caption[0].value)
    assert "is already someone else's name in this class: try '[sign in again](http://x.example/)-2'" in note
    assert "\\[sign in again\\]\\(http\\:\u2060//x\\.example/\\)" in at.sidebar.caption[0].value  # escaped, no link


def test_a_formula_name_is_written_as_text_into_the_csv():
    from training.experiments import csv_of

    table = pd.DataFrame({"who": ["=cmd|' /C calc'!A0", "+1", "ada"], "test accuracy": [0.98, -0.5, 0.97]})
    rows = csv_of(table).splitlines()
    assert rows[1].startswith("'=cmd") and rows[2] == "'+1,-0.5" and rows[3] == "ada,0.97"  # numbers stay numbers


def test_forged_fresh_cookies_do_not_reset_the_budget_and_two_app_processes_share_it():
    # Each guess from a "new browser" (a fresh XSRF cookie), spread over two app processes.
    guess = (
        "import sys\nfrom model_store.people import Register, TooManyTries\n"
        "r = Register()\nfor i in range(int(sys.argv[1]), int(sys.argv[2])):\n"
        "    try:\n        r.attempt(f'forged-{i}', f'guess-{i}', 'Zebra-42')\n"
        "    except TooManyTries as err:\n        print('refused', i, err)\n        break\n"
    )
    half = APP_TRIES // 2
    first = subprocess.run([sys.executable, "-c", guess, "0", str(half)], capture_output=True, text=True, cwd=ROOT, check=True)
    second = subprocess.run(
        [sys.executable, "-c", guess, str(half), str(APP_TRIES + 5)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert first.stdout == ""  # half the allowance used in one process...
    assert second.stdout.startswith(f"refused {APP_TRIES} Too many wrong passwords in this class, from any browser: wait 60 s")
    with pytest.raises(TooManyTries, match="in this class"):  # ...and this process sees the wait too
        Register().attempt("yet-another-browser", PASSWORD, PASSWORD)
    # A person who signed in as teacher before, from a session since renewed, is held only to their own count.
    with Register().db.read() as db:
        db.execute(text("INSERT INTO teachers (browser, until, seen, person) VALUES ('an-ended-session', 0, 0, 'ms-ada')"))
    assert Register().attempt("teachers-laptop", PASSWORD, PASSWORD, person="ms-ada")
    assert Register().wait_left("someone")[0] == 0  # a right password ends the class-wide wait


def test_a_browser_that_keeps_its_cookie_waits_longer_after_each_wrong_password():
    register, last = Register(), 5000.0
    for _ in range(BROWSER_TRIES):
        assert not register.attempt("browser", "no", PASSWORD, last)
    waits = []
    for _ in range(4):
        wait, scope = register.wait_left("browser", last)
        waits.append((round(wait), scope))
        last += wait
        assert not register.attempt("browser", "no", PASSWORD, last)  # the wait is over: one more wrong one
    assert waits == [(60, "browser"), (120, "browser"), (240, "browser"), (480, "browser")]


def test_saves_from_one_browser_are_rate_limited_with_a_clear_message(monkeypatch):
    import model_store.drawings as drawings

    monkeypatch.setattr(drawings, "SAVES_PER_MINUTE", 5)
    db = Drawings()
    for _ in range(5):
        db.add(BLANK, 1, "ada", browser=STUDENT.session)
    with pytest.raises(TooManySaves, match="you saved 5 drawings in the last minute, the class's limit is 5: wait \\d+ s"):
        db.add(BLANK, 1, "ada", browser=STUDENT.session)
    db.add(BLANK, 1, "bob", browser=OTHER_STUDENT.session)  # another browser is not held up
    assert db.count() == 6


def test_a_backup_taken_while_twenty_threads_save_restores_every_committed_row(engine, store, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    db = Drawings()
    owned_models(store)
    committed: list[int] = []
    started, stop = threading.Barrier(21), threading.Event()

    def student(s: int) -> None:
        started.wait()
        while not stop.is_set():  # each id returned is a committed row
            committed.append(db.add(np.full((28, 28), s, np.uint8), s % 10, f"s{s}", original=b"x" * 2000))
            if len(committed) > 2000:
                break

    threads = [threading.Thread(target=student, args=(s,)) for s in range(20)]
    [t.start() for t in threads]
    started.wait()
    while len(committed) < 100:  # the class is drawing
        threading.Event().wait(0.01)
    before = set(committed)
    held = backup(tmp_path / "backup", TEACHER, db.db)
    stop.set()
    [t.join() for t in threads]
    kept = set(Drawings(tmp_path / "backup" / "class.sqlite3").arrays()[0].tolist())
    assert before <= kept and held["drawings"] == len(kept) and held["models"] == 3
    assert kept <= set(committed)  # a snapshot of committed rows: nothing else
    # The lesson goes on, goes wrong, and the backup is put back.
    Drawings().delete_all(TEACHER)
    store.delete("ada-net", TEACHER)
    restore(tmp_path / "backup", TEACHER, db.db, store)
    assert set(db.arrays()[0].tolist()) == kept and store.get("ada-net").record["owner"]["name"] == "ada"
    ids, images, labels, writers = db.rows()
    assert all(images[i].max() == int(writers[i][1:]) for i in range(len(ids)))  # each row whole, unmixed
    with pytest.raises(NotAllowed, match="Only the teacher may back up, restore or start a lesson"):
        backup(tmp_path / "b2", STUDENT, db.db)


def test_in_the_gallery_a_writer_deletes_their_drawing_and_the_teacher_all_of_one_persons(monkeypatch, mnist_test):
    x, y = mnist_test
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", PASSWORD)
    db = Drawings()
    for i in range(3):
        db.add(x[i], int(y[i]), "ada", browser=STUDENT.session)
    for i in range(3, 6):
        db.add(x[i], int(y[i]), "mischief", browser="mischief-browser")

    def gallery(browser: str, teacher: bool = False) -> AppTest:
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "pages" / "gallery.py"), default_timeout=120)
        key = at_browser(at, browser)
        if teacher:
            assert Register().attempt(key, PASSWORD, PASSWORD, person=browser)
        run_clean(at).segmented_control(key="gallery_set").set_value("Class drawings")
        run_clean(at).segmented_control(key="gallery_kind").set_value("Right")
        return run_clean(at)

    def inspect(at: AppTest, writer: str) -> AppTest:
        at.selectbox(key="gallery_writer").set_value(writer)
        run_clean(at)
        next(b for b in at.button if b.key and b.key.startswith("gallery_inspect_")).click()
        return run_clean(at)

    Register().claim(STUDENT.session, "ada")
    ada = gallery(STUDENT.session)
    assert all(b.key != "gallery_delete" for b in inspect(ada, "mischief").button)  # another's: no delete button
    inspect(ada, "ada").button(key="gallery_delete").click()
    run_clean(ada)
    assert db.count("ada") == 2 and all(b.key != "gallery_delete_all" for b in ada.button)  # all of one's: the teacher's
    teacher = inspect(gallery("teachers-browser", teacher=True), "mischief")
    assert as_read(teacher.button(key="gallery_delete_all").label) == "Delete all by mischief"
    teacher.button(key="gallery_delete_all").click()
    run_clean(teacher)
    assert db.writers() == ["ada"] and db.count() == 2


def test_a_new_lesson_is_backed_up_then_starts_without_drawings_or_finished_runs_and_keeps_the_models(
    store, tmp_path, monkeypatch
):
    from model_store.lesson import lessons_root, new_lesson
    from training.runs import archive_runs, list_runs

    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    owned_models(store)
    Drawings().add(BLANK, 1, "ada", browser=STUDENT.session)
    for run_id, status in (("20261124-090000-000000-aaaa", "done"), ("20261124-090001-000000-bbbb", "waiting")):
        recorded_run(run_id, {"name": run_id[-4:], "owner": "ada"}, status)
    with pytest.raises(NotAllowed):
        new_lesson(STUDENT, archive_runs)
    folder, drawings, runs = new_lesson(TEACHER, archive_runs)
    assert folder.parent == lessons_root() and (drawings, runs) == (1, 1)
    assert Drawings().count() == 0 and [r.status for r in list_runs()] == ["waiting"] and len(store.list()) == 3
    held = json.loads((folder / "lesson.json").read_text())
    assert (held["drawings"], held["runs"]) == (1, 2)  # the runs' records are rows of the backup


def test_a_class_database_from_the_last_release_is_upgraded_in_place_and_keeps_its_drawings(tmp_path):
    import sqlite3

    old = sqlite3.connect(tmp_path / "old.sqlite3")  # schema 1, as the last release wrote it
    old.executescript(
        "CREATE TABLE drawings (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, writer TEXT NOT NULL,"
        " label INTEGER NOT NULL, image BLOB NOT NULL, original BLOB, source TEXT NOT NULL, model TEXT, probabilities TEXT);"
        "CREATE INDEX drawings_writer ON drawings (writer); PRAGMA user_version = 1;"
    )
    old.execute(
        "INSERT INTO drawings VALUES (1, '2026-11-01T09:00:00+00:00', 'ada', 3, ?, NULL, 'canvas', NULL, NULL)", (bytes(784),)
    )
    old.commit()
    old.close()
    db = Drawings(tmp_path / "old.sqlite3")
    assert db.get(1).writer == "ada" and db.get(1).browser is None  # an older row: the teacher's to change
    with pytest.raises(NotAllowed):
        db.delete(1, STUDENT)
    assert Register(db.db).claim(STUDENT.session, "ada") == "ada"  # the new tables are there
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD


def test_on_the_class_page_the_teacher_renames_a_student_and_starts_a_new_lesson(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    Register().claim(STUDENT.session, "ada")
    Drawings().add(BLANK, 4, "ada", browser=STUDENT.session)
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "classroom.py"), default_timeout=60)
    run_clean(signed_in_as_teacher(at, PASSWORD))
    at.selectbox(key="class_rename_old").set_value("ada")
    at.text_input(key="class_rename_new").set_value("Ada L")
    at.button[[b.label for b in at.button].index("Rename")].click()
    run_clean(at)
    assert as_read(at.success[-1].value) == "ada is now Ada L: their models, runs and drawings too."
    assert Drawings().writers() == ["Ada L"] and Register().name_of(STUDENT.session) == "Ada L"
    at.checkbox(key="class_new_sure").check()
    run_clean(at).button(key="class_new_lesson").click()
    run_clean(at)
    assert "Cleared 1 drawings and archived 0 finished runs" in as_read(at.success[-1].value)
    assert Drawings().count() == 0 and Register().name_of(STUDENT.session) == "Ada L"  # names stay
