"""A classroom at once: many browser sessions draw and upload against one server for minutes.

Each session is its own Chromium context (its own Streamlit session). Three in four draw a
1, a 7 or a 0 with the mouse, read the answer, press Clear and pause like a person; the
fourth uploads a PNG of an MNIST test digit, reads the answer and removes the file. The time
to a prediction is taken inside the page: from mouse-up (or the upload starting) to the
answer on screen. The first phase runs alone; in the second a training run is in progress.

    LOAD_SESSIONS=30 LOAD_SECONDS=120 python -m pytest tests/test_load.py -s

Figures are printed (seen with `pytest -s`) and, with LOAD_REPORT=path, written as JSON; docs/reliability.md has them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, FIRST_UPLOAD, ONE, SEVEN, WATCH, ZERO, mouse_path, running_app
from tests.conftest import digit_on_canvas, image_file
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.load]

SESSIONS = int(os.environ.get("LOAD_SESSIONS", 20))
PHASE_SECONDS = float(os.environ.get("LOAD_SECONDS", 60))
THINK = (1.0, 3.0)  # seconds a person pauses between two digits
WAIT_MS = 60_000  # longer than this without an answer counts as an error
DRAWN = [("1", ONE), ("7", SEVEN), ("0", ZERO)]


@dataclass
class Stats:
    latencies: list[tuple[str, str, float]] = field(default_factory=list)  # (phase, draw or upload, ms)
    errors: list[str] = field(default_factory=list)
    phase: str = "warm-up"  # only the phases "alone" and "training" are counted
    ready: int = 0  # sessions with their page open


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core added up."""
    ticks = [int(t) for t in open("/proc/stat").readline().split()[1:9]]
    total = sum(ticks)
    return (total - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def upload_files(count: int) -> list[tuple[str, bytes]]:
    """PNGs of MNIST test digits that the bundled model reads right as files (not "not a digit"),
    named by their label."""
    from model_store import ModelStore, Predictor, load_mnist

    model, entry = ModelStore().load("lab-default")
    predictor = Predictor(model, entry.normalization, entry.temperature)
    _, (x, y) = load_mnist()
    files = []
    for i in range(len(y)):
        image = digit_on_canvas(x[i], dark_on_light=bool(i % 2))
        read = predictor.predict(image)
        if read.digit == y[i] and read.verdict() != "not_a_digit":
            files.append((f"test-{i}-is-{y[i]}.png", image_file(image)))
        if len(files) == count:
            return files
    raise AssertionError(f"only {len(files)} test digits read right")


async def answer(page, stats: Stats, expected: str, label: str) -> None:
    """Wait for the answer the watcher saw; record its latency, or an error naming what went wrong."""
    try:
        await page.wait_for_function("() => window.__lat.done", timeout=WAIT_MS)
    except Exception:
        stats.errors.append(f"{label}: no answer within {WAIT_MS / 1000:.0f} s")
        return
    done = await page.evaluate("() => window.__lat")
    if done["value"] != expected:
        stats.errors.append(f"{label}: read {done['value']}, expected {expected}")
    elif await page.get_by_test_id("stException").count():
        stats.errors.append(f"{label}: the page shows an exception")
    elif stats.phase in ("alone", "training"):
        stats.latencies.append((stats.phase, "upload" if done["which"] else "draw", done["done"] - done["up"]))


async def draw_one(page, strokes, stats: Stats, expected: str, label: str) -> None:
    await page.evaluate("() => Object.assign(window.__lat, {which: 0, up: null, done: null})")
    for path in mouse_path(await page.locator("canvas").last.bounding_box(), strokes):
        await page.mouse.move(*path[0][:2])
        await page.mouse.down()
        for x, y, steps in path[1:]:
            await page.mouse.move(x, y, steps=steps)
        await page.mouse.up()
    await answer(page, stats, expected, label)
    await page.get_by_role("button", name="Clear", exact=True).click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'", timeout=WAIT_MS
    )


async def upload_one(page, file: tuple[str, bytes], stats: Stats, label: str) -> None:
    name, data = file
    await page.evaluate(f"() => Object.assign(window.__lat, {{which: {FIRST_UPLOAD}, up: performance.now(), done: null}})")
    await page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )
    await answer(page, stats, name.split("-is-")[1][0], label)
    await page.get_by_test_id("stFileChipDeleteBtn").first.click()
    await page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stMetricValue]').length === n", arg=FIRST_UPLOAD, timeout=WAIT_MS
    )


async def session(browser, url: str, number: int, files, stats: Stats, until: list[float]) -> None:
    """One person: open the Draw page, then draw (or upload) and read until the test says stop."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda err: stats.errors.append(f"session {number}: page error {err}"))
    rng = random.Random(number)
    try:
        await page.goto(url, timeout=WAIT_MS)
        await page.wait_for_selector('[data-testid="stFileUploader"]', timeout=WAIT_MS)
        await page.locator("canvas").last.wait_for(timeout=WAIT_MS)
        await page.evaluate(WATCH)
        stats.ready += 1
        turn = number
        while time.monotonic() < until[0]:
            label = f"session {number}, turn {turn}, {stats.phase}"
            if number % 4 == 3:
                await upload_one(page, files[turn % len(files)], stats, label)
            else:
                digit, strokes = DRAWN[turn % len(DRAWN)]
                await draw_one(page, strokes, stats, digit, label)
            turn += 1
            await asyncio.sleep(rng.uniform(*THINK))
    except Exception as err:  # a timeout outside `answer`: the page stopped responding
        stats.errors.append(f"session {number}: {type(err).__name__}: {str(err).splitlines()[0]}")
    finally:
        await context.close()


def summary(latencies: list[tuple[str, str, float]], phase: str, cpu: tuple[float, float, float]) -> dict:
    """Predictions served in a phase, their latency (all, then drawings and uploads), the server's
    CPU time per prediction (every rerun it takes: stroke, Clear, upload...) and how busy the
    whole machine was (its browsers run on the server's own cores)."""
    served = sum(p == phase for p, _, _ in latencies)
    server, busy, total = cpu
    report = {
        "server_cpu_ms_per_prediction": round(1000 * server / max(served, 1)),
        "server_cpu_percent_of_machine": round(100 * server / total),
        "machine_cpu_busy_percent": round(100 * busy / total),
    }
    for kind in ("all", "draw", "upload"):
        ms = np.array([t for p, k, t in latencies if p == phase and kind in ("all", k)])
        report[kind] = {"predictions": len(ms)}
        if len(ms):
            report[kind] |= {
                "median_ms": round(float(np.median(ms))),
                "p95_ms": round(float(np.percentile(ms, 95))),
                "max_ms": round(float(ms.max())),
            }
    return report


async def classroom(app, sessions: int, seconds: float, start_training) -> dict:
    from playwright.async_api import async_playwright

    stats, memory = Stats(), []
    until = [float("inf")]
    files = upload_files(40)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await warm_up(browser, app.url)
        memory.append(("start", rss_mb(app.pid)))
        opening = time.monotonic()
        tasks = [asyncio.create_task(session(browser, app.url, n, files, stats, until)) for n in range(sessions)]
        while stats.ready < sessions and time.monotonic() - opening < 300 and not stats.errors:
            await asyncio.sleep(0.5)
        opened = time.monotonic() - opening
        await asyncio.sleep(5)  # every session under way
        memory.append(("all sessions open", rss_mb(app.pid)))
        stats.phase, before = "alone", cpu_now(app.pid)
        await asyncio.sleep(seconds)
        alone = cpu_since(app.pid, before)
        memory.append(("after the phase alone", rss_mb(app.pid)))
        stats.phase = "starting training"
        run = await asyncio.to_thread(start_training)
        stats.phase, before = "training", cpu_now(app.pid)
        await asyncio.sleep(seconds)
        training = cpu_since(app.pid, before)
        until[0] = 0  # every session ends after its current digit
        stats.phase = "ending"
        await asyncio.gather(*tasks)
        memory.append(("end", rss_mb(app.pid)))
        await browser.close()
    return {
        "sessions": sessions,
        "seconds_to_open_them_all": round(opened, 1),
        "phase_seconds": seconds,
        "alone": summary(stats.latencies, "alone", alone),
        "training": summary(stats.latencies, "training", training),
        "errors": stats.errors,
        "server_memory_mb": {k: round(v) for k, v in memory},
        "run": run,
    }


def cpu_now(pid: int) -> tuple[float, float, float]:
    return (cpu_seconds(pid), *machine_cpu())


def cpu_since(pid: int, before: tuple[float, float, float]) -> tuple[float, float, float]:
    """(server CPU, machine busy, machine total) seconds since `before`."""
    return tuple(now - then for now, then in zip(cpu_now(pid), before))


async def warm_up(browser, url: str) -> None:
    """One session first, so the model is loaded and traced before the clock starts."""
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_selector('[data-testid="stFileUploader"]', timeout=WAIT_MS)
    await page.evaluate(WATCH)
    stats = Stats()
    await draw_one(page, ONE, stats, "1", "warm-up")
    assert not stats.errors, stats.errors
    await page.close()


def test_a_classroom_draws_at_once_with_and_without_training(tmp_path, monkeypatch):
    from model_store import ModelStore
    from model_store.roles import Person
    from training.config import TrainConfig
    from training.runs import list_runs, read_run, request_stop, start_sync, submit_run

    owner = Person("load-test", "load-test", teacher=True)
    with running_app(tmp_path) as app:
        monkeypatch.setenv("MNIST_LAB_RUNS", str(tmp_path / "runs"))  # the server's runs
        store = ModelStore(app.models)
        start_sync()  # Ray up before the class arrives: its start is no part of what is measured

        def start_training() -> str:
            """Notebook C's network, queued on Ray as the Train page queues it; returns once it trains.
            Its worker loads TensorFlow on cores the 30 browsers keep busy: minutes on a loaded machine."""
            config = TrainConfig(name="during-load", arch="cnn-small", epochs=50, batch_size=32, train_limit=20_000)
            run_id = submit_run(config, store, owner)  # 50 epochs: over the class limit
            wait_for(lambda: read_run(run_id).events, 300, every=0.5, why=lambda: str(read_run(run_id)))
            assert read_run(run_id).status == "running", read_run(run_id)
            return run_id

        try:
            report = asyncio.run(classroom(app, SESSIONS, PHASE_SECONDS, start_training))
            batches = len(read_run(report["run"]).events)
        finally:  # a failure leaves no 50-epoch run holding a CPU for the tests after this one
            for left in list_runs():
                request_stop(left.id, owner)
            wait_for(lambda: all(r.finished for r in list_runs()), 60, every=0.5)
        run = read_run(report["run"])
        report["run"] = {"status": run.status, "progress_reports": batches}
        log = (tmp_path / "streamlit.log").read_text()

    print("\n" + json.dumps(report, indent=2))  # shown with -s, and with a failure
    if os.environ.get("LOAD_REPORT"):
        with open(os.environ["LOAD_REPORT"], "w") as f:
            json.dump(report, f, indent=2)

    assert report["errors"] == []
    assert "Traceback" not in log, log[-3000:]
    for phase in ("alone", "training"):
        assert report[phase]["all"]["predictions"] >= SESSIONS * PHASE_SECONDS / 20  # every session kept going
    memory = report["server_memory_mb"]
    assert memory["end"] - memory["all sessions open"] < 150, memory  # flat while serving
    assert memory["all sessions open"] - memory["start"] < 10 * SESSIONS, memory  # no model per session
    assert run.status == "stopped" and "during-load" in [m.name for m in store.list() if not m.broken]
