"""The class drawings: the SQLite database, its command line, saving from the Draw page (AppTest),
and what a locked or damaged database does."""

from __future__ import annotations

import io
import sqlite3
import threading

import cv2
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from model_store import ModelStore, prepare
from model_store import database as database_module
from model_store.database import Database, DatabaseError
from model_store.drawings import Drawings
from model_store.roles import NotAllowed
from tests.browser import FIRST_UPLOAD
from tests.conftest import ROOT, as_read, cmyk_jpeg, digit_on_canvas, image_file, open_page, run_clean, sixteen_bit_png
from tests.people import OTHER_STUDENT, STUDENT, TEACHER, signed_in_as_teacher
from tests.test_cli import run
from training.nondigits import training_set


@pytest.fixture
def db(engine) -> Drawings:
    """The class drawings on each engine: SQLite and a real PostgreSQL."""
    return Drawings(Database(engine))


@pytest.fixture
def sqlite_db(tmp_path) -> Drawings:
    return Drawings(tmp_path / "drawings.sqlite3")


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_drawing_keeps_every_field_and_the_database_has_the_newest_schema(db):
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    probabilities = np.linspace(0, 1, 10) / 4.5
    new_id = db.add(image, 7, "ada", "canvas", b"\x89PNG...", "lab-default", probabilities)
    kept = db.get(new_id)
    assert (kept.label, kept.writer, kept.source, kept.model, kept.original) == (7, "ada", "canvas", "lab-default", b"\x89PNG...")
    assert kept.image.dtype == np.uint8 and np.abs(kept.image / 255 - image).max() <= 0.5 / 255 + 1e-6
    assert np.allclose(kept.probabilities, probabilities, atol=1e-6) and kept.created.endswith("+00:00")
    with db.db.read() as raw:
        assert raw.execute(text("SELECT version_num FROM alembic_version")).scalar() == database_module.HEAD
    if db.db.sqlite:
        with sqlite3.connect(db.db.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for label in (-1, 10, 3.5, "7"):
        with pytest.raises(ValueError, match="a label is a digit from 0 to 9"):
            db.add(image, label, "ada")
    assert db.count() == 1


def test_twenty_sessions_saving_fifty_each_at_once_lose_and_mix_nothing(db):
    errors = []

    def session(s: int) -> None:
        for i in range(50):
            try:  # each drawing's pixels say whose it is and which one: mixed rows would show
                db.add(np.full((28, 28), i * 5, np.uint8), (s + i) % 10, f"student-{s}", model=f"m{s}")
            except Exception as err:
                errors.append(err)

    threads = [threading.Thread(target=session, args=(s,)) for s in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and db.count() == 1000 and db.version() == (1000, 1000, 0)
    for s in range(20):
        ids, images, labels = db.arrays(f"student-{s}")
        assert sorted(images[:, 0, 0].tolist()) == [i * 5 for i in range(50)]
        assert sorted(labels.tolist()) == sorted((s + i) % 10 for i in range(50))
        assert {db.get(int(i)).model for i in ids[:3]} == {f"m{s}"}
    assert sum(n for _, _, n in db.counts()) == 1000 and len(db.writers()) == 20


def test_export_gives_mnists_shapes_and_import_prepares_any_images_both_ways_round(db, mnist_test, tmp_path):
    x, y = mnist_test
    big = np.stack([digit_on_canvas(img, size=112, box=(20, 30, 60)) for img in x[:6]])  # light ink, 112x112
    assert db.import_npz(npz(x=big, y=y[:6]), "scanner", TEACHER) == 6
    assert db.import_npz(npz(x=255 - x[6:10], y=y[6:10].astype(np.int64)), "paper", TEACHER) == 4  # dark ink on light
    assert db.export_npz(tmp_path / "out.npz") == 10
    with np.load(tmp_path / "out.npz") as f:
        assert f["x"].shape == (10, 28, 28) and f["x"].dtype == np.uint8 and f["y"].dtype == np.uint8
        assert f["y"].tolist() == y[:10].tolist()
        # The prepared images are MNIST-like: white ink on black, centred; close to the originals.
        assert all(f["x"][i][0].max() == 0 and f["x"][i].max() > 200 for i in range(10))
        assert np.corrcoef(f["x"][7].ravel(), x[7].ravel())[0, 1] > 0.8
    assert db.export_npz(tmp_path / "paper.npz", "paper") == 4
    assert db.npz(TEACHER) == (tmp_path / "out.npz").read_bytes()  # the Data page's download: the same file
    with np.load(tmp_path / "out.npz") as f:  # the teacher's: who drew each, and when
        assert f["writer"].tolist() == ["scanner"] * 6 + ["paper"] * 4 and f["created"][0].endswith("+00:00")


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"hello", "not an .npz file"),
        (npz(a=np.zeros(3)), "must hold arrays named x and y .it holds: a."),
        (npz(x=np.zeros((2, 28, 28)), y=np.array([1, 2])), "x must be uint8 images"),
        (npz(x=np.zeros((2, 28, 28), np.uint8), y=np.array([1])), "one label per image"),
        (npz(x=np.zeros((2, 4, 4), np.uint8), y=np.array([1, 2])), "too small"),
        (npz(x=np.full((2, 28, 28), 9, np.uint8), y=np.array([1, 12])), "labels from 0 to 9 .found 12."),
        (npz(x=np.zeros((2, 28, 28), np.uint8), y=np.array([1.5, 2])), "whole-number labels"),
        (npz(x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, np.uint8)), "no images"),
    ],
)
def test_a_bad_file_is_refused_with_its_reason_and_nothing_is_imported(db, data, reason):
    with pytest.raises(ValueError, match=reason):
        db.import_npz(data, "x", TEACHER)
    assert db.count() == 0


def test_one_blank_image_refuses_the_whole_file(db, mnist_test):
    x, y = mnist_test
    with pytest.raises(ValueError, match="image 2 .labelled 1. has no digit to read"):
        db.import_npz(npz(x=np.concatenate([x[:2], np.zeros((1, 28, 28), np.uint8)]), y=y[:3]), "x", TEACHER)
    assert db.count() == 0  # not the two good ones either


def test_a_student_deletes_their_own_drawings_is_refused_anothers_and_downloads_only_their_own(db, mnist_test):
    ids = [
        db.add(np.full((28, 28), d, np.uint8), d, w.name, browser=w.session)
        for d, w in ((1, STUDENT), (2, STUDENT), (3, OTHER_STUDENT))
    ]
    db.import_npz(npz(x=mnist_test[0][:2], y=mnist_test[1][:2]), "ada", TEACHER)  # under ada's name, not from her browser
    for attempt in (lambda: db.delete(ids[2], STUDENT), lambda: db.delete_all(STUDENT), lambda: db.delete_all(STUDENT, "bob")):
        with pytest.raises(NotAllowed, match="Only the teacher may delete another person's drawings"):
            attempt()
    with pytest.raises(NotAllowed, match="Only the teacher may add class drawings from a file"):
        db.import_npz(npz(x=mnist_test[0][:5], y=mnist_test[1][:5]), "ada", STUDENT)
    with np.load(io.BytesIO(db.npz(STUDENT))) as mine:  # her own two, and no names
        assert mine["y"].tolist() == [1, 2] and sorted(mine.files) == ["x", "y"]
    with np.load(io.BytesIO(db.npz(STUDENT, writer="bob"))) as f:  # another's asked for: still her own
        assert f["y"].tolist() == [1, 2]
    db.delete(ids[0], STUDENT)
    assert db.delete_all(STUDENT, "ada") == 1  # the rest of her own; the imported two are not hers
    assert db.count() == 3 and db.count("ada") == 2
    assert db.delete_all(TEACHER, writer="bob") == 1 and db.writers() == ["ada"]
    assert db.delete_all(TEACHER) == 2 and db.count() == 0


def test_a_locked_damaged_or_newer_database_is_named_with_the_reason(sqlite_db, monkeypatch, tmp_path):
    db = sqlite_db
    db.add(np.zeros((28, 28), np.uint8), 1, "ada")
    monkeypatch.setattr(database_module, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(db.db.path)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(DatabaseError, match="is busy .another program holds a lock"):
        db.add(np.zeros((28, 28), np.uint8), 2, "ada")
    holder.rollback()
    holder.close()
    assert db.add(np.zeros((28, 28), np.uint8), 2, "ada") and db.count() == 2  # free again: it works
    damaged = Drawings(tmp_path / "damaged.sqlite3")
    damaged.db.path.write_bytes(b"this is not a database at all, just text" * 100)
    with pytest.raises(DatabaseError, match="is damaged .not a readable SQLite database."):
        damaged.count()
    with sqlite3.connect(db.db.path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    newer = run("-m", "model_store", "drawings", "list", store=ModelStore(tmp_path), MNIST_LAB_DB=str(db.db.path))
    assert newer.returncode == 2 and "is from a newer release (schema 0099)" in newer.stderr, newer.stderr


def test_the_database_lives_in_the_data_folder_unless_mnist_lab_db_or_a_url_names_another(tmp_path, monkeypatch):
    assert Database().path == tmp_path / "data" / "drawings.sqlite3"  # conftest's MNIST_LAB_DATA
    monkeypatch.setenv("MNIST_LAB_DB", str(tmp_path / "elsewhere.db"))
    assert Database().path == tmp_path / "elsewhere.db"
    monkeypatch.setenv("MNIST_LAB_DATABASE", "postgresql://lab:secret@db.school:5433/lab")
    db = Database()
    assert db.path is None and db.where == "at db.school:5433/lab" and "secret" not in db.where


# ---------------------------------------------------------------- the command line


def test_the_command_line_lists_exports_and_imports(tiny_store, tmp_path, mnist_test):
    x, y = mnist_test
    env = {"MNIST_LAB_DB": str(tmp_path / "cli.sqlite3")}
    (tmp_path / "in.npz").write_bytes(npz(x=x[:12], y=y[:12]))
    done = run("-m", "model_store", "drawings", "import", str(tmp_path / "in.npz"), "--by", "ada", store=tiny_store, **env)
    assert done.returncode == 0 and "imported 12 drawings" in done.stdout, done.stderr
    listed = run("-m", "model_store", "drawings", "list", store=tiny_store, **env)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["WRITER", *map(str, range(10)), "ALL"]
    assert lines[1].split()[0] == "ada" and lines[1].split()[-1] == "12" and lines[-1].split()[-1] == "12"
    assert lines[1].split()[1 + 7] == str(int((y[:12] == 7).sum()))
    out = run("-m", "model_store", "drawings", "export", str(tmp_path / "out.npz"), store=tiny_store, **env)
    assert out.returncode == 0 and "exported 12 drawings" in out.stdout
    (tmp_path / "bad.npz").write_bytes(npz(x=x[:2], y=np.array([3, 10])))
    bad = run("-m", "model_store", "drawings", "import", str(tmp_path / "bad.npz"), store=tiny_store, **env)
    assert bad.returncode == 2 and "labels from 0 to 9 (found 10)" in bad.stderr
    assert "12 drawings" not in bad.stdout and Drawings(tmp_path / "cli.sqlite3").count() == 12


# ---------------------------------------------------------------- saving from the Draw page


@pytest.fixture
def page(tiny_store, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    at = open_page("draw")
    at.session_state["who_name"] = "ada"
    return run_clean(at)


def upload_seven(at: AppTest, mnist_test) -> AppTest:
    x, _ = mnist_test
    png = image_file(digit_on_canvas(x[0], dark_on_light=True))
    at.file_uploader(key="draw_upload").set_value([("seven.png", png, "image/png")])
    return run_clean(at)


def test_right_saves_an_upload_with_the_models_answer_and_the_counts_grow(page, mnist_test):
    at = upload_seven(page, mnist_test)
    assert any("0 by you, 0 by the class" in c.value for c in at.caption)
    at.button(key="draw_keep_upload_0_right").click()
    run_clean(at)
    _, images, labels = Drawings().arrays()
    kept = Drawings().get(1)
    assert labels.tolist() == [7] and (kept.writer, kept.source, kept.model) == ("ada", "upload", "lab-default")
    assert len(kept.probabilities) == 10 and int(np.argmax(kept.probabilities)) == 7
    assert cv2.imdecode(np.frombuffer(kept.original, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (280, 280)
    assert images.shape == (1, 28, 28) and images.max() > 200
    assert any("1 by you, 1 by the class" in c.value for c in at.caption)


def test_why_shows_the_class_drawings_most_alike_with_who_drew_them(page, mnist_test):
    at = upload_seven(page, mnist_test)
    at.button(key="draw_keep_upload_0_right").click()
    run_clean(at)
    x, _ = mnist_test
    Drawings().add(x[1], 2, "cy", source="upload", model="lab-default")  # a 2 by someone else
    at.toggle(key="draw_why_upload_0").set_value(True)
    run_clean(at)
    assert any(m.value.startswith("**The 2 class drawings it finds most alike**") for m in at.markdown)
    alike = [e.proto.imgs for e in at.get("image") if [i.caption for i in e.proto.imgs][:1] == ["ada: a 7"]]
    assert len(alike) == 1 and [i.caption for i in alike[0]] == ["ada: a 7", "cy: a 2 (not a 7)"]  # its own first


def test_uploads_of_any_depth_and_colour_are_saved_with_their_image(page, mnist_test):
    x, _ = mnist_test
    seven = digit_on_canvas(x[0], dark_on_light=True)
    files = [("deep.png", sixteen_bit_png(seven), "image/png"), ("print.jpg", cmyk_jpeg(255 - seven), "image/jpeg")]
    page.file_uploader(key="draw_upload").set_value(files)
    run_clean(page)
    for i in range(2):
        page.button(key=f"draw_keep_upload_{i}_right").click()
        run_clean(page)
    assert Drawings().arrays()[2].tolist() == [7, 7] and not page.error
    for drawing_id in (1, 2):
        kept = cv2.imdecode(np.frombuffer(Drawings().get(drawing_id).original, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert kept.shape == (280, 280) and kept[0, 0] > 200 and kept.min() < 50  # light paper, dark ink, as uploaded


def test_no_it_is_a_saves_the_writers_label(page, mnist_test):
    at = upload_seven(page, mnist_test)
    assert at.button_group(key="draw_keep_upload_0_label").options == [str(d) for d in range(10) if d != 7]
    at.button_group(key="draw_keep_upload_0_label").set_value(1)
    run_clean(at)
    assert Drawings().arrays()[2].tolist() == [1]
    assert at.button_group(key="draw_keep_upload_0_label").value is None  # ready for the next one


def test_a_locked_database_keeps_the_drawing_in_the_session_and_save_again_saves_it(page, mnist_test, monkeypatch):
    Drawings().count()  # the file exists
    monkeypatch.setattr(database_module, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(Database().path)
    holder.execute("BEGIN EXCLUSIVE")
    at = upload_seven(page, mnist_test)
    at.button(key="draw_keep_upload_0_right").click()
    run_clean(at)
    assert "1 drawing not saved yet: the class database" in at.error[0].value and "is busy" in at.error[0].value
    assert at.metric[FIRST_UPLOAD].value == "7"  # the page still reads digits
    holder.rollback()
    holder.close()
    at.button(key="draw_keep_upload_0_save_again").click()
    run_clean(at)
    assert Drawings().arrays()[2].tolist() == [7] and not at.error


# ---------------------------------------------------------------- the gallery on the class's drawings


def test_the_gallery_reads_the_class_drawings_with_the_same_instruments(tiny_store, monkeypatch, mnist_test, tmp_path):
    from model_store import ModelStore, Predictor

    store = ModelStore(tmp_path / "models", bundled_dir=None)  # the class database, holding tiny
    model, tiny = tiny_store.load("tiny")
    store.save(model, {**tiny.record, "name": "tiny-taught", "teach": {"drawings_taught": 48, "held_back_accuracy_after": 0.75}})
    monkeypatch.setenv("MNIST_LAB_MODELS", str(store.root))
    x, y = mnist_test
    at = open_page("gallery", timeout=120)
    at.segmented_control(key="gallery_set").set_value("Class drawings")
    run_clean(at)
    assert "No class drawings yet" in at.info[0].value
    Drawings().import_npz(npz(x=x[:40], y=y[:40]), "ada", TEACHER)
    Drawings().import_npz(npz(x=x[40:60], y=y[40:60]), "bob", TEACHER)
    run_clean(at)
    model, entry = ModelStore().load("lab-default")
    _, images, labels = Drawings().arrays()
    right = Predictor(model, entry.normalization).probabilities(images / 255).argmax(axis=1) == labels
    assert at.metric[0].label == "Accuracy on class drawings" and at.metric[0].value == f"{right.mean():.2%}"
    assert at.metric[2].value == f"{(~right).sum()} of 60"
    table = at.dataframe[0].value.set_index("model")
    assert table.index[0] == "lab-default" and sorted(table.index[1:]) == ["tiny", "tiny-taught"]
    assert list(table.columns) == ["class drawings (60)", "MNIST test", "taught on", "held back, when taught"]
    assert table.loc["lab-default", "class drawings (60)"] == pytest.approx(right.mean())
    assert table.loc["tiny", "MNIST test"] == tiny.record["metrics"]["test_accuracy"]
    # A taught model's figure on drawings it was taught on flatters it: its held-back figure stands beside it.
    assert table.loc["tiny-taught", "taught on"] == 48 and table.loc["tiny-taught", "held back, when taught"] == 0.75
    assert pd.isna(table.loc["tiny", "taught on"])
    assert any("the drawings held back when it was taught" in c.value for c in at.caption)
    at.selectbox(key="gallery_writer").set_value("bob")
    run_clean(at)
    assert at.metric[0].label == "Accuracy on bob's drawings" and at.metric[2].value.endswith("of 20")
    at.segmented_control(key="gallery_kind").set_value("Right")
    run_clean(at)
    assert any(c.value == f"{right[40:].sum()} images" for c in at.caption)
    first = next(b for b in at.button if b.key and b.key.startswith("gallery_inspect_"))
    first.click()
    run_clean(at)
    assert any(h.value.startswith(r"Drawing bob \#") for h in at.subheader)  # as plain text
    # Drawings that are no digit: the bundled model turns them away, in the tiles and the count.
    star = np.round(prepare(training_set(8, seed=3)[7]).image * 255).astype(np.uint8)  # the 8th kind: a star
    Drawings().import_npz(npz(x=np.stack([star] * 3), y=np.array([4, 4, 4], np.uint8)), "cy", TEACHER)  # "it's a 4!"
    run_clean(at).selectbox(key="gallery_writer").set_value("cy")
    at.segmented_control(key="gallery_kind").set_value("Wrong")
    run_clean(at)
    turned = {m.label: m.value for m in at.metric}
    assert turned["Called not a digit"] == "3"
    assert sum(i.caption.endswith(": 4 → not a digit") for e in at.get("image") for i in e.proto.imgs) == 3


# ---------------------------------------------------------------- the Data page


def data_page(teacher: bool, monkeypatch) -> AppTest:
    monkeypatch.setenv("MNIST_LAB_TEACHER_PASSWORD", "secret")
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60)
    return run_clean(signed_in_as_teacher(at, "secret") if teacher else at)


def test_the_data_page_counts_the_drawings_and_shows_one_large(tiny_store, monkeypatch, mnist_test):
    x, y = mnist_test
    Drawings().import_npz(npz(x=x[:30], y=y[:30]), "ada", TEACHER)
    Drawings().add(
        np.zeros((28, 28), np.uint8), 3, "bob", "canvas", image_file(np.zeros((280, 280), np.uint8)), "tiny", np.eye(10)[3]
    )
    at = data_page(False, monkeypatch)
    table = at.dataframe[-1].value
    assert table.loc["ada", "all"] == 30 and table.loc["bob", "3"] == 1 and table.loc["the class", "all"] == 31
    assert table.loc["the class", "7"] == int((y[:30] == 7).sum())
    at.selectbox(key="data_class_writer").set_value("bob")
    run_clean(at)
    assert at.selectbox(key="data_class_id").value == 31
    assert "**A 3**, by bob" in at.markdown[-1].value and "tiny read it as a 3 (100%)" in at.markdown[-1].value
    assert any("Only the teacher may delete other people's drawings" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key and b.key.startswith("data_class_delete")]


def test_the_teacher_deletes_one_drawing_then_all_of_one_persons(tiny_store, monkeypatch, mnist_test):
    x, y = mnist_test
    Drawings().import_npz(npz(x=x[:5], y=y[:5]), "ada", TEACHER)
    Drawings().import_npz(npz(x=x[5:8], y=y[5:8]), "bob", TEACHER)
    at = data_page(True, monkeypatch)
    at.button(key="data_class_delete").click()
    run_clean(at)
    assert Drawings().count() == 7 and 1 not in Drawings().arrays()[0]
    at.selectbox(key="data_class_writer").set_value("ada")
    run_clean(at).checkbox(key="data_class_sure").check()
    run_clean(at).button(key="data_class_delete_all").click()
    run_clean(at)
    assert Drawings().writers() == ["bob"] and Drawings().count() == 3


def test_the_teacher_adds_a_file_of_drawings_and_anyone_downloads_them(tiny_store, monkeypatch, mnist_test):
    x, y = mnist_test
    at = data_page(False, monkeypatch)

    def importers(at: AppTest) -> list[str]:
        return [u.key for u in at.get("file_uploader") if u.key.startswith("data_class_import")]

    assert "None yet" in at.info[0].value and importers(at) == []  # a student: no import form
    at = data_page(True, monkeypatch)
    at.file_uploader(key="data_class_import_file_0").set_value(("bad.npz", b"hello", "application/zip"))
    run_clean(at).button(key="data_class_import").click()
    run_clean(at)
    assert "bad.npz: not an .npz file" in as_read(at.error[0].value) and Drawings().count() == 0
    at.file_uploader(key="data_class_import_file_0").set_value(("lesson-1.npz", npz(x=x[:12], y=y[:12]), "application/zip"))
    at.text_input(key="data_class_import_writer").set_value("4b")
    run_clean(at).button(key="data_class_import").click()
    run_clean(at)
    assert Drawings().writers() == ["4b"] and Drawings().arrays()[2].tolist() == y[:12].tolist()
    assert not at.error and importers(at) == ["data_class_import_file_1"]  # a fresh, empty uploader: no double add
    download = at.get("download_button")[0]
    assert download.proto.label == "Download all drawings, with names (.npz)"


def test_the_rows_a_page_reads_are_kept_until_a_drawing_is_added_or_its_writer_renamed(db):
    """A page run reads the class's drawings once; an addition or a rename (no row added) is seen."""
    from model_store.people import Register

    Register(db.db).claim(STUDENT.session, "ada")
    db.add(np.full((28, 28), 1, np.uint8), 1, "ada", browser=STUDENT.session)
    first = db.rows()
    assert db.rows()[0] is first[0]  # kept: not read again
    db.add(np.full((28, 28), 2, np.uint8), 2, "ada", browser=STUDENT.session)
    assert db.rows()[2].tolist() == [1, 2]
    Register(db.db).rename("ada", "Ada L", STUDENT)
    assert db.rows()[3] == ["Ada L", "Ada L"]  # the rename added no row, and is seen
