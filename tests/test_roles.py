"""Teacher and students: who may change what, checked where each change happens, the sign-in,
its wait after wrong passwords, the idle sign-out, and the class limits."""  # owners and names: test_people.py

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import time

import numpy as np
import pytest
import streamlit as st
from sqlalchemy import text as sql
from streamlit.testing.v1 import AppTest

from model_store import ModelStore
from model_store.database import Database
from model_store.networks import dense_128
from model_store.people import BROWSER_TRIES, FIRST_WAIT, Register, TooManyTries
from model_store.roles import NotAllowed, Person, password_matches
from model_store.sessions import Sessions
from tests.browser import running_app, settle
from tests.conftest import ROOT, as_read, recorded_run, run_clean
from tests.people import OTHER_STUDENT, STUDENT, TEACHER, signed_in_as_teacher
from tests.test_sessions import sign_in as sign_in_in_chromium
from tests.waiting import wait_for
from training.config import PRESETS, TrainConfig
from training.limits import SETTING, Limits, OverLimit, check_run, limits_problem, read_limits, save_limits

PASSWORD = "Zebra-42-ünïcode"


# ---------------------------------------------------------------- the rules, where the changes happen


def snapshot(store) -> dict[str, str]:
    """Every row of the store's tables and a hash of it: unchanged means nothing was touched."""
    from model_store.database import model_files, models, settings

    with store.db.read() as c:
        rows = [(t.name, *r) for t in (models, model_files, settings) for r in c.execute(t.select())]
    return {repr(r[:3]): hashlib.sha256(repr(r).encode()).hexdigest() for r in rows}


def keras_file(tmp_path) -> bytes:
    path = tmp_path / "upload.keras"
    dense_128().save(path)
    return path.read_bytes()


@pytest.fixture
def two_models(store) -> ModelStore:
    for name in ("first", "second"):
        store.save(dense_128(), {"name": name, "architecture": "dense-128", "normalization": "scale"})
    store.set_default("first", TEACHER)
    return store


def test_a_student_can_change_nothing_the_class_shares_in_the_store(two_models, tmp_path):
    from training.engine import import_model

    store, before = two_models, snapshot(two_models)
    attempts = {
        "choose the class's default model": lambda: store.set_default("second", STUDENT),
        "rename another person's model": lambda: store.rename("second", "mine", STUDENT),
        "delete another person's model": lambda: store.delete("second", STUDENT),
        "add models from a file": lambda: store.read_upload(keras_file(tmp_path), STUDENT),
    }
    attempts["add models from a file, past the check"] = lambda: import_model(dense_128(), "sneaky", "scale", store, STUDENT)
    for what, attempt in attempts.items():
        with pytest.raises(NotAllowed) as refused:
            attempt()
        message = str(refused.value)
        assert f"Only the teacher may {what.split(',')[0]}" in message, message
        assert "signs in from the sidebar with the teacher password" in message  # what it needs, how to get it
        assert snapshot(store) == before, what
    assert store.default().name == "first"


def test_the_teacher_can_do_each_of_them(two_models, tmp_path):
    from training.engine import import_model

    store = two_models
    store.set_default("second", TEACHER)
    assert store.default().name == "second"
    store.rename("second", "renamed", TEACHER)
    store.delete("first", TEACHER)
    model = store.read_upload(keras_file(tmp_path), TEACHER)
    import_model(model, "uploaded", "scale", store, TEACHER)
    assert [m.name for m in store.list()] == ["renamed", "uploaded"] and store.default().name == "renamed"


def hand_made_run(tmp_path, monkeypatch, owner: Person, status="waiting") -> str:
    """A run as the queue records it, without Ray: the refusals come before Ray is asked."""
    config = {"name": "ada-net", "owner": owner.name, "session": owner.session}
    return recorded_run("20261122-090000-000000-abcd", config, status)


def test_a_student_cannot_stop_another_persons_run_nor_clear_the_queue(tmp_path, monkeypatch):
    from training.runs import clear_queue, read_run, request_stop

    run_id = hand_made_run(tmp_path, monkeypatch, STUDENT)
    with pytest.raises(NotAllowed, match="Only the teacher may stop or cancel another person's run .ada's ada-net."):
        request_stop(run_id, OTHER_STUDENT)
    with pytest.raises(NotAllowed, match="Only the teacher may clear the training queue"):
        clear_queue(STUDENT)
    # Same name, another browser: a name can be typed by anyone, the browser's id cannot.
    with pytest.raises(NotAllowed):
        request_stop(run_id, Person("ada", "someone-elses-browser"))
    assert read_run(run_id).status == "waiting"


def signed_in_person(browser: str, password: str = PASSWORD, **sign_in) -> Person:
    """The Person a page makes for a browser just signed in as teacher (`pages.common.people.me`)."""
    assert Register().attempt(browser, password, password, **sign_in)
    signed_in, _ = Register().teacher(browser)
    return Person("teacher", browser, teacher=True, sign_in=signed_in.id)


def test_a_teachers_rights_end_with_the_sign_in_even_in_a_tab_left_open(engine, store, tmp_path, monkeypatch):
    from model_store.drawings import Drawings
    from training.runs import clear_queue

    hand_made_run(tmp_path, monkeypatch, STUDENT)
    drawings = Drawings()
    for _ in range(3):
        drawings.add(np.zeros((28, 28), np.uint8), 1, "mischief", browser="mischief-browser")
    open_tab = signed_in_person("teachers-browser")
    save_limits(Limits(epochs=7), open_tab)  # while signed in: the teacher's
    assert read_limits().epochs == 7
    Register().sign_out("teachers-browser")  # "Sign out", in another tab of the same browser
    refusals = {
        "change the class limits": lambda: save_limits(Limits(epochs=50), open_tab),
        "delete another person's drawings": lambda: drawings.delete_all(open_tab, "mischief"),
        "clear the training queue": lambda: clear_queue(open_tab),
    }
    for what, attempt in refusals.items():
        with pytest.raises(NotAllowed, match=f"Only the teacher may {what}.*your sign-in as teacher has ended"):
            attempt()
    assert read_limits().epochs == 7 and drawings.count("mischief") == 3
    assert "writer" not in np.load(io.BytesIO(drawings.npz(open_tab))).files  # no whole-class export either
    # Signed in again (a new sign-in), the old tab's Person is still refused; the new one is not.
    again = signed_in_person("teachers-browser")
    with pytest.raises(NotAllowed):
        save_limits(Limits(epochs=50), open_tab)
    assert drawings.delete_all(again, "mischief") == 3
    # Four hours on, the sign-in has expired: refused though nobody signed out.
    with Register().db.read() as db:
        db.execute(sql("UPDATE teachers SET until = :past"), {"past": time.time() - 1})
    with pytest.raises(NotAllowed, match="has ended"):
        save_limits(Limits(epochs=50), again)
    assert read_limits().epochs == 7


def test_delete_all_by_in_a_gallery_tab_left_open_after_sign_out_is_refused(monkeypatch, mnist_test):
    from model_store.drawings import Drawings

    x, y = mnist_test
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", PASSWORD)
    for i in range(3):
        Drawings().add(x[i], int(y[i]), "mischief", browser="mischief-browser")
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "gallery.py"), default_timeout=120)
    at.session_state["who_runs"] = 1  # one page run of app.py's: its callbacks come before the next
    signed_in_as_teacher(at, PASSWORD)
    run_clean(at).segmented_control(key="gallery_set").set_value("Class drawings")
    run_clean(at).segmented_control(key="gallery_kind").set_value("Right")
    run_clean(at).selectbox(key="gallery_writer").set_value("mischief")
    run_clean(at)
    next(b for b in at.button if b.key and b.key.startswith("gallery_inspect_")).click()
    run_clean(at)
    Sessions().renew(at.session_state["who_visit"])  # "Sign out" in another tab: this tab's token ends
    at.button(key="gallery_delete_all").click()  # the open tab still shows it
    run_clean(at)
    assert Drawings().count("mischief") == 3
    assert "your sign-in as teacher has ended" in as_read(at.error[0].value)


# ---------------------------------------------------------------- the class limits


def test_an_experiment_queued_again_under_the_same_name_counts_against_the_waiting_limit(engine, store):
    """Each waiting run counts, an experiment's too: queuing one again under its name is no way round."""
    from training.experiments import submit_experiment

    save_limits(Limits(waiting=3), TEACHER)
    for value in ("16", "32"):  # an experiment "batch" of two values, still waiting
        config = {"name": f"batch-{value}", "session": STUDENT.session, "experiment": {"name": "batch", "value": value}}
        recorded_run(f"20261203-09000{value[0]}-000000-abcd", config)
    with pytest.raises(
        OverLimit, match="you already have 2 runs waiting and this experiment queues 2 more .the class limit is 3."
    ):
        submit_experiment("batch", "quick", "batch size", ["64", "128"], store, STUDENT)
    with pytest.raises(OverLimit, match="you already have 3 runs waiting .the class limit is 3."):
        check_run(TrainConfig(), STUDENT, 3, Limits(waiting=3))  # a single run, over it


def test_only_the_teacher_sets_the_limits_and_they_are_kept_in_the_class_database(engine):
    assert read_limits() == Limits(epochs=20, train_images=150_000, waiting=8)  # the defaults, out of the box
    with pytest.raises(NotAllowed, match="Only the teacher may change the class limits"):
        save_limits(Limits(epochs=50), STUDENT)
    assert Database().setting(SETTING) is None
    save_limits(Limits(epochs=5, train_images=10_000, waiting=2), TEACHER)
    assert json.loads(Database(engine).setting(SETTING)) == {"epochs": 5, "train_images": 10_000, "waiting": 2} | {
        "running": 1,
        "smallest_batch": 8,
        "layers": 6,
        "units": 2048,
        "filters": 256,
        "parameters": 3_000_000,
        "largest_batch": 10_000,
    }
    assert read_limits() == Limits(5, 10_000, 2)
    for bad in (Limits(epochs=-1), Limits(waiting=0), Limits(train_images=10**6), Limits(parameters=-1), Limits(largest_batch=0)):
        with pytest.raises(OverLimit, match="must be a whole number"):
            save_limits(bad, TEACHER)
    assert read_limits() == Limits(5, 10_000, 2)


def test_a_student_run_over_a_limit_is_refused_naming_the_limit():
    limits = Limits(epochs=5, train_images=10_000, waiting=2)
    small = TrainConfig(epochs=5, train_limit=10_000)
    check_run(small, STUDENT, 1, limits)  # at the limits: allowed
    with pytest.raises(OverLimit, match="the class limit is 5 epochs for a student run .this one asks for 6."):
        check_run(TrainConfig(epochs=6, train_limit=10_000), STUDENT, 0, limits)
    with pytest.raises(OverLimit, match="the class limit is 10,000 training images .* asks for 60,000"):
        check_run(TrainConfig(epochs=1), STUDENT, 0, limits)  # 0: all 60,000
    with pytest.raises(OverLimit, match="asks for 12,000"):
        check_run(TrainConfig(epochs=1, train_limit=10_000, printed_digits=2_000), STUDENT, 0, limits)
    with pytest.raises(OverLimit, match="you already have 2 runs waiting .the class limit is 2."):
        check_run(small, STUDENT, 2, limits)
    check_run(TrainConfig(epochs=500), TEACHER, 1, limits)  # the teacher's own runs are not limited...
    with pytest.raises(OverLimit, match="the class limit is 2"):
        check_run(small, TEACHER, 2, limits)  # ...but nobody fills the queue


@pytest.mark.parametrize(
    "asked, said",
    [
        (dict(batch_size=1), "a batch of at least 8 .this one asks for 1."),
        (dict(arch="custom-dense", dense_units=(64,) * 7), "6 layers .this one asks for 7."),
        (dict(arch="custom-cnn", conv_filters=(32,) * 4, dense_units=(64,) * 3), "6 layers .this one asks for 7."),
        (dict(arch="custom-dense", dense_units=(4096,) * 12), "6 layers"),
        (dict(arch="custom-dense", dense_units=(4096,)), "2,048 units a layer .this one asks for 4,096."),
        (dict(arch="custom-cnn", conv_filters=(512,)), "256 filters a layer .this one asks for 512."),
        (dict(batch_size=60_000), "a batch of at most 10,000 .this one asks for 60,000."),
        (
            dict(arch="custom-cnn", conv_filters=(256,), dense_units=(2048,)),
            "3,000,000 parameters a network .this one asks for 102,785,546.",
        ),
        (dict(arch="custom-dense", dense_units=(2048,) * 3), "3,000,000 parameters a network .this one asks for 10,020,874."),
    ],
)
def test_out_of_the_box_a_students_run_keeps_to_a_size_the_class_can_afford(asked, said):
    limits = read_limits()  # none saved: the defaults
    with pytest.raises(OverLimit, match=f"the class limit is {said}"):
        check_run(TrainConfig(epochs=1, train_limit=1000, **asked), STUDENT, 0, limits)
    check_run(TrainConfig(epochs=1, train_limit=1000, **asked), TEACHER, 0, limits)  # the teacher's are not limited
    for preset in ("seed-a", "seed-b", "seed-c", "seed-d", "default", "quick"):  # every recipe fits
        check_run(PRESETS[preset].resolved(), STUDENT, 0, limits)


def test_an_experiment_over_a_limit_queues_none_of_its_runs(store):
    from training.experiments import submit_experiment

    save_limits(Limits(epochs=3), TEACHER)
    with pytest.raises(OverLimit, match="3 epochs for a student run .this one asks for 4."):
        submit_experiment("epochs-test", "seed-b", "epochs", ["2", "3", "4"], store, STUDENT)
    # Nothing was queued: the refusal came before Ray or the runs folder was touched.
    from training.runs import list_runs

    assert list_runs() == []


def test_broken_saved_limits_mean_the_defaults_and_the_teacher_is_told():
    Database().set_setting(SETTING, '{"epochs": "lots"')
    assert read_limits() == Limits()
    assert "cannot be read" in limits_problem() and "the default limits apply" in limits_problem()


# ---------------------------------------------------------------- the sign-in


def test_five_wrong_passwords_mean_a_wait_and_the_right_one_clears_the_count():
    sign_ins, now = Register(), 1000.0
    for i in range(BROWSER_TRIES):
        assert sign_ins.tries_left("browser", now + i) == BROWSER_TRIES - i
        assert not sign_ins.attempt("browser", f"guess-{i}", PASSWORD, now + i)
    last = now + BROWSER_TRIES - 1
    with pytest.raises(TooManyTries, match="from this browser: wait 59 s"):
        sign_ins.attempt("browser", PASSWORD, PASSWORD, last + 1)  # even the right one waits
    assert sign_ins.wait_left("other-browser", last + 1)[0] == 0  # another browser is not held up
    assert sign_ins.wait_left("browser", last + 30) == (FIRST_WAIT - 30, "browser")
    assert not sign_ins.attempt("browser", "guess-again", PASSWORD, last + FIRST_WAIT)  # the wait is over...
    with pytest.raises(TooManyTries, match="wait 120 s"):  # ...and one more wrong one waits twice as long
        sign_ins.attempt("browser", PASSWORD, PASSWORD, last + FIRST_WAIT)
    assert sign_ins.attempt("browser", PASSWORD, PASSWORD, last + 3 * FIRST_WAIT + 1)
    assert sign_ins.tries_left("browser", last + 3 * FIRST_WAIT + 1) == BROWSER_TRIES


def test_passwords_are_compared_whole():
    assert password_matches(PASSWORD, PASSWORD)
    assert not password_matches(PASSWORD[:-1], PASSWORD) and not password_matches(PASSWORD + " ", PASSWORD)
    assert not password_matches("", PASSWORD)


@pytest.fixture
def app(tiny_store, tmp_path, monkeypatch):
    """The whole app headless, with a teacher password, on a copy of a store holding 'tiny'."""
    root = tmp_path / "models"
    shutil.copytree(tiny_store.root, root)
    monkeypatch.setenv("MNIST_LAB_MODELS", str(root))
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", PASSWORD)
    st.cache_resource.clear()
    st.cache_data.clear()
    return run_clean(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60))


def models_page(at: AppTest, pick: str = "tiny") -> AppTest:
    run_clean(at.switch_page("pages/models.py"))
    at.selectbox(key="models_pick").set_value(pick)
    return run_clean(at)


def sign_in(at: AppTest, password: str) -> AppTest:
    at.sidebar.text_input(key="who_password").set_value(password)
    return run_clean(at)


def test_with_a_password_everyone_starts_as_a_student_and_sees_the_teachers_buttons_disabled(app):
    assert "Student. Teacher? Sign in" in [e.label for e in app.sidebar.expander]
    at = models_page(app)
    for key in ("models_make_default", "models_delete"):
        assert at.button(key=key).disabled, key
    assert at.checkbox(key="models_sure").disabled and at.text_input(key="models_new_name").disabled
    assert any("the teacher's: sign in as teacher" in c.value for c in at.caption)
    assert not at.get("file_uploader")  # no upload form at all
    run_clean(at.switch_page("pages/classroom.py"))
    assert at.number_input(key="class_epochs").disabled and "a student" in at.info[0].value


def page_as_teacher(name: str) -> AppTest:
    """One page on its own, in a session signed in as teacher a moment ago. (AppTest loses a
    button press inside a page run through app.py's navigation; a page on its own keeps it.)"""
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    return run_clean(signed_in_as_teacher(at, PASSWORD))


def test_the_teacher_signs_in_and_out_and_the_password_is_not_kept(app):
    at = sign_in(app, PASSWORD)
    assert at.sidebar.success[0].value.startswith("Signed in as teacher (on this browser until ")
    assert at.session_state["who_sign_in"] and PASSWORD not in repr(at.session_state)  # never kept
    at = models_page(at)
    assert not at.button(key="models_make_default").disabled and not at.checkbox(key="models_sure").disabled
    assert at.get("file_uploader")
    at.sidebar.button(key="who_sign_out").click()
    run_clean(at)
    assert "Student. Teacher? Sign in" in [e.label for e in at.sidebar.expander]
    assert at.button(key="models_make_default").disabled


def test_the_teachers_buttons_work_for_the_teacher(app):
    at = page_as_teacher("models")
    at.selectbox(key="models_pick").set_value("tiny")
    run_clean(at).button(key="models_make_default").click()
    run_clean(at)
    assert ModelStore().default().name == "tiny"
    at.checkbox(key="models_sure").check()
    run_clean(at).button(key="models_delete").click()
    run_clean(at)
    assert [m.name for m in ModelStore().list()] == ["lab-default"]


def test_the_teacher_sets_the_limits_on_the_class_page_and_a_student_run_over_them_is_refused(app):
    at = page_as_teacher("classroom")
    at.number_input(key="class_epochs").set_value(2)
    at.number_input(key="class_train_images").set_value(5000)
    at.button[[b.label for b in at.button].index("Save the limits")].click()
    run_clean(at)
    assert read_limits() == Limits(2, 5000, 8)
    student = run_clean(AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60))
    assert any("at most 2 epochs and 5,000 training images a run, 8 runs waiting" in c.value for c in student.caption)
    student.number_input(key="train_epochs").set_value(3)
    student.number_input(key="train_train_limit").set_value(5000)
    student.button[[b.label for b in student.button].index("Train")].click()
    run_clean(student)
    assert "Not started: the class limit is 2 epochs for a student run (this one asks for 3)" in student.error[0].value


def test_with_teacher_accounts_the_sidebar_signs_in_by_name_and_password_or_the_install_password_alone(app):
    from model_store.accounts import Accounts

    Accounts().add("Ms Ada", "correct horse ada")
    at = run_clean(app)
    at.sidebar.text_input(key="who_account").set_value("Ms Ada")
    at = sign_in(at, "not hers")
    assert as_read(at.sidebar.caption[0].value) == "Wrong name or password: 4 more tries before a wait."
    at.sidebar.text_input(key="who_account").set_value("Ms Ada")
    at = sign_in(at, "correct horse ada")
    assert at.sidebar.success[0].value.startswith("Signed in as teacher Ms Ada (on this browser until ")
    at.sidebar.button(key="who_sign_out").click()
    at = sign_in(run_clean(at), PASSWORD)  # the name left blank: the install's password, its first teacher
    assert at.sidebar.success[0].value.startswith("Signed in as teacher Ms Ada")


def test_five_wrong_passwords_disable_the_field_and_say_how_long_to_wait(app):
    at = app
    for i in range(BROWSER_TRIES):
        assert not at.sidebar.text_input(key="who_password").disabled
        sign_in(at, f"guess-{i}")
    assert at.sidebar.text_input(key="who_password").disabled
    error = at.sidebar.error[0].value
    assert "Too many wrong passwords from this browser: the next try at" in error and "(in 60 s)" in error
    assert not at.sidebar.success  # still a student


def test_a_teacher_idle_for_an_hour_is_a_student_again(app):
    at = sign_in(app, PASSWORD)
    with Register().db.read() as db:  # the browser's last page run, an hour ago
        db.execute(sql("UPDATE teachers SET seen = :seen"), {"seen": time.time() - 3601})
    run_clean(at)
    assert not at.sidebar.success
    assert r"Signed out as teacher after 60 minutes without activity\." in [c.value for c in at.sidebar.caption]  # as plain text


def test_without_a_password_everyone_may_change_everything_and_the_sidebar_says_how_to_set_one(app, monkeypatch):
    monkeypatch.delenv("MNIST_LAB_TEACHER_PASSWORD")
    at = run_clean(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60))
    assert "No teacher password is set, so everyone may change everything" in at.sidebar.caption[0].value
    at = models_page(at)
    assert not at.button(key="models_make_default").disabled and at.get("file_uploader")


def test_the_password_can_come_from_streamlits_secrets(app, monkeypatch):
    monkeypatch.delenv("MNIST_LAB_TEACHER_PASSWORD")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["teacher_password"] = "from-secrets"
    run_clean(at)
    assert "Student. Teacher? Sign in" in [e.label for e in at.sidebar.expander]
    assert sign_in(at, "from-secrets").sidebar.success[0].value.startswith("Signed in as teacher")


def test_a_secrets_file_that_is_broken_or_misspelt_or_an_empty_password_stops_the_app_saying_what_to_fix(tmp_path, monkeypatch):
    from streamlit import config
    from streamlit.runtime.secrets import Secrets

    from model_store.people import SetupProblem
    from pages.common.people import teacher_password

    def secrets_from(path) -> Secrets:
        config.set_option("secrets.files", [str(path)])
        return Secrets()

    # A copy of the option is changed; the test's end puts the original back.
    monkeypatch.setitem(config._config_options, "secrets.files", copy.deepcopy(config._config_options["secrets.files"]))

    monkeypatch.setattr(st, "secrets", secrets_from(tmp_path / "missing.toml"))
    assert teacher_password() == ""  # no file: one person on their own computer
    secrets = tmp_path / "secrets.toml"
    for text, said in [
        ('teacher_password = "a typo\n', "The secrets file cannot be read: .*Error parsing secrets file"),
        ('teacher_pasword = "misspelt"\n', "has no `teacher_password` .its keys: teacher_pasword."),
        ('teacher_password = ""\n', "`teacher_password` in the secrets file .* is empty"),
    ]:
        secrets.write_text(text)
        monkeypatch.setattr(st, "secrets", secrets_from(secrets))
        with pytest.raises(SetupProblem, match=said):
            teacher_password()
    secrets.write_text('teacher_password = "right"\n')
    monkeypatch.setattr(st, "secrets", secrets_from(secrets))
    assert teacher_password() == "right"


def test_an_empty_password_stops_the_app_at_start_with_the_message(app, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "  ")
    at = run_clean(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60))
    assert at.error[0].value.startswith("**The app cannot start:** MNIST_LAB_TEACHER_PASSWORD is set but empty.")
    assert not at.title and not at.sidebar.text_input  # no page, no sidebar: nothing runs with every right


# ---------------------------------------------------------------- in a real browser


def held(models, name: str) -> bool:
    """`name` is in the app's store (its class database is this test's)."""
    return name in {m.name for m in ModelStore(models, bundled_dir=None).list()}


@pytest.mark.browser
def test_in_chromium_a_student_cannot_delete_and_the_teacher_signed_in_can(browser, tiny_store, tmp_path):
    shutil.copytree(tiny_store.root, tmp_path / "models")
    with running_app(tmp_path, MNIST_LAB_TEACHER_PASSWORD=PASSWORD) as app:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{app.url}/models")
        page.get_by_text("Student. Teacher? Sign in").wait_for(timeout=60_000)
        page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first.click()  # look at 'tiny'
        page.get_by_role("option", name="tiny").click()
        delete = page.get_by_role("button", name="Delete")
        delete.wait_for()
        assert delete.is_disabled() and page.get_by_role("button", name="Make it the default").is_disabled()
        assert page.get_by_text("Add a model from a .keras file").is_visible()
        assert page.get_by_test_id("stFileUploader").count() == 0
        assert held(app.models, "tiny")
        page.get_by_text("Student. Teacher? Sign in").click()
        field = page.get_by_label("Teacher password")
        field.fill("wrong")
        field.press("Enter")
        page.get_by_text("Wrong password: 4 more tries before a wait.").wait_for()
        settle(page)
        sign_in_in_chromium(page)  # the expander opened again if its page run closed it
        page.reload()  # the sign-in is the browser's, not the tab's session
        page.get_by_text("Signed in as teacher").wait_for(timeout=60_000)
        page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="tiny").click()
        page.get_by_text("Yes, delete tiny for good").click()
        page.get_by_role("button", name="Delete").click()
        wait_for(lambda: not held(app.models, "tiny"), 30)
        name = page.get_by_role("textbox", name="Your name")  # a name written as a link is shown as text, on every page
        name.fill("[sign in again](http://x.example/)")
        name.press("Enter")
        # To the Class page in the same session: a fresh page load (goto) could close the session
        # before the rename it had just sent was made (a loaded CI machine lost it once).
        page.get_by_test_id("stSidebarNav").get_by_text("Class", exact=True).click()
        shown = "You are [sign in again](http://x.example/), signed in as teacher"  # read as typed (its word joiner unseen)
        page.wait_for_function("s => document.body.innerText.replaceAll('\u2060', '').includes(s)", arg=shown, timeout=60_000)
        links = page.locator('a[href^="http://x.example"]')
        assert links.count() == 0, [links.nth(i).evaluate("a => a.parentElement.outerHTML") for i in range(links.count())]
        page.close()
    assert PASSWORD not in (tmp_path / "streamlit.log").read_text()


@pytest.mark.browser
def test_in_chromium_a_tab_left_open_after_sign_out_in_another_tab_cannot_delete_all_by(browser, mnist_test, tmp_path):
    from model_store.drawings import Drawings

    x, y = mnist_test
    for i in range(3):
        Drawings().add(x[i], int(y[i]), "mischief", browser="mischief-browser")  # the app's class database
    with running_app(tmp_path, MNIST_LAB_TEACHER_PASSWORD=PASSWORD) as app:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})  # one browser, two tabs
        context.set_default_timeout(60_000)  # a loaded CI machine: each step waits on its condition, up to a minute
        open_tab = context.new_page()
        open_tab.goto(f"{app.url}/gallery")
        open_tab.get_by_text("Student. Teacher? Sign in").click(timeout=60_000)
        field = open_tab.get_by_label("Teacher password")
        field.fill(PASSWORD)
        field.press("Enter")
        open_tab.get_by_text("Signed in as teacher").wait_for()
        open_tab.get_by_text("Class drawings", exact=True).click()
        settle(open_tab)  # else "Right" or "Inspect" may be the MNIST view's, gone from the new run
        open_tab.get_by_text("Right", exact=True).click()
        open_tab.get_by_text("3 images", exact=True).wait_for()
        settle(open_tab)
        open_tab.get_by_role("button", name="Inspect").first.click()
        delete_all = open_tab.get_by_role("button", name="Delete all by mischief")
        delete_all.wait_for()
        other_tab = context.new_page()
        other_tab.goto(app.url)
        other_tab.get_by_role("button", name="Sign out").click(timeout=60_000)
        other_tab.get_by_text("Signed out: you are a student now.").wait_for()
        delete_all.click()  # the open tab has not run since: its button is still there
        open_tab.get_by_text("your sign-in as teacher has ended").wait_for()
        assert Drawings().count("mischief") == 3
        context.close()
