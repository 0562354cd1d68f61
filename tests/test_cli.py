"""The command lines, run as a person runs them, on real image files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_store.backend import VERBOSE
from tests.conftest import digit_on_canvas, image_file
from training.config import HELP, MONITORS, OPTIMIZERS, SCHEDULES, TrainConfig

ROOT = Path(__file__).resolve().parent.parent
# A command line run in a new process that loads TensorFlow (seconds each): out of the fast lane.
SLOW_COMMAND = pytest.mark.slow


def run(*args: str, store, **extra_env) -> subprocess.CompletedProcess:
    """A command as a person types it: no log settings of our own in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE)}
    env["MNIST_LAB_MODELS"] = str(store.root)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**env, **extra_env}, capture_output=True, text=True, timeout=300
    )


# TensorFlow's start-up lines: absl's, the oneDNN and CPU notes, the CUDA probe on a machine without a GPU.
TF_LOGS = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuda|oneDNN|cpu_feature_guard|rebuild TensorFlow", re.M | re.I)


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


@SLOW_COMMAND
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


@SLOW_COMMAND
def test_predict_json_gives_one_object_per_line(tiny_store, image_files):
    folder, files = image_files
    names = [str(p) for p in files] + [str(folder / "notes.png")]
    result = run("-m", "model_store", "predict", "--json", "--model", "tiny", *names, store=tiny_store)
    objects = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(objects) == 5 and result.returncode == 1
    for obj, path in zip(objects, files, strict=False):
        assert set(obj) == {"path", "digit", "confidence", "probabilities", "not_a_digit", "verdict"} and obj["path"] == str(path)
        assert len(obj["probabilities"]) == 10 and obj["confidence"] == pytest.approx(max(obj["probabilities"]), abs=1e-5)
        assert obj["not_a_digit"] == 0.0  # tiny has ten outputs: it cannot say "not a digit"
        assert obj["verdict"] == ("digit" if obj["confidence"] >= 0.6 else "unsure")  # tiny has no calibration
    assert set(objects[-1]) == {"path", "error"}
    correct = sum(obj["digit"] == files[Path(obj["path"])] for obj in objects[:4])
    assert correct >= 3  # the tiny model reads most of them


@SLOW_COMMAND
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


@SLOW_COMMAND
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
    # Where it looked, and the names it could have been.
    assert tiny_store.where in result.stderr and "bundled" in result.stderr and "tiny" in result.stderr
    assert result.stderr.strip().endswith("the models are: lab-default, tiny")


@SLOW_COMMAND
def test_a_blank_or_dot_image_says_why_there_is_nothing_to_read(tiny_store, tmp_path):
    import cv2

    (tmp_path / "white.png").write_bytes(image_file(np.full((100, 100), 255, np.uint8)))
    (tmp_path / "dot.png").write_bytes(image_file(255 - cv2.circle(np.zeros((280, 280), np.uint8), (90, 90), 9, 255, -1)))
    result = run("-m", "model_store", "predict", str(tmp_path / "white.png"), str(tmp_path / "dot.png"), store=tiny_store)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'white.png'}: error: nothing to read: no ink found (the image is one even shade)",
        f"{tmp_path / 'dot.png'}: error: nothing to read: just a dot or a blob, not a digit",
    ]


@SLOW_COMMAND
def test_predict_json_says_blank_and_the_bundled_models_calibrated_confidence_and_verdict(tiny_store, tmp_path, mnist_test):
    import cv2

    from model_store import ModelStore, Predictor
    from model_store.predict import tempered

    (tmp_path / "white.png").write_bytes(image_file(np.full((100, 100), 255, np.uint8)))
    (tmp_path / "seven.png").write_bytes(image_file(digit_on_canvas(mnist_test[0][0])))
    blend = np.maximum(digit_on_canvas(mnist_test[0][0]), cv2.flip(digit_on_canvas(mnist_test[0][1]), 1))
    (tmp_path / "blend.png").write_bytes(image_file(blend))
    files = [str(tmp_path / name) for name in ("white.png", "seven.png", "blend.png")]
    result = run("-m", "model_store", "predict", "--json", *files, store=tiny_store)  # the bundled default
    blank, seven, blend_line = (json.loads(line) for line in result.stdout.splitlines())
    assert result.returncode == 1 and blank["verdict"] == "blank" and blank["digit"] is None and "no ink" in blank["reason"]
    assert seven["digit"] == 7 and seven["verdict"] == "digit"
    # The confidence shown is the calibrated one: the model's own, tempered by its temperature.
    model, entry = ModelStore(tiny_store.root).load("lab-default")
    assert entry.calibration and entry.temperature != 1.0
    raw = Predictor(model, entry.normalization).predict(np.asarray(Image.open(files[2])))
    expected = tempered(raw.probabilities, entry.temperature).max()
    assert blend_line["confidence"] == pytest.approx(float(expected), abs=1e-5)
    # A 7 over a mirrored 2 is hardly a digit: the calibrated chance of "not a digit" decides.
    calibrated = Predictor(model, entry.normalization, entry.temperature).predict(np.asarray(Image.open(files[2])))
    assert blend_line["not_a_digit"] == pytest.approx(calibrated.not_digit, abs=1e-5) and calibrated.not_digit != raw.not_digit
    assert blend_line["verdict"] == calibrated.verdict(entry.unsure_below)


@SLOW_COMMAND
def test_the_bundled_model_says_a_printed_letter_and_a_drawn_star_are_not_digits(tiny_store, tmp_path, mnist_test):
    import cv2

    from tests.browser import STAR

    letter = np.full((120, 100), 255, np.uint8)  # a printed K, black on white paper
    cv2.putText(letter, "K", (12, 100), cv2.FONT_HERSHEY_DUPLEX, 3.5, 0, 8, cv2.LINE_AA)
    star = np.zeros((280, 280), np.uint8)  # the browser test's star, as the canvas exports it
    cv2.polylines(star, [np.array(STAR[0], np.int32)], False, 255, 22, cv2.LINE_AA)
    images = {"letter.png": letter, "star.png": star, "seven.png": digit_on_canvas(mnist_test[0][0])}
    images["dot.png"] = cv2.circle(np.zeros((280, 280), np.uint8), (90, 90), 9, 255, -1)
    for name, image in images.items():
        (tmp_path / name).write_bytes(image_file(image))
    result = run("-m", "model_store", "predict", "--json", *(str(tmp_path / n) for n in images), store=tiny_store)
    lines = {Path(line["path"]).name: line for line in map(json.loads, result.stdout.splitlines())}
    assert [lines[n]["verdict"] for n in images] == ["not_a_digit", "not_a_digit", "digit", "blank"]
    assert lines["star.png"]["not_a_digit"] > 0.5 and lines["seven.png"]["not_a_digit"] < 0.01
    assert lines["seven.png"]["digit"] == 7 and len(lines["star.png"]["probabilities"]) == 10  # what it would be, kept
    plain = run("-m", "model_store", "predict", str(tmp_path / "star.png"), store=tiny_store).stdout
    assert plain.startswith(f"{tmp_path / 'star.png'}: not a digit (")


@SLOW_COMMAND
def test_no_command_shows_tensorflow_start_up_logs_unless_asked(tiny_store, image_files, tmp_path):
    _, files = image_files
    digit = str(next(iter(files)))
    tiny_run = ["--arch", "dense-128", "--epochs", "1", "--train-limit", "640", "--validation", "none"]
    commands = [
        ["-m", "model_store", "list"],
        ["-m", "model_store", "predict", "--model", "tiny", digit],
        ["-m", "training", "--list-archs"],
        ["-m", "training", *tiny_run, "--name", "quiet", "--store", str(tmp_path)],
    ]
    for command in commands:
        result = run(*command, store=tiny_store)
        assert result.returncode == 0, result.stderr
        assert not TF_LOGS.search(result.stdout + result.stderr), (command, result.stderr)
    # The detail comes back when asked for, so the check above can fail.
    loud = run("-m", "model_store", "--verbose", "predict", "--model", "tiny", digit, store=tiny_store)
    assert TF_LOGS.search(loud.stderr) and loud.returncode == 0
    assert TF_LOGS.search(run("-m", "model_store", "predict", digit, store=tiny_store, **{VERBOSE: "1"}).stderr)


@pytest.mark.parametrize(
    "command",
    [
        ["training", "--help"],
        ["training", "--list-archs"],
        ["model_store", "list"],
        ["model_store", "predict", "--model", "nosuch", "x.png"],
    ],
)
def test_help_and_listings_answer_without_loading_tensorflow(tiny_store, command):
    probe = (
        "import runpy, sys\n"
        f"sys.argv = {command!r}\n"
        "try:\n    runpy.run_module(sys.argv[0], run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('TENSORFLOW', 'tensorflow' in sys.modules)"
    )
    result = run("-c", probe, store=tiny_store)
    assert result.stdout.strip().splitlines()[-1] == "TENSORFLOW False", result.stdout + result.stderr


def test_training_help_explains_every_option_with_its_values_and_default():
    result = subprocess.run([sys.executable, "-m", "training", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    text = re.sub(r"\s+", "", result.stdout)  # argparse wraps lines, even inside words like "one-hot"
    for field in dataclasses.fields(TrainConfig):
        flag, help_text = "--" + field.name.replace("_", "-"), re.sub(r"\s+", "", HELP[field.name])
        assert flag in text and help_text + "(default:" in text, flag
    for choices in (OPTIMIZERS, SCHEDULES, MONITORS, ("sparse", "categorical"), ("scale", "l2"), ("split", "test", "none")):
        assert all(choice in text for choice in choices)
    assert "--lossLOSScross-entropyonsparse(integer)orcategorical(one-hot)labels" in text
    assert "(default:constant)" in text and "(default:unset)" in text and "(default:off)" in text


@SLOW_COMMAND
def test_checksets_prints_each_set_and_saves_a_sheet_of_each(tiny_store, tmp_path):
    result = run("-m", "training.checksets", "--model", "lab-default", "--n", "32", "--save", str(tmp_path), store=tiny_store)
    assert result.returncode == 0, result.stderr
    for name in ("canvas", "printed", "scans", "strokes"):
        assert re.search(rf"^{name} +\d+\.\d\d%", result.stdout, re.M), result.stdout
        assert Image.open(tmp_path / f"{name}.png").size == (8 * 96, 4 * 96)
    # The scans, gray and 1-bit apart: together they make up the set and its accuracy.
    scans = float(re.search(r"^scans +(\d+\.\d\d)%", result.stdout, re.M)[1])
    gray, n_gray, one_bit, n_one_bit = map(
        float, re.search(r"gray (\S+)% of (\d+), 1-bit (\S+)% of (\d+)", result.stdout).groups()
    )
    assert n_gray + n_one_bit == 32 and n_gray > 0 and n_one_bit > 0
    assert (gray * n_gray + one_bit * n_one_bit) / 32 == pytest.approx(scans, abs=0.01)
    assert "held-out non-digits called not a digit" in result.stdout
