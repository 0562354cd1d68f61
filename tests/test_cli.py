"""The command lines, run as a person runs them, on real image files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import digit_on_canvas

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, store) -> subprocess.CompletedProcess:
    env = {**os.environ, "MNIST_LAB_MODELS": str(store.root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, mnist_test):
    """Real PNG and JPEG files of test digits, dark on light like a scan, and broken files."""
    x, y = mnist_test
    folder = tmp_path_factory.mktemp("digits")
    files = {}
    for i in range(4):
        path = folder / f"digit{i + 1}.{'png' if i % 2 == 0 else 'jpg'}"
        Image.fromarray(digit_on_canvas(x[i], dark_on_light=True)).save(path)
        files[path] = int(y[i])
    (folder / "notes.png").write_text("this is text, not a picture")
    (folder / "empty.png").write_bytes(b"")
    return folder, files


def test_predict_prints_a_line_per_file_and_goes_on_after_bad_ones(tiny_store, tiny, image_files):
    folder, files = image_files
    _, _, predictor = tiny
    names = [str(p) for p in files] + [str(folder / "notes.png"), str(folder / "empty.png"), str(folder / "gone.png")]
    result = run("-m", "model_store", "predict", "--model", "tiny", *names, store=tiny_store)
    assert result.returncode == 1  # some files failed
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 7
    for line, path in zip(lines, files, strict=False):
        expected = predictor.predict(np.asarray(Image.open(path))).digit
        assert line.startswith(f"{path}: {expected} (") and line.endswith("%)")
    assert "notes.png: error: not an image" in lines[4]
    assert "empty.png: error: the file is empty" in lines[5]
    assert "gone.png: error:" in lines[6]


def test_predict_json_gives_one_object_per_line(tiny_store, image_files):
    folder, files = image_files
    names = [str(p) for p in files] + [str(folder / "notes.png")]
    result = run("-m", "model_store", "predict", "--json", *names, store=tiny_store)
    objects = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(objects) == 5 and result.returncode == 1
    for obj, path in zip(objects, files, strict=False):
        assert set(obj) == {"path", "digit", "confidence", "probabilities"} and obj["path"] == str(path)
        assert len(obj["probabilities"]) == 10 and obj["confidence"] == pytest.approx(max(obj["probabilities"]), abs=1e-5)
    assert set(objects[-1]) == {"path", "error"}
    correct = sum(obj["digit"] == files[Path(obj["path"])] for obj in objects[:4])
    assert correct >= 3  # the tiny model reads most of them


def test_all_good_files_exit_zero(tiny_store, image_files):
    _, files = image_files
    assert run("-m", "model_store", "predict", *map(str, files), store=tiny_store).returncode == 0


def test_list_prints_the_table(tiny_store):
    result = run("-m", "model_store", "list", store=tiny_store)
    assert result.returncode == 0
    header, bundled, tiny = result.stdout.splitlines()[:3]
    assert header.split() == ["NAME", "ARCHITECTURE", "TEST", "ACC", "PARAMS", "TRAIN", "S", "CREATED", "NOTE"]
    assert bundled.split()[:3] == ["*", "lab-default", "cnn-lab"] and bundled.endswith("bundled")
    assert tiny.split()[:2] == ["tiny", "dense-128"] and "101,770" in tiny


def test_evaluate_json_matches_the_stored_record(tiny_store):
    result = run("-m", "model_store", "evaluate", "--model", "tiny", "--json", store=tiny_store)
    report = json.loads(result.stdout)
    assert set(report) >= {"loss", "accuracy", "per_class_accuracy"} and len(report["per_class_accuracy"]) == 10
    stored = tiny_store.get("tiny").record["metrics"]
    assert report["accuracy"] == pytest.approx(stored["test_accuracy"], abs=1e-6)


def test_an_unknown_model_is_a_clear_error(tiny_store, image_files):
    _, files = image_files
    result = run("-m", "model_store", "predict", "--model", "nope", str(next(iter(files))), store=tiny_store)
    assert result.returncode == 2 and "no model named 'nope'" in result.stderr


def test_training_cli_lists_architectures_with_parameter_counts():
    result = subprocess.run(
        [sys.executable, "-m", "training", "--list-archs"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "cnn-small" in result.stdout and "34,826" in result.stdout and "118,282" in result.stdout


def test_training_cli_refuses_bad_options_naming_the_field(store):
    result = run("-m", "training", "--epochs", "0", "--store", str(store.root), store=store)
    assert result.returncode == 2 and "epochs:" in result.stderr


def test_ctrl_c_stops_training_and_stores_the_model(store):
    import signal

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    args = [
        "--arch",
        "dense-128",
        "--epochs",
        "500",
        "--train-limit",
        "3000",
        "--name",
        "interrupted",
        "--store",
        str(store.root),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "training", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = []
    for line in process.stdout:  # wait until it is training
        output.append(line)
        if line.startswith("Epoch 2/"):
            process.send_signal(signal.SIGINT)
            break
    rest, _ = process.communicate(timeout=120)
    text = "".join(output) + rest
    assert process.returncode == 0, text
    assert "stopped by user" in text and "Stored as 'interrupted'" in text
    assert store.get("interrupted").record["stopped_by"] == "user"
