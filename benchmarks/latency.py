"""Mouse-up to the answer on screen, in Chromium: the Draw page against the bare canvas page
(`benchmarks/bare_canvas.py`, the canvas and a metric, nothing else), in the same run.

    python -m benchmarks.latency [--sessions 12] [--fresh 8]

Two measures, the pages taking turns in each, so both see the same machine:
- sessions: each a fresh browser context, 1.5 s after the canvas shows its first stroke is
  timed, then, after Clear, the same digit again (a later stroke);
- fresh pages: a page opened, 1.2 s after the canvas shows one stroke drawn, and the page closed,
  as a student opens the page and starts drawing.

The Draw page's server first serves one session of its own (TensorFlow and the model loaded).
Prints the medians and the differences, then one JSON line: the medians, the gaps (Draw page minus
bare page) and the load average at the start and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from tests.browser import CHROMIUM, CHROMIUM_ARGS, SEVEN, WATCH, draw, running_app

PAGES = {"draw page": "app.py", "bare canvas": "benchmarks/bare_canvas.py"}
MEASURES = ("first", "later", "fresh")


def one_stroke(page, strokes) -> float:
    page.evaluate("() => Object.assign(window.__lat, {which: 0, up: null, done: null})")
    draw(page, strokes)
    page.wait_for_function("() => window.__lat.done", timeout=30_000)
    lat = page.evaluate("() => window.__lat")
    return lat["done"] - lat["up"]


def opened(browser, url: str, settle_ms: int):
    """A new browser context on `url`, `settle_ms` after its canvas shows (a person looks before
    drawing), the answer watched."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.locator("canvas").last.wait_for(timeout=60_000)
    page.wait_for_timeout(settle_ms)
    page.evaluate(WATCH)
    return context, page


def session(browser, url: str) -> tuple[float, float]:
    """(first stroke, a later stroke) in ms, for one fresh session."""
    context, page = opened(browser, url, 1500)
    first = one_stroke(page, SEVEN)
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'")
    page.wait_for_timeout(500)
    later = one_stroke(page, SEVEN)  # the same digit: a 1 is cheaper to draw and read
    context.close()
    return first, later


def fresh_page(browser, url: str) -> float:
    """The one stroke of a page just opened, in ms."""
    context, page = opened(browser, url, 1200)
    first = one_stroke(page, SEVEN)
    context.close()
    return first


def main(argv: list[str] | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=12, help="sessions on each page, first and later stroke (default 12)")
    p.add_argument("--fresh", type=int, default=8, help="fresh pages on each page, one stroke each (default 8)")
    args = p.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {name: {k: [] for k in MEASURES} for name in PAGES}
    load = [os.getloadavg()]
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
            for _ in range(args.fresh):
                for name, url in urls.items():
                    times[name]["fresh"].append(fresh_page(browser, url))
            browser.close()
    load.append(os.getloadavg())
    medians = {name: {k: round(statistics.median(v), 1) if v else None for k, v in t.items()} for name, t in times.items()}
    gap = {
        k: None if medians["draw page"][k] is None else round(medians["draw page"][k] - medians["bare canvas"][k], 1)
        for k in MEASURES
    }
    print(f"{'median ms, mouse-up to answer':32} {'first stroke':>14} {'later stroke':>14} {'fresh page':>14}")
    for name, row, form in [*((n, m, ">14.0f") for n, m in medians.items()), ("draw page minus bare canvas", gap, ">+14.0f")]:
        print(f"{name:32}" + "".join(f" {'-':>14}" if v is None else f" {v:{form}}" for v in row.values()))
    result = {"medians": medians, "gap": gap, "load_average": [[round(x, 1) for x in la] for la in load]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
