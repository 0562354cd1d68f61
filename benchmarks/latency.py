"""Mouse-up to the answer on screen, in Chromium: the Draw page against the bare canvas page
(`benchmarks/bare_canvas.py`, the canvas and a metric, nothing else), in the same run.

    python -m benchmarks.latency [--sessions 12]

Each session is a fresh browser context: its first stroke is timed (a session's first answer
used to come ~100 ms later than the rest), then, after Clear, the same digit again. The two pages take turns,
so both see the same machine. Prints the medians and the differences.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.browser import CHROMIUM, CHROMIUM_ARGS, SEVEN, WATCH, draw, running_app

PAGES = {"draw page": "app.py", "bare canvas": "benchmarks/bare_canvas.py"}


def one_stroke(page, strokes) -> float:
    page.evaluate("() => Object.assign(window.__lat, {which: 0, up: null, done: null})")
    draw(page, strokes)
    page.wait_for_function("() => window.__lat.done", timeout=30_000)
    lat = page.evaluate("() => window.__lat")
    return lat["done"] - lat["up"]


def session(browser, url: str) -> tuple[float, float]:
    """(first stroke, a later stroke) in ms, for one fresh session."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.locator("canvas").last.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the page settled, as a person looks before drawing
    page.evaluate(WATCH)
    first = one_stroke(page, SEVEN)
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'")
    page.wait_for_timeout(500)
    later = one_stroke(page, SEVEN)  # the same digit: a 1 is cheaper to draw and read
    context.close()
    return first, later


def main(argv: list[str] | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=12, help="fresh sessions on each page (default 12)")
    args = p.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {name: {"first": [], "later": []} for name in PAGES}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        folders = {name: Path(tmp) / name.replace(" ", "-") for name in PAGES}
        for folder in folders.values():
            folder.mkdir()
        with running_app(folders["draw page"]) as draw_app, running_app(folders["bare canvas"], PAGES["bare canvas"]) as bare:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            urls = {"draw page": draw_app.url, "bare canvas": bare.url}
            session(browser, draw_app.url)  # the Draw page's server loads TensorFlow and the model once
            for _ in range(args.sessions):
                for name, url in urls.items():
                    first, later = session(browser, url)
                    times[name]["first"].append(first)
                    times[name]["later"].append(later)
            browser.close()
    medians = {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}
    print(f"{'median ms, mouse-up to answer':32} {'first stroke':>14} {'later stroke':>14}")
    for name, m in medians.items():
        print(f"{name:32} {m['first']:>14.0f} {m['later']:>14.0f}")
    gap = {k: medians["draw page"][k] - medians["bare canvas"][k] for k in ("first", "later")}
    print(f"{'draw page minus bare canvas':32} {gap['first']:>+14.0f} {gap['later']:>+14.0f}")
    return {"medians": medians, "gap": gap}


if __name__ == "__main__":
    main()
