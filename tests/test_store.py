"""The model store: atomic saves, validated names, listing that never crashes, safe loading."""

from __future__ import annotations

import json
import threading
import time

import keras
import numpy as np
import pytest

from model_store import ModelStore, Predictor, StoreError, validate_name
from model_store.networks import dense_128
from tests.people import TEACHER


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
    assert entry.record["model_sha256"] and entry.record["files"]["model"].endswith(".keras")


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
    before = sorted(p.name for p in store.root.iterdir())

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
    assert sorted(p.name for p in store.root.iterdir()) == before  # no partial file is left
    loaded, _ = store.load("m")
    np.testing.assert_array_equal(loaded.get_weights()[0], first.get_weights()[0])


def test_overwriting_needs_to_be_asked_for_and_replaces_the_files(store):
    store.save(small_model(1), record("m"))
    with pytest.raises(StoreError, match="already exists"):
        store.save(small_model(2), record("m"))
    old_files = set(json.loads((store.root / "m.json").read_text())["files"].values())
    store.save(small_model(2), record("m"), overwrite=True)
    assert not any((store.root / f).exists() for f in old_files)
    assert len(list(store.root.glob("m.*.keras"))) == 1


def test_a_second_save_under_one_name_while_one_runs_is_refused(store):
    store.root.mkdir(parents=True)
    (store.root / ".m.lock").touch()  # a save of "m" is under way
    with pytest.raises(StoreError, match="in progress"):
        store.save(small_model(), record("m"))
    assert not (store.root / "m.json").exists()


def test_listing_reports_broken_entries_and_never_crashes(store):
    for name in ("good", "corrupt", "missing"):
        store.save(small_model(), record(name))
    corrupt = store.root / json.loads((store.root / "corrupt.json").read_text())["files"]["model"]
    corrupt.write_bytes(b"not a zip any more")
    missing = store.root / json.loads((store.root / "missing.json").read_text())["files"]["model"]
    missing.unlink()
    (store.root / "garbled.json").write_text("{ half a record")
    (store.root / ".tmp-leftover.json").write_text("{}")  # a temporary file is not an entry
    listed = {m.name: m for m in store.list()}
    assert set(listed) == {"good", "corrupt", "missing", "garbled"}
    assert not listed["good"].broken
    assert "corrupt" in listed["corrupt"].error
    assert "missing" in listed["missing"].error
    assert listed["garbled"].broken
    with pytest.raises(StoreError, match="broken"):
        store.load("corrupt")


def a_term_of_models(store, n: int) -> None:
    """`n` models: one saved, the others its files copied under their own names (a save each takes seconds)."""
    import shutil

    store.save(small_model(), record("m000"))
    first = store.get("m000").record
    for i in range(1, n):
        name = f"m{i:03d}"
        files = {k: name + v[len("m000") :] for k, v in first["files"].items()}
        for k, v in files.items():
            shutil.copyfile(store.root / first["files"][k], store.root / v)
        (store.root / f"{name}.json").write_text(json.dumps({**first, "name": name, "files": files}))


def test_listing_300_models_reads_no_model_file_and_loading_checks_the_checksum(store, monkeypatch):
    from model_store import store as store_module

    a_term_of_models(store, 300)
    hashed = []
    real = store_module.sha256_of
    monkeypatch.setattr(store_module, "sha256_of", lambda path: hashed.append(path) or real(path))
    listed = store.list()
    assert len(listed) == 300 and not any(m.broken for m in listed)
    assert hashed == []  # a term's listing costs no hashing
    store.load("m123")
    assert len(hashed) == 1  # the model loaded is checked
    model_file = store.get("m124").model_path
    model_file.write_bytes(bytes(len(model_file.read_bytes())))  # same size, other bytes: only the checksum sees it
    with pytest.raises(StoreError, match="corrupt"):
        store.load("m124")


def test_the_default_model_can_be_chosen_and_falls_back_when_it_goes(store):
    store.save(small_model(), record("a"))
    store.save(small_model(), record("b"))
    assert store.default().name == "a"
    store.set_default("b", TEACHER)
    assert store.default().name == "b"
    store.delete("b", TEACHER)
    assert store.default().name == "a"
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        ["default.txt", "a.json", *json.loads((store.root / "a.json").read_text())["files"].values()]
    )


def test_an_empty_store_says_how_to_get_a_model(store):
    with pytest.raises(StoreError, match="python -m training"):
        store.default()


def test_the_bundled_model_is_listed_first_and_cannot_be_deleted_or_shadowed(tmp_path):
    bundled = ModelStore(tmp_path / "bundled", bundled_dir=None)
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


@pytest.mark.parametrize("pointer", ["../outside.keras", "/ABS/outside.keras", "other.1234.keras"])
def test_a_record_naming_a_file_not_its_own_is_broken_and_nothing_outside_is_read_or_deleted(store, tmp_path, pointer):
    """A record is data on disk: one edited to point elsewhere must not reach that file."""
    store.save(small_model(), record("m"))
    store.save(small_model(), record("other"))
    outside = tmp_path / "outside.keras"
    small_model().save(outside)
    pointer = pointer.replace("/ABS", str(tmp_path))
    if pointer.startswith("other"):
        pointer = json.loads((store.root / "other.json").read_text())["files"]["model"]  # another model's file
    forged = json.loads((store.root / "m.json").read_text())
    forged["files"]["model"] = pointer
    forged.pop("model_sha256")
    (store.root / "m.json").write_text(json.dumps(forged))
    entry = store.get("m")
    assert entry.broken and "not this model's own" in entry.error
    with pytest.raises(StoreError, match="broken"):
        store.load("m")
    store.delete("m", TEACHER)
    assert outside.exists() and not store.get("other").broken  # nothing outside m was deleted


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
    assert sorted(p.name for p in store.root.iterdir()) == sorted(["m.json", entry.record["files"]["model"]])


def test_the_bundled_model_is_rebuilt_by_opening_the_store_on_its_own_directory(tmp_path):
    bundled = tmp_path / "bundled"
    ModelStore(bundled, bundled_dir=None).save(small_model(), record("lab-default"))
    rebuild = ModelStore(bundled, bundled_dir=bundled)  # as `--store model_store/bundled` does
    rebuild.save(small_model(1), record("lab-default"), overwrite=True)
    assert [m.name for m in rebuild.list()] == ["lab-default"]


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
    assert all(name.startswith("new.") for name in renamed.record["files"].values())
    assert not list(store.root.glob("old.*"))
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
    ModelStore(tmp_path / "bundled", bundled_dir=None).save(small_model(), record("lab-default"))
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
