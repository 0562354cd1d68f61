"""The class database on a school's server: a real PostgreSQL beside SQLite. Moving a class in,
backups across engines, untrusted backups refused, two app machines sharing one database, and a
server that is wrong or goes away named in words."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from model_store import ModelStore
from model_store.database import Database, DatabaseError
from model_store.drawings import Drawings
from model_store.lesson import BadBackup, backup, restore
from model_store.migrate import migrate
from model_store.people import Register
from tests.browser import FIRST_UPLOAD
from tests.conftest import ROOT, as_read, digit_on_canvas, image_file, open_page, run_clean
from tests.people import STUDENT, TEACHER

LEGACY_SCHEMA = (  # the class database as the release before this one wrote it (PRAGMA user_version 2)
    "CREATE TABLE drawings (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, writer TEXT NOT NULL,"
    " label INTEGER NOT NULL, image BLOB NOT NULL, original BLOB, source TEXT NOT NULL, model TEXT,"
    " probabilities TEXT, browser TEXT);"
    "CREATE TABLE people (browser TEXT PRIMARY KEY, name TEXT NOT NULL, since TEXT NOT NULL);"
    "CREATE TABLE wrong_passwords (scope TEXT PRIMARY KEY, wrong INTEGER NOT NULL, last REAL NOT NULL);"
    "CREATE TABLE teachers (browser TEXT PRIMARY KEY, until REAL NOT NULL, seen REAL NOT NULL);"
    "PRAGMA user_version = 2;"
)


def legacy_folder(folder, drawings: int = 20) -> None:
    """A data folder as today's release leaves it: its SQLite class database and its limits."""
    folder.mkdir(parents=True)
    old = sqlite3.connect(folder / "drawings.sqlite3")
    old.executescript(LEGACY_SCHEMA)
    for i in range(drawings):
        image = np.full(784, i, np.uint8).tobytes()
        old.execute(
            "INSERT INTO drawings (created, writer, label, image, source, browser) VALUES (?, ?, ?, ?, 'canvas', ?)",
            (f"2026-11-01T09:00:{i:02d}.000+00:00", f"s{i % 3}", i % 10, image, f"b{i % 3}"),
        )
    old.executemany("INSERT INTO people VALUES (?, ?, '2026-11-01')", [(f"b{i}", f"s{i}") for i in range(3)])
    old.commit()
    old.close()
    (folder / "class-limits.json").write_text(json.dumps({"epochs": 5, "waiting": 2}))


def test_migrate_brings_a_class_folder_into_postgresql_keeping_every_row_and_adds_nothing_twice(postgres, tmp_path):
    legacy_folder(tmp_path / "old")
    target = Database(postgres.create())
    dry = migrate(tmp_path / "old", target, dry_run=True)
    assert dry.counts["drawings"] == (0, 20) and Drawings(target).count() == 0  # a dry run adds nothing
    done = migrate(tmp_path / "old", target)
    assert done.counts == {"drawings": (0, 20), "people": (0, 3), "teacher browsers": (0, 0), "settings": (0, 1)} | {
        kind: (0, 0)
        for kind in ("models", "runs", "run events")  # no folder of them given
    }
    x = Drawings(target).arrays()[1]
    assert sorted(int(image[0, 0]) for image in x) == list(range(20))  # each drawing's pixels, whole
    assert Register(target).people() == {"s0": ["b0"], "s1": ["b1"], "s2": ["b2"]}
    assert json.loads(target.setting("limits")) == {"epochs": 5, "waiting": 2}
    assert migrate(tmp_path / "old", target).counts["drawings"] == (20, 20)  # again: nothing twice
    with sqlite3.connect(tmp_path / "old" / "drawings.sqlite3") as raw:  # the folder stays as it was
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2


def test_the_command_line_migrates_and_two_machines_sharing_the_database_see_each_others_drawings(postgres, tmp_path):
    legacy_folder(tmp_path / "old")
    url = postgres.create()

    def machine(name: str, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "MNIST_LAB_DATABASE": url, "MNIST_LAB_DATA": str(tmp_path / name / "data")}
        env |= {"MNIST_LAB_MODELS": str(tmp_path / name / "models"), "MNIST_LAB_RUNS": str(tmp_path / name / "runs")}
        return subprocess.run([sys.executable, "-m", "model_store", *args], cwd=ROOT, env=env, capture_output=True, text=True)

    moved = machine("a", "migrate", "--data", str(tmp_path / "old"))
    assert moved.returncode == 0 and "drawings: 0 before, 20 after (+20)" in moved.stdout, moved.stderr
    listed = machine("b", "drawings", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[-1].split()[-1] == "20", listed.stderr


@pytest.mark.parametrize("source_engine", ["postgresql", "sqlite"])
def test_a_backup_made_on_one_engine_restores_into_the_other(postgres, tmp_path, source_engine):
    urls = {"postgresql": postgres.create(), "sqlite": f"sqlite:///{tmp_path / 'class.sqlite3'}"}
    source, target = Database(urls[source_engine]), Database(urls["sqlite" if source_engine == "postgresql" else "postgresql"])
    drawings = Drawings(source)
    for i in range(5):
        drawings.add(np.full((28, 28), i, np.uint8), i, "ada", browser=STUDENT.session)
    Register(source).claim(STUDENT.session, "ada")
    store = ModelStore(tmp_path / "models", bundled_dir=None)
    held = backup(tmp_path / "lesson", TEACHER, source)
    assert held["drawings"] == 5
    Drawings(target).add(np.zeros((28, 28), np.uint8), 9, "someone-else")  # the class there before: replaced
    restore(tmp_path / "lesson", TEACHER, target, store)
    ids, images, labels, writers = Drawings(target).rows()
    assert labels.tolist() == [0, 1, 2, 3, 4] and writers == ["ada"] * 5 and [int(x.max()) for x in images] == [0, 1, 2, 3, 4]
    assert Register(target).name_of(STUDENT.session) == "ada"
    assert Drawings(target).add(np.zeros((28, 28), np.uint8), 1, "ada") > ids.max()  # new ids come after the restored


def class_of_three(tmp_path) -> tuple[Database, ModelStore]:
    db = Database()
    for i in range(3):
        Drawings(db).add(np.full((28, 28), i, np.uint8), i, "ada")
    return db, ModelStore(tmp_path / "models", bundled_dir=None)


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_a_backup_with_a_symlink_a_zip_bomb_or_a_path_outside_it_is_refused_and_the_class_is_unchanged(tmp_path):
    db, store = class_of_three(tmp_path)
    backup(tmp_path / "good", TEACHER, db)
    secret = tmp_path / "secrets.toml"
    secret.write_text('teacher_password = "x"')
    (tmp_path / "good" / "models").mkdir()  # as an earlier release's backup held its models
    (tmp_path / "good" / "models" / "evil.keras").symlink_to(secret)
    with pytest.raises(BadBackup, match="symbolic link .models/evil.keras."):
        restore(tmp_path / "good", TEACHER, db, store)
    (tmp_path / "good" / "models" / "evil.keras").unlink()
    lesson = {p.relative_to(tmp_path / "good").as_posix(): p.read_bytes() for p in (tmp_path / "good").rglob("*") if p.is_file()}
    bombs = {
        "outside": zipped({**lesson, "../../escaped.txt": b"x"}),
        "bomb": zipped({**lesson, "models/bomb.keras": bytes(200 * 2**20)}),  # 200 MB of zeros, ~200 KB packed
    }
    for kind, data in bombs.items():
        (tmp_path / f"{kind}.zip").write_bytes(data)
        with pytest.raises(BadBackup, match="outside itself" if kind == "outside" else "a zip bomb"):
            restore(tmp_path / f"{kind}.zip", TEACHER, db, store)
    assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.rglob("bomb.keras"))
    assert Drawings(db).arrays()[2].tolist() == [0, 1, 2]  # the class as it was
    (tmp_path / "fine.zip").write_bytes(zipped(lesson))
    Drawings(db).delete_all(TEACHER)
    restore(tmp_path / "fine.zip", TEACHER, db, store)  # the same backup, honest: put back
    assert Drawings(db).arrays()[2].tolist() == [0, 1, 2]


def test_a_restore_that_fails_halfway_leaves_the_class_as_it_was_and_the_class_was_backed_up_first(tmp_path):
    from model_store.lesson import lessons_root

    db, store = class_of_three(tmp_path)
    backup(tmp_path / "lesson", TEACHER, db)
    with sqlite3.connect(tmp_path / "lesson" / "class.sqlite3") as raw:  # a row this release cannot put back
        raw.execute("DROP TABLE people")
        raw.execute("CREATE TABLE people (browser TEXT, name TEXT, since TEXT)")
        raw.executemany("INSERT INTO people VALUES ('same', ?, 'x')", [("a",), ("b",)])  # one browser twice
    Drawings(db).add(np.zeros((28, 28), np.uint8), 7, "bob")
    with pytest.raises(DatabaseError):
        restore(tmp_path / "lesson", TEACHER, db, store)
    assert Drawings(db).arrays()[2].tolist() == [0, 1, 2, 7]  # nothing of it half put back
    kept = sorted(lessons_root().glob("before-restore-*"))
    assert len(kept) == 1 and Drawings(kept[0] / "class.sqlite3").count() == 4


def test_a_new_lesson_keeps_the_drawings_saved_while_its_backup_was_made(tmp_path, monkeypatch):
    from model_store import lesson

    db, _ = class_of_three(tmp_path)
    monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tmp_path / "models"))
    made = lesson.backup

    def backup_while_a_student_saves(*args, **kwargs):
        held = made(*args, **kwargs)
        Drawings(db).add(np.full((28, 28), 9, np.uint8), 9, "late", browser="late-browser")  # saved meanwhile
        return held

    monkeypatch.setattr(lesson, "backup", backup_while_a_student_saves)
    folder, cleared, _ = lesson.new_lesson(TEACHER, lambda days, class_id: 0)
    assert cleared == 3 and Drawings(db).rows()[3] == ["late"]  # the late drawing stays: its backup lacks it
    assert Drawings(folder / "class.sqlite3").count() == 3


def test_a_wrong_url_a_refused_password_and_a_server_gone_are_named_with_what_to_fix(postgres):
    wrong_password = Database(postgres.url(password="not-it"))
    with pytest.raises(DatabaseError, match=r"at 127.0.0.1:\d+/postgres refused the password of user 'postgres'"):
        Drawings(wrong_password).count()
    with pytest.raises(DatabaseError, match="has no database named 'nowhere'"):
        Drawings(Database(postgres.url("nowhere"))).count()
    nothing = Database(f"postgresql://lab:pw@127.0.0.1:{postgres.port + 1 if postgres.port < 65535 else 1}/lab")
    with pytest.raises(DatabaseError, match=r"does not answer \(is PostgreSQL running on 127.0.0.1"):
        Drawings(nothing).count()
    assert "not-it" not in wrong_password.where  # the password is never shown


def test_a_database_that_goes_down_mid_lesson_keeps_the_drawing_and_save_again_saves_it(monkeypatch, mnist_test, tiny_store):
    from tests.postgres import Server

    server = Server()  # its own: stopped and started again in the middle of the test
    try:
        url = server.create()
        monkeypatch.setenv("MNIST_LAB_DATABASE", url)
        monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
        x, _ = mnist_test
        at = open_page("draw")
        at.file_uploader(key="draw_upload").set_value([("seven.png", image_file(digit_on_canvas(x[0])), "image/png")])
        run_clean(at)
        server.stop()
        at.button(key="draw_keep_upload_0_right").click()
        run_clean(at)
        said = as_read(at.error[0].value)
        assert "1 drawing not saved yet: the class database at 127.0.0.1" in said and "does not answer" in said, said
        assert at.metric[FIRST_UPLOAD].value == "7"  # drawing and reading go on
        server.start()
        at.button(key="draw_keep_upload_0_save_again").click()
        run_clean(at)
        assert Drawings(Database(url)).arrays()[2].tolist() == [7] and not at.error
    finally:
        server.remove()


def test_how_many_queries_each_page_run_makes(tiny_store, monkeypatch, capsys):
    """Reported, and bounded: a page run asks the class database only what it shows."""
    import threading

    from training.copying import copier

    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    engine_thread = threading.Thread(target=threading.Event().wait, daemon=True)  # alive: warm_up starts no other
    engine_thread.start()
    monkeypatch.setattr(copier, "thread", engine_thread)  # the copying's queries (its own thread) are not a page's
    db = Database()
    Drawings(db).count()  # the schema made: its statements are not a page's
    counts = {}
    for page in ("draw", "train", "experiments", "gallery", "data", "models", "classroom", "present"):
        before = db.counted()
        at = open_page(page)
        first = db.counted() - before
        run_clean(at)
        counts[page] = (first, db.counted() - before - first)
    with capsys.disabled():
        print("\nqueries a page run makes (first run, a rerun):", counts)
    assert counts["draw"][1] <= 3, counts  # a rerun of the Draw page: who is at the browser, nothing else
    assert all(first <= 10 for page, (first, _) in counts.items() if page != "classroom"), counts
    assert counts["classroom"][0] <= 12, counts  # the teacher's page reads the most: the classes, their students, the teachers


def legacy_runs(runs) -> None:
    """A runs folder as the release before this one left it: a run whose events are numbered, an
    older one's that are not (its last line torn by a kill) with its best checkpoint, an archived one."""
    event = {"phase": "epoch", "epochs": 2, "batch": 10, "batches": 10, "loss": 0.1, "accuracy": 0.9}
    numbered = "".join(json.dumps({**event, "epoch": e, "seq": e - 1}) + "\n" for e in (1, 2))
    unnumbered = json.dumps({**event, "epoch": 1}) + "\n" + json.dumps({**event, "epoch": 2}) + '\n{"phase": "ba'
    for run_id, status, events in (
        ("20261101-090000-000000-aaaa", "done", numbered),
        ("20261101-090001-000000-bbbb", "interrupted", unnumbered),
        ("archive/20261001-090000-000000-cccc", "done", numbered),
    ):
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "config.json").write_text(json.dumps({"name": run_id[-4:], "owner": "ada"}))
        (runs / run_id / "status.json").write_text(json.dumps({"status": status}))
        (runs / run_id / "events.jsonl").write_text(events)
    (runs / "20261101-090001-000000-bbbb" / "best.weights.h5").write_bytes(b"the best epoch's weights")


def test_migrate_brings_an_earlier_releases_models_and_runs_in_whole_and_only_once(engine, tmp_path):
    from model_store.networks import dense_128
    from training.runs import has_checkpoint, list_runs, read_run

    old = tmp_path / "old"
    legacy_folder(old / "data")
    legacy_runs(old / "runs")
    models = old / "models"
    ModelStore(models, bundled_dir=models).save(
        dense_128(), {"name": "ada-net", "architecture": "dense-128", "normalization": "scale"}
    )
    target = Database()
    done = migrate(old / "data", target, models_folder=models, runs_folder=old / "runs")
    assert [done.counts[kind] for kind in ("models", "runs", "run events")] == [(0, 1), (0, 3), (0, 6)]
    assert [r.id[-4:] for r in list_runs()] == ["aaaa", "bbbb"]  # the archived one is kept, out of the lists
    assert [e.epoch for e in read_run("20261101-090001-000000-bbbb").events] == [1, 2]  # the torn line passed over
    assert has_checkpoint("20261101-090001-000000-bbbb") and read_run("20261101-090001-000000-bbbb").status == "interrupted"
    assert ModelStore(tmp_path / "elsewhere", bundled_dir=None).load("ada-net")[0].count_params() == dense_128().count_params()
    again = migrate(old / "data", target, models_folder=models, runs_folder=old / "runs")
    assert [again.counts[kind] for kind in ("models", "runs", "run events")] == [(1, 1), (3, 3), (6, 6)]


def test_an_earlier_releases_backup_with_runs_folders_restores_them_as_rows(tmp_path):
    from training.runs import list_runs, read_run

    db, store = class_of_three(tmp_path)
    backup(tmp_path / "lesson", TEACHER, db)
    legacy_runs(tmp_path / "lesson" / "runs")  # as an earlier release's backup held its runs
    restore(tmp_path / "lesson", TEACHER, db, store)
    assert [r.id[-4:] for r in list_runs()] == ["aaaa", "bbbb"]
    assert [e.epoch for e in read_run("20261101-090000-000000-aaaa").events] == [1, 2]
    assert backup(tmp_path / "after", TEACHER, db)["runs"] == 3  # rows now: in every backup from here on


def test_a_restored_lessons_runs_are_checked_and_none_is_queued_again(tmp_path):
    """A backup's run rows come from a file: a damaged one refuses the restore; a waiting one (which
    would train with whatever the file says, past the class limits) comes back cancelled."""
    from tests.conftest import recorded_run
    from training.runs import list_runs

    db, store = class_of_three(tmp_path)
    recorded_run("20261203-090000-000000-aaaa", {"name": "huge", "owner": "ada", "epochs": 100_000}, "waiting")
    recorded_run("20261203-090001-000000-bbbb", {"name": "fine", "owner": "ada"}, "done")
    backup(tmp_path / "lesson", TEACHER, db)
    damaged = tmp_path / "damaged-lesson"
    shutil.copytree(tmp_path / "lesson", damaged)
    with sqlite3.connect(damaged / "class.sqlite3") as raw:
        raw.execute("UPDATE runs SET config = '[1, 2' WHERE id LIKE '%bbbb'")
    with pytest.raises(BadBackup, match="the backup's run '20261203-090001-000000-bbbb' is not whole"):
        restore(damaged, TEACHER, db, store)
    restore(tmp_path / "lesson", TEACHER, db, store)
    runs = {r.config["name"]: r for r in list_runs()}
    assert (runs["huge"].status, runs["huge"].error) == ("cancelled", "restored from a backup: not queued again")
    assert runs["fine"].status == "done"
