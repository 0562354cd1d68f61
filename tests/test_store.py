"""The model store in the class database, on SQLite and on PostgreSQL: whole saves, validated
names, listing that never crashes, safe loading, the bundled model beside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from sqlalchemy import insert, select, update

from model_store import ModelStore, Predictor, StoreError, validate_name
from model_store.database import model_files, models
from model_store.networks import dense_128
from tests.people import TEACHER

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(engine, tmp_path) -> ModelStore:
    """An empty store in a fresh class database on each engine, with no bundled model beside it."""
    return ModelStore(tmp_path / "models", bundled_dir=None)


def file_rows(store: ModelStore, name: str | None = None) -> list[tuple[str, str, str]]:
    """The database's (model, kind, sha256) rows, of one model or all."""
    query = select(model_files.c.model, model_files.c.kind, model_files.c.sha256).order_by(
        model_files.c.model, model_files.c.kind
    )
    with store.db.read() as c:
        return [tuple(r) for r in c.execute(query if name is None else query.where(model_files.c.model == name))]


def set_record(store: ModelStore, name: str, text: str) -> None:
    """A record changed behind the store's back, as any program with the database's password may."""
    with store.db.write() as c:
        c.execute(update(models).where(models.c.name == name).values(record=text, saved="changed"))


def small_model(seed=0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return dense_128()


def record(name: str, **extra) -> dict:
    return {"name": name, "architecture": "dense-128", "normalization": "scale", **extra}


def test_save_load_and_the_loaded_model_predicts_exactly_what_the_original_did(store, mnist_test):
    x, _ = mnist_test
    model = small_model()
    store.save(model, record("m1"), test_probabilities=np.full((10000, 10), 0.1))
    loaded, entry = store.load("m1")
    images = x[:200] / 255.0
    original = Predictor(model).probabilities(images)
    again = Predictor(loaded, entry.normalization).probabilities(images)
    np.testing.assert_array_equal(original.argmax(1), again.argmax(1))
    np.testing.assert_allclose(original, again, atol=1e-6)
    assert store.test_probabilities(entry).shape == (10000, 10)
    checksum = entry.record["model_sha256"]
    assert entry.record["files"]["model"] == checksum and entry.model_path == store.root / ".cache" / f"{checksum}.keras"
    assert [kind for _, kind, _ in file_rows(store, "m1")] == ["model", "test_probabilities"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 300, "at most 64"),
        ("a/b", "invalid"),
        ("..", "invalid"),
        ("../escape", "invalid"),
        ("a..b", "invalid"),
        ("bad\x00name", "invalid"),
        ("tab\tname", "invalid"),
        ("-leading-dash", "invalid"),
        ("with space", "invalid"),
    ],
)
def test_bad_names_are_refused_with_a_clear_message(name, message):
    with pytest.raises(StoreError, match=message):
        validate_name(name)


def test_good_names_pass():
    for name in ("cnn", "My_Model-2.1", "a" * 64):
        assert validate_name(name) == name


def test_a_save_that_fails_half_way_leaves_the_earlier_version_whole(store, monkeypatch):
    first = small_model(1)
    store.save(first, record("m"))
    before = sorted(p.name for p in store.root.rglob("*")), file_rows(store)

    class DiskFull(OSError):
        pass

    second = small_model(2)

    def failing_save(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise DiskFull("No space left on device")

    monkeypatch.setattr(second, "save", failing_save)
    with pytest.raises(DiskFull):
        store.save(second, record("m"), overwrite=True)
    assert (sorted(p.name for p in store.root.rglob("*")), file_rows(store)) == before  # no partial file is left
    loaded, _ = store.load("m")
    np.testing.assert_array_equal(loaded.get_weights()[0], first.get_weights()[0])


def test_overwriting_needs_to_be_asked_for_and_replaces_the_files(store):
    store.save(small_model(1), record("m"), test_probabilities=np.full((10000, 10), 0.1))
    with pytest.raises(StoreError, match="already exists"):
        store.save(small_model(2), record("m"))
    old = file_rows(store, "m")
    store.save(small_model(2), record("m"), overwrite=True)
    new = file_rows(store, "m")
    assert [kind for _, kind, _ in new] == ["model"] and new[0][2] != old[0][2]  # no file of the old one is left


def test_a_save_killed_mid_transaction_leaves_no_model_and_the_next_save_works(store, tmp_path):
    """A process saving a big model is killed (SIGKILL) once its transaction has written the
    model's bytes, before the record: the database keeps none of it, and holds no lock."""
    marker = tmp_path / "in-transaction"
    child = f"""
import os, sys, time
from pathlib import Path
from sqlalchemy import event
from model_store.database import Database
from model_store.store import ModelStore

db = Database(sys.argv[1])

def pause(_connection, _cursor, statement, *_args):
    if statement.startswith("INSERT INTO models"):  # the files' rows are written, the record next
        Path({str(marker)!r}).touch()
        time.sleep(600)  # killed here, its transaction open

event.listen(db.engine, "after_cursor_execute", pause)
ModelStore(Path(sys.argv[2]), bundled_dir=None, db=db).save(b"PK" + os.urandom(16 << 20), {{"name": "big"}})
"""
    url = store.db.url.render_as_string(hide_password=False)
    process = subprocess.Popen([sys.executable, "-c", child, url, str(tmp_path / "child")], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the child never reached its transaction"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()
    assert store.list() == [] and file_rows(store) == []
    entry = store.save(b"PK" + os.urandom(1 << 20), record("big"))
    assert [m.name for m in store.list()] == ["big"] and len(entry.model_path.read_bytes()) == (1 << 20) + 2


def test_two_machines_with_their_own_caches_share_the_models_of_the_class_database(store, tmp_path, mnist_test):
    x, _ = mnist_test
    other = ModelStore(tmp_path / "another-machine", bundled_dir=None)  # the same database, its own disk
    model = small_model(5)
    store.save(model, record("shared"), test_probabilities=np.full((10000, 10), 0.1))
    loaded, entry = other.load("shared")
    assert entry.model_path.parent == tmp_path / "another-machine" / ".cache"
    np.testing.assert_allclose(
        Predictor(loaded).probabilities(x[:20] / 255.0), Predictor(model).probabilities(x[:20] / 255.0), atol=1e-6
    )
    assert other.test_probabilities(entry).shape == (10000, 10)
    other.rename("shared", "ours", TEACHER)
    assert [m.name for m in store.list()] == ["ours"]
    store.delete("ours", TEACHER)
    assert other.list() == []


def test_a_folder_of_the_old_layout_is_imported_whole_and_only_once(store, tmp_path):
    old = tmp_path / "old-models"
    folder = ModelStore(old, bundled_dir=old)  # a store on a folder of its own writes the old layout
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10), 10000)
    a = folder.save(small_model(1), record("a", owner={"name": "ada"}), test_probabilities=probabilities)
    folder.attach(a, "map", lambda path: np.savez(path, xy=np.arange(6.0)))
    folder.save(small_model(2), record("b"))
    folder.set_default("b", TEACHER)
    (old / "garbled.json").write_text("{ half a record")
    store.save(small_model(3), record("b"))  # another model, under a name the folder has too
    assert store.import_folder(old) == (3, 2)
    assert [m.name for m in store.list()] == ["a", "b", "b-2"]
    for name, there in (("a", "a"), ("b", "b-2")):
        before, after = folder.get(name), store.get(there)
        kept = lambda r: {k: v for k, v in r.items() if k not in ("files", "name")}  # noqa: E731
        assert kept(after.record) == kept(before.record) and after.record["name"] == there
        for kind in before.record["files"]:
            assert after.file(kind).read_bytes() == before.file(kind).read_bytes()
    np.testing.assert_array_equal(store.test_probabilities(store.get("a")), folder.test_probabilities(folder.get("a")))
    assert store.default().name == "b"  # the folder's default, the database having none
    store.load("b-2")
    assert store.import_folder(old) == (3, 0)  # again: all there already


def test_listing_reports_broken_entries_and_never_crashes(store):
    for name in ("good", "garbled", "alien", "missing", "corrupt"):
        store.save(small_model(), record(name))
    set_record(store, "garbled", "{ half a record")
    alien = store.get("alien").record
    set_record(store, "alien", json.dumps({**alien, "files": {**alien["files"], "script": alien["model_sha256"]}}))
    with store.db.write() as c:
        c.execute(model_files.delete().where(model_files.c.model == "missing"))
        c.execute(update(model_files).where(model_files.c.model == "corrupt").values(data=b"not a zip any more"))
    for path in (store.root / ".cache").iterdir():
        path.unlink()  # this machine's copies gone: the database's bytes are read
    listed = {m.name: m for m in store.list()}
    assert set(listed) == {"good", "garbled", "alien", "missing", "corrupt"}
    assert listed["garbled"].broken and "not a model's" not in listed["garbled"].error
    assert "kind of file a model does not have" in listed["alien"].error
    assert not listed["good"].broken and not listed["missing"].broken  # a listing reads no file
    with pytest.raises(StoreError, match="missing"):
        store.load("missing")
    with pytest.raises(StoreError, match="corrupt"):
        store.load("corrupt")
    store.load("good")


def a_term_of_models(store, n: int) -> None:
    """`n` models: one saved, the others its rows copied under their own names (a save each takes seconds)."""
    store.save(small_model(), record("m000"))
    first = store.get("m000").record
    with store.db.write() as c:
        data = c.execute(select(model_files.c.data).where(model_files.c.model == "m000")).scalar_one()
        names = [f"m{i:03d}" for i in range(1, n)]
        c.execute(insert(models), [{"name": n, "record": json.dumps({**first, "name": n}), "saved": "then"} for n in names])
        rows = [{"model": n, "kind": "model", "sha256": first["model_sha256"], "size": len(data), "data": data} for n in names]
        c.execute(insert(model_files), rows)


def test_listing_300_models_reads_no_model_file_and_loading_checks_the_checksum(store, monkeypatch):
    from model_store import store as store_module

    a_term_of_models(store, 300)
    hashed = []
    real = store_module.sha256_of
    monkeypatch.setattr(store_module, "sha256_of", lambda path: hashed.append(path) or real(path))
    statements = store.db.counted()
    listed = store.list()
    assert len(listed) == 300 and not any(m.broken for m in listed)
    assert store.db.counted() - statements == 2  # the names, then the records not read before
    statements = store.db.counted()
    assert len(store.list()) == 300 and store.db.counted() - statements == 1  # the names only
    assert hashed == []  # a term's listing costs no hashing
    store.load("m123")
    assert len(hashed) == 1  # the model loaded is checked
    cached = store.get("m124").model_path
    size = len(cached.read_bytes())
    cached.write_bytes(bytes(size))  # this machine's copy damaged (same size, other bytes): fetched again
    store.load("m124")
    cached.unlink()
    with store.db.write() as c:
        c.execute(update(model_files).where(model_files.c.model == "m124").values(data=bytes(size)))
    with pytest.raises(StoreError, match="corrupt"):
        store.load("m124")  # the database's copy damaged: only the checksum sees it


def test_the_default_model_can_be_chosen_and_falls_back_when_it_goes(store):
    store.save(small_model(), record("a"))
    store.save(small_model(), record("b"))
    assert store.default().name == "a"
    store.set_default("b", TEACHER)
    assert store.default().name == "b"
    store.delete("b", TEACHER)
    assert store.default().name == "a"
    assert [m for m, _, _ in file_rows(store)] == ["a"]  # b's files went with it


def test_an_empty_store_says_how_to_get_a_model(store):
    with pytest.raises(StoreError, match="python -m training"):
        store.default()


def test_the_bundled_model_is_listed_first_and_cannot_be_deleted_or_shadowed(tmp_path):
    bundled = ModelStore(tmp_path / "bundled", bundled_dir=tmp_path / "bundled")  # its files, as the rebuild writes them
    bundled.save(small_model(), record("lab-default"))
    store = ModelStore(tmp_path / "models", bundled_dir=tmp_path / "bundled")
    store.save(small_model(), record("mine"))
    models = store.list()
    assert [(m.name, m.bundled) for m in models] == [("lab-default", True), ("mine", False)]
    assert store.default().name == "lab-default"
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete("lab-default", TEACHER)
    with pytest.raises(StoreError, match="bundled"):
        store.save(small_model(), record("lab-default"))
    store.load("lab-default")


def test_a_model_with_a_lambda_layer_is_refused_not_run(store, tmp_path):
    inputs = keras.Input((784,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(keras.layers.Dense(10, activation="softmax")(inputs))
    store.save(keras.Model(inputs, outputs), record("sneaky"))
    with pytest.raises(StoreError, match="cannot be loaded"):
        store.load("sneaky")


def test_names_from_outside_never_become_paths_outside_the_store(store):
    for name in ("../../etc/passwd", "/etc/passwd", "..", "a/../../b"):
        with pytest.raises(StoreError):
            store.get(name)
        with pytest.raises(StoreError):
            store.delete(name, TEACHER)


@pytest.mark.parametrize("pointer", ["../outside.keras", "/ABS/outside.keras", "other's"])
def test_a_record_naming_a_file_not_its_own_is_broken_and_nothing_outside_is_read_or_deleted(store, tmp_path, pointer):
    """A record is data from outside: one edited to point elsewhere must not reach that file."""
    store.save(small_model(1), record("m"))
    store.save(small_model(2), record("other"))
    outside = tmp_path / "outside.keras"
    small_model().save(outside)
    pointer = pointer.replace("/ABS", str(tmp_path))
    if pointer == "other's":  # another model's file, not on this machine yet: m's own row is read, and refused
        pointer = store.get("other").record["model_sha256"]
        for path in (store.root / ".cache").iterdir():
            path.unlink()
    forged = store.get("m").record
    set_record(store, "m", json.dumps({**forged, "files": {"model": pointer}, "model_sha256": pointer}))
    if "outside" in pointer:
        assert "not a SHA-256" in store.get("m").error
    with pytest.raises(StoreError, match="broken" if "outside" in pointer else "replaced"):
        store.load("m")
    store.delete("m", TEACHER)
    assert outside.exists() and not store.get("other").broken  # nothing outside m was deleted
    assert [m for m, _, _ in file_rows(store)] == ["other"]


def test_a_folders_record_naming_a_file_not_its_own_is_broken(tmp_path):
    folder = ModelStore(tmp_path / "old", bundled_dir=tmp_path / "old")
    folder.save(small_model(), record("m"))
    forged = json.loads((tmp_path / "old" / "m.json").read_text())
    (tmp_path / "old" / "m.json").write_text(json.dumps({**forged, "files": {"model": "../outside.keras"}}))
    assert "not this model's own" in folder.get("m").error


def test_many_saves_under_one_name_at_once_store_one_whole_model_and_refuse_the_rest(store):
    """Four threads save four different models as "m" at the same moment (a slow disk widens
    the race): exactly one is stored, whole and unmixed; each other one is told why not."""
    models = [small_model(seed) for seed in range(4)]
    for model in models:
        save = model.save
        model.save = lambda path, save=save: (time.sleep(0.2), save(path))
    start = threading.Barrier(len(models))
    outcome: dict[int, str] = {}

    def save(i: int) -> None:
        start.wait()
        try:
            store.save(models[i], record("m", seed=i))
            outcome[i] = "stored"
        except StoreError as err:
            outcome[i] = str(err)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, o in outcome.items() if o == "stored"]
    assert len(winners) == 1, outcome
    assert all("in progress" in o or "already exists" in o for i, o in outcome.items() if i != winners[0]), outcome
    loaded, entry = store.load("m")
    assert entry.record["seed"] == winners[0]
    for mine, theirs in zip(loaded.get_weights(), models[winners[0]].get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert file_rows(store) == [("m", "model", entry.record["model_sha256"])]


def test_the_bundled_model_is_rebuilt_by_opening_the_store_on_its_own_directory(tmp_path):
    bundled = tmp_path / "bundled"
    ModelStore(bundled, bundled_dir=bundled).save(small_model(), record("lab-default"))
    rebuild = ModelStore(bundled, bundled_dir=bundled)  # as `--store model_store/bundled` does
    rebuild.save(small_model(1), record("lab-default"), overwrite=True)
    assert [m.name for m in rebuild.list()] == ["lab-default"]
    entry = rebuild.get("lab-default")
    assert sorted(p.name for p in bundled.iterdir()) == sorted(["lab-default.json", entry.record["files"]["model"]])
    beside = ModelStore(tmp_path / "models", bundled_dir=bundled).list()  # a store lists it beside its own
    assert [(m.name, m.bundled, m.record) for m in beside] == [("lab-default", True, entry.record)]


def keras_bytes(model: keras.Model, tmp_path) -> bytes:
    path = tmp_path / "upload.keras"
    model.save(path)
    return path.read_bytes()


def test_rename_moves_the_files_keeps_predictions_and_the_default_follows(store, mnist_test):
    x, _ = mnist_test
    model = small_model(3)
    store.save(model, record("old"))
    store.save(small_model(), record("other"))
    store.set_default("old", TEACHER)
    renamed = store.rename("old", "new", TEACHER)
    assert [m.name for m in store.list()] == ["new", "other"] and store.default().name == "new"
    assert renamed.record["name"] == "new" and [m for m, _, _ in file_rows(store)] == ["new", "other"]
    loaded, entry = store.load("new")
    np.testing.assert_allclose(
        Predictor(loaded).probabilities(x[:20] / 255.0), Predictor(model).probabilities(x[:20] / 255.0), atol=1e-6
    )


@pytest.mark.parametrize("new_name, message", [("other", "already exists"), ("../evil", "invalid"), ("", "empty")])
def test_rename_refuses_taken_and_bad_names(store, new_name, message):
    store.save(small_model(), record("mine"))
    store.save(small_model(), record("other"))
    with pytest.raises(StoreError, match=message):
        store.rename("mine", new_name, TEACHER)
    assert store.get("mine").record["name"] == "mine"


def test_the_bundled_model_cannot_be_renamed(tmp_path):
    ModelStore(tmp_path / "bundled", bundled_dir=tmp_path / "bundled").save(small_model(), record("lab-default"))
    store = ModelStore(tmp_path / "models", bundled_dir=tmp_path / "bundled")
    with pytest.raises(StoreError, match="cannot be renamed"):
        store.rename("lab-default", "mine", TEACHER)


def test_an_uploaded_model_is_loaded_safely_and_checked(store, tmp_path):
    model = store.read_upload(keras_bytes(small_model(), tmp_path), TEACHER)
    assert model.count_params() == 101_770


def test_an_uploaded_model_with_the_wrong_input_or_output_is_refused(store, tmp_path):
    wrong_input = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(StoreError, match=r"must take one 28x28 image"):
        store.read_upload(keras_bytes(wrong_input, tmp_path), TEACHER)
    wrong_output = keras.Sequential([keras.Input((784,)), keras.layers.Dense(5)])
    with pytest.raises(StoreError, match=r"must give 10 values, one per digit \(or 11: the digits, then 'not a digit'\)"):
        store.read_upload(keras_bytes(wrong_output, tmp_path), TEACHER)
    eleven = keras.Sequential([keras.Input((784,)), keras.layers.Dense(11, activation="softmax")])  # with "not a digit"
    assert store.read_upload(keras_bytes(eleven, tmp_path), TEACHER).output_shape == (None, 11)


def test_a_corrupt_or_unsafe_upload_is_refused(store, tmp_path):
    data = keras_bytes(small_model(), tmp_path)
    with pytest.raises(StoreError, match="cannot be loaded safely"):
        store.read_upload(data[: len(data) // 2], TEACHER)
    with pytest.raises(StoreError, match="not a .keras model file"):
        store.read_upload(b"%PDF-1.4 not a model", TEACHER)
    inputs = keras.Input((784,))
    sneaky = keras.Model(inputs, keras.layers.Lambda(lambda t: t[:, :10])(inputs))
    with pytest.raises(StoreError, match="cannot be loaded safely"):
        store.read_upload(keras_bytes(sneaky, tmp_path), TEACHER)
    assert not list(store.root.glob(".upload-*"))  # no temporary file is left behind


def test_an_upload_over_the_size_limit_is_refused_before_reading(store):
    from model_store.store import MAX_UPLOAD_BYTES

    with pytest.raises(StoreError, match="the limit is 20 MB"):
        store.read_upload(b"PK" + bytes(MAX_UPLOAD_BYTES), TEACHER)


def test_an_imported_model_is_evaluated_and_stored_with_its_record(store, tmp_path):
    from training.engine import import_model

    model = store.read_upload(keras_bytes(small_model(), tmp_path), TEACHER)
    entry = import_model(model, "imported", "scale", store, TEACHER)
    assert entry.record["architecture"] == "uploaded" and entry.record["parameters"] == 101_770
    assert store.test_probabilities(entry).shape == (10_000, 10)
    with pytest.raises(StoreError, match="already exists"):
        import_model(model, "imported", "scale", store, TEACHER)
