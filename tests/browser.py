"""What the browser tests share: the app served by `streamlit run`, Chromium's flags, and a
person's strokes on the canvas. Needs Debian's Chromium at /usr/bin/chromium."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.replicas import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Strokes in canvas pixels (280x280), as a person draws them.
ONE = [[(140, 40), (140, 240)]]
SEVEN = [[(70, 50), (210, 50), (120, 240)]]
ZERO = [[(140 + 70 * math.sin(t / 20 * 2 * math.pi), 140 - 100 * math.cos(t / 20 * 2 * math.pi)) for t in range(21)]]
# A five-pointed star in one stroke, as a child draws it.
STAR = [[(140 + 100 * math.sin(k * 4 * math.pi / 5), 150 - 100 * math.cos(k * 4 * math.pi / 5)) for k in range(6)]]


# The page has finished its run: nothing is left from the run before (a click on such a stale
# element can name a widget the new run no longer has, and be lost) and the app is not running.
SETTLED = """() => !document.querySelector('[data-stale="true"]')
  && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')"""


def settle(page, timeout: int = 60_000) -> None:
    page.wait_for_function(SETTLED, timeout=timeout)


# The Draw page's metrics, in AppTest and on screen alike: the canvas's answer, the grid's, then one
# per uploaded file, so the first uploaded file's is this one.
FIRST_UPLOAD = 2
# Times the answer inside the page: `which` is the metric to watch (0: the drawing's, FIRST_UPLOAD:
# the first uploaded file's), `up` the moment the input left the person.
WATCH = """() => {
  window.__lat = {};
  window.addEventListener('mouseup', () => { if (window.__lat.which === 0) window.__lat.up = performance.now(); }, true);
  new MutationObserver(() => {
    const lat = window.__lat;
    const el = document.querySelectorAll('[data-testid="stMetricValue"]')[lat.which];
    if (lat.up && !lat.done && el && el.innerText.trim() !== '-') {
      lat.done = performance.now();
      lat.value = el.innerText.trim();
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclasses.dataclass
class App:
    url: str
    models: Path  # the server's own store
    pid: int  # the server's process, for its memory


@contextlib.contextmanager
def running_app(folder: Path, script: str = "app.py", flags: tuple[str, ...] = (), port: int | None = None, **env):
    """`streamlit run app.py` on a free port with its own store, runs, class data and log in `folder` (an empty
    store: the bundled model serves); `script` another page to serve; `flags` more of Streamlit's
    options (`--secrets.files=...`); `port` a port chosen beforehand; `env` adds to its environment (e.g. RAY_ADDRESS)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    port = port or free_port()
    models, log = folder / "models", folder / "streamlit.log"
    env = {
        **os.environ,
        "MNIST_LAB_MODELS": str(models),
        "MNIST_LAB_RUNS": str(folder / "runs"),
        "MNIST_LAB_DATA": str(folder / "data"),
        **env,
    }
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true", "--server.address=127.0.0.1"]
    command += [f"--server.port={port}", *flags]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the app did not start: " + log.read_text()[-2000:])
    try:
        yield App(url, models, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def mouse_path(box: dict, strokes, scale: float = 1.0, offset=(0, 0)) -> list[list[tuple[float, float, int]]]:
    """Each stroke as page points (x, y, steps to reach it), scaled down and shifted to draw small."""
    paths = []
    for stroke in strokes:
        points = [(box["x"] + offset[0] + x * scale, box["y"] + offset[1] + y * scale) for x, y in stroke]
        steps = [1] + [max(2, int(math.dist(a, b) / 8)) for a, b in zip(points, points[1:])]
        paths.append([(x, y, n) for (x, y), n in zip(points, steps)])
    return paths


def draw(page, strokes, scale=1.0, offset=(0, 0)) -> None:
    """Draw strokes on the canvas with the mouse (Playwright's sync API)."""
    for path in mouse_path(page.locator("canvas").last.bounding_box(), strokes, scale, offset):
        page.mouse.move(*path[0][:2])
        page.mouse.down()
        for x, y, steps in path[1:]:
            page.mouse.move(x, y, steps=steps)
        page.mouse.up()


def touch_draw(page, strokes, scale=1.0, offset=(0, 0)) -> None:
    """Draw strokes with a finger: Chrome DevTools Protocol touch events (the page's context needs
    `has_touch=True`), as a tablet or phone sends them."""
    cdp = page.context.new_cdp_session(page)
    for path in mouse_path(page.locator("canvas").last.bounding_box(), strokes, scale, offset):
        (x, y, _), *rest = path
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for (x0, y0, _), (x1, y1, steps) in zip(path, rest):
            for i in range(1, steps + 1):
                point = {"x": x0 + (x1 - x0) * i / steps, "y": y0 + (y1 - y0) * i / steps}
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
