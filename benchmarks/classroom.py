"""A classroom drawing at once, without browsers: each student is a websocket client speaking
Streamlit's own protocol (the BackMsg and ForwardMsg protobufs that ship with Streamlit) exactly
as the Draw page's browser does, so the load lands on the server, not on Chromium.

    python -m benchmarks.classroom --students 30 --seconds 60 [--url http://127.0.0.1:8501] [--why]

Each student opens the Draw page, then draws digits stroke by stroke, a stroke every ~2 s
(randomised): the canvas component's value as the browser sends it (the strokes as fabric.js
paths and the canvas as a PNG). A stroke is timed from sending it to the prediction arriving;
after a digit's last stroke the answer must be that digit; then the student presses Clear. Prints
a table and, last, one JSON line:

    {"students", "replicas", "strokes", "errors", "p50_ms", "p95_ms", "server_cpu_ms_per_stroke", "kb_sent_per_stroke", "load_average"}

Server CPU is read from /proc for every `streamlit run app.py` process on this machine (the
replicas behind a proxy too); None when the server is elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.cookiejar
import json
import math
import os
import random
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import cv2
import numpy as np
import psutil
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.browser import CHROMIUM, CHROMIUM_ARGS, ONE, SEVEN, ZERO  # the browser tests' strokes and Chromium

CANVAS, BRUSH = 280, 22  # the Draw page's canvas and default brush
ANSWER_TIMEOUT = 30.0  # seconds: no answer by then counts as an error
# Digits as a person draws them on the canvas: strokes of (x, y) points. A 4 takes two strokes.
DIGITS = {1: ONE, 7: SEVEN, 0: ZERO, 4: [[(170, 40), (70, 170), (215, 170)], [(170, 40), (170, 250)]]}
# The fields fabric.js gives every freehand path; the server parses them all, so they are sent.
PATH_FIELDS = {
    "lockMovementX": False, "lockMovementY": False, "lockRotation": False, "lockScalingX": False,
    "lockScalingY": False, "lockSkewingX": False, "lockSkewingY": False, "lockScalingFlip": False,
    "type": "Path", "version": "7.4.0", "originX": "center", "originY": "center", "fill": None,
    "stroke": "#FFFFFF", "strokeWidth": BRUSH, "strokeDashArray": None, "strokeLineCap": "round",
    "strokeDashOffset": 0, "strokeLineJoin": "round", "strokeUniform": False, "strokeMiterLimit": 10,
    "scaleX": 1, "scaleY": 1, "angle": 0, "flipX": False, "flipY": False, "opacity": 1, "shadow": None,
    "visible": True, "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
    "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0,
}  # fmt: skip


# ---------------------------------------------------------------- what the canvas sends


def densify(stroke: list[tuple[float, float]], step: float = 4.0) -> list[tuple[float, float]]:
    """A stroke as the mouse reports it: a point every few pixels."""
    points = [stroke[0]]
    for a, b in zip(stroke, stroke[1:]):
        n = max(1, int(math.dist(a, b) / step))
        points += [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(1, n + 1)]
    return points


def fabric_path(points: list[tuple[float, float]]) -> dict:
    """One freehand stroke as fabric.js describes it: quadratic segments through the midpoints."""
    path = [["M", *points[0]]]
    for p, q in zip(points, points[1:]):
        path.append(["Q", p[0], p[1], (p[0] + q[0]) / 2, (p[1] + q[1]) / 2])
    path.append(["L", *points[-1]])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    box = {
        "left": (min(xs) + max(xs)) / 2,
        "top": (min(ys) + max(ys)) / 2,
        "width": max(xs) - min(xs),
        "height": max(ys) - min(ys),
    }
    return {**PATH_FIELDS, **box, "path": path}


def canvas_png(strokes: list[list[tuple[float, float]]]) -> str:
    """The canvas as the component's data URL: white round strokes on black, RGBA."""
    image = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    image[..., 3] = 255
    for points in strokes:
        line = np.array(points, np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [line], False, (255, 255, 255, 255), BRUSH, cv2.LINE_AA)
    return "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def canvas_value(strokes: list[list[tuple[float, float]]]) -> str:
    """The component's value after these strokes: {"drawing": {"raw": fabric JSON, "data": PNG}}."""
    raw = {"version": "7.4.0", "objects": [fabric_path(s) for s in strokes], "background": "#000000"}
    return json.dumps({"drawing": {"raw": raw, "data": canvas_png(strokes) if strokes else None}}, separators=(",", ":"))


def jittered(strokes, rng: random.Random):
    """The same digit drawn a little bigger or smaller, a little to one side, as each hand does."""
    scale, dx, dy = rng.uniform(0.85, 1.05), rng.uniform(-12, 12), rng.uniform(-12, 12)
    return [densify([(140 + (x - 140) * scale + dx, 140 + (y - 140) * scale + dy) for x, y in s]) for s in strokes]


# ---------------------------------------------------------------- one student's session


def cookies_of(url: str) -> str:
    """GET the page first, as a browser does: Streamlit's XSRF cookie, and a proxy's sticky one."""
    jar = http.cookiejar.CookieJar()
    urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)).open(url, timeout=30).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def widget_id(element) -> str | None:
    kind = element.WhichOneof("type")
    return getattr(getattr(element, kind), "id", None) if kind else None


@dataclass
class Session:
    """One websocket to the app, read by a task of its own."""

    ws: object
    canvas: str = ""  # the canvas's widget id, learnt from the first page
    clear: str = ""  # the Clear button's
    why: str = ""  # the "Why?" toggle's, once shown (after a first stroke)
    explain: bool = False  # keep "Why?" on: each stroke also sends the toggle, as a browser sends every widget
    fragment: str = ""  # the fragment holding them
    page: str = ""  # the Draw page's script hash
    finished: asyncio.Queue = field(default_factory=asyncio.Queue)
    answer: str | None = None  # the last "Prediction" metric received
    answered: float | None = None  # when it came (perf_counter): the rest of the rerun may follow later
    alerts: list[str] = field(default_factory=list)  # the warnings and errors shown, as they came
    received: int = 0  # bytes the server sent

    async def read(self) -> None:
        async for raw in self.ws:
            self.received += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.page = msg.new_session.page_script_hash
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "metric" and element.metric.label == "Prediction":
                    self.answer, self.answered = element.metric.body, time.perf_counter()
                elif element.WhichOneof("type") == "alert":
                    self.alerts.append(element.alert.body)
                wid = widget_id(element) or ""
                if wid.endswith("-draw_canvas"):
                    self.canvas, self.fragment = wid, msg.delta.fragment_id
                elif wid.endswith("-draw_clear"):
                    self.clear = wid
                elif wid.endswith("-draw_why"):
                    self.why = wid
            elif kind == "script_finished":
                await self.finished.put(msg.script_finished)

    async def run(self, widgets: list | None = None, fragment: bool = False) -> str | None:
        """Send one rerun (a whole page, or the drawing fragment) and wait for it to finish; the
        prediction it showed."""
        back = BackMsg()
        state = back.rerun_script
        state.page_script_hash = self.page
        if fragment:
            state.fragment_id = self.fragment
        for w in widgets or []:
            state.widget_states.widgets.append(w)
        self.answer = self.answered = None
        await self.ws.send(back.SerializeToString())
        await asyncio.wait_for(self.finished.get(), ANSWER_TIMEOUT)
        return self.answer

    async def stroke(self, strokes) -> str | None:
        widgets = BackMsg().rerun_script.widget_states.widgets
        w = widgets.add()
        w.id, w.json_value = self.canvas, canvas_value(strokes)
        if self.explain and self.why:
            toggle = widgets.add()
            toggle.id, toggle.bool_value = self.why, True
        return await self.run(list(widgets), fragment=True)

    async def press_clear(self) -> None:
        """Clear, then the empty canvas reporting back, as the component does after a clear."""
        w = BackMsg().rerun_script.widget_states.widgets.add()
        w.id, w.trigger_value = self.clear, True
        await self.run([w], fragment=True)
        await self.stroke([])


@dataclass
class Tally:
    times_ms: list[float] = field(default_factory=list)
    digits: int = 0
    errors: list[str] = field(default_factory=list)
    own_cpu: float = 0.0  # this generator's CPU seconds while the class drew
    received: int = 0  # bytes the server sent while the class drew


@dataclass
class Start:
    """Every student opens the page first; the drawing (and the measuring) starts once all have."""

    students: int
    ready: int = 0
    go: asyncio.Event = field(default_factory=asyncio.Event)
    deadline: float = 0.0

    def arrived(self) -> None:
        self.ready += 1
        if self.ready == self.students:
            self.go.set()


async def student(n: int, url: str, start: Start, tally: Tally, check: bool = True, explain: bool = False) -> None:
    rng = random.Random(n)
    opened = False
    await asyncio.sleep(rng.uniform(0, 2))  # a class does not start in the same millisecond
    try:
        cookies = await asyncio.to_thread(cookies_of, url)
        parts = urllib.parse.urlsplit(url)
        ws_url = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        headers = {"Cookie": cookies, "Origin": f"{parts.scheme}://{parts.netloc}"}
        async with websockets.connect(ws_url, subprotocols=["streamlit"], additional_headers=headers, max_size=None) as ws:
            session = Session(ws, explain=explain)
            reader = asyncio.create_task(session.read())
            await asyncio.wait_for(session.run(), 120)  # the Draw page, as a browser first opens it
            if not (session.canvas and session.clear):
                raise RuntimeError("the Draw page showed no canvas")
            opened = True
            start.arrived()
            await start.go.wait()
            session.received = 0  # opening the page is not counted
            while time.monotonic() < start.deadline:
                await draw_a_digit(session, rng, tally, start.deadline, check)
            reader.cancel()
            tally.received += session.received
    except Exception as err:  # a refused connection, a dropped socket, a timeout
        tally.errors.append(f"student {n}: {type(err).__name__}: {err}")
    finally:
        if not opened:
            start.arrived()  # the others need not wait for this one


async def draw_a_digit(session: Session, rng: random.Random, tally: Tally, deadline: float, check: bool) -> None:
    digit = rng.choice(list(DIGITS))
    strokes = jittered(DIGITS[digit], rng)
    for k in range(len(strokes)):
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # a stroke every ~2 s
        if time.monotonic() > deadline:
            return
        started = time.perf_counter()
        answer = await session.stroke(strokes[: k + 1])
        tally.times_ms.append(((session.answered or time.perf_counter()) - started) * 1000)  # to the answer
        if k == len(strokes) - 1 and check:
            tally.digits += 1
            if answer != str(digit):
                tally.errors.append(f"drew a {digit}, the page said {answer!r}")
    await asyncio.sleep(rng.uniform(0.3, 1.0))
    await session.press_clear()


# ---------------------------------------------------------------- the same student in Chromium


async def browser_student(n: int, url: str, start: Start, tally: Tally, browser) -> None:
    """The same strokes drawn with the mouse in a real browser, to check that the generator costs
    the server what browsers do (`--browsers`). Answers are checked; times are not taken (the
    canvas itself waits 200 ms after mouse-up before it sends a stroke)."""
    rng = random.Random(n)
    opened = False
    try:
        context = await browser.new_context(viewport={"width": 1280, "height": 1000})
        page = await context.new_page()
        await page.goto(url)
        canvas = page.locator("canvas").last
        await canvas.wait_for(timeout=120_000)
        await page.wait_for_timeout(1000)
        opened = True
        start.arrived()
        await start.go.wait()
        box = await canvas.bounding_box()
        answer = page.get_by_test_id("stMetricValue").first
        while time.monotonic() < start.deadline:
            digit = rng.choice(list(DIGITS))
            for stroke in jittered(DIGITS[digit], rng):
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                await page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                await page.mouse.down()
                for x, y in stroke[1:]:
                    await page.mouse.move(box["x"] + x, box["y"] + y)
                await page.mouse.up()
                tally.times_ms.append(float("nan"))  # counted, not timed
            await page.wait_for_timeout(1500)
            tally.digits += 1
            if (await answer.inner_text()).strip() != str(digit):
                tally.errors.append(f"drew a {digit}, the page said {(await answer.inner_text()).strip()!r}")
            await page.get_by_role("button", name="Clear", exact=True).click()
            await page.wait_for_timeout(500)
        await context.close()
    except Exception as err:
        tally.errors.append(f"browser {n}: {type(err).__name__}: {err}")
    finally:
        if not opened:
            start.arrived()


# ---------------------------------------------------------------- the servers' CPU


def app_processes(url: str) -> list[psutil.Process]:
    """The app serving `url` when it listens there itself; behind a proxy, every `streamlit run
    app.py` on this machine (the replicas). None found: the server is on another machine."""
    port = urllib.parse.urlsplit(url).port or 80
    listening = {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    streamlits = [p for p in psutil.process_iter(["cmdline"]) if any("streamlit" in part for part in p.info["cmdline"] or [])]
    direct = [p for p in streamlits if p.pid in listening]
    return direct or [p for p in streamlits if _is_app(p.info["cmdline"])]


def _is_app(cmdline: list[str]) -> bool:
    return any("streamlit" in part for part in cmdline) and "run" in cmdline and any(part.endswith("app.py") for part in cmdline)


def cpu_seconds(processes: list[psutil.Process]) -> list[float]:
    """Each process's CPU seconds so far."""
    seconds = []
    for p in processes:
        try:
            t = p.cpu_times()
            seconds.append(t.user + t.system)
        except psutil.NoSuchProcess:
            seconds.append(0.0)
    return seconds


# ---------------------------------------------------------------- the whole class


async def classroom(
    url: str,
    students: int,
    seconds: float,
    servers: list[psutil.Process],
    check: bool = True,
    browser=None,
    explain: bool = False,
) -> tuple[Tally, float, list[float]]:
    """The tally, the seconds drawn and the servers' CPU seconds meanwhile (opening the pages,
    which loads the model once, is not counted). With `browser` (Playwright's), Chromium draws."""
    tally, start = Tally(), Start(students)
    if browser is not None:
        everyone = asyncio.gather(*(browser_student(n, url, start, tally, browser) for n in range(students)))
    else:
        everyone = asyncio.gather(*(student(n, url, start, tally, check, explain) for n in range(students)))
    await start.go.wait()
    before, began, own = cpu_seconds(servers), time.monotonic(), time.process_time()
    start.deadline = began + seconds
    await everyone
    tally.own_cpu = time.process_time() - own
    return tally, time.monotonic() - began, [b - a for a, b in zip(before, cpu_seconds(servers))]


async def in_chromium(url: str, students: int, seconds: float, servers) -> tuple[Tally, float, list[float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        result = await classroom(url, students, seconds, servers, browser=browser)
        await browser.close()
        return result


def percentile(values: list[float], q: float) -> float | None:
    timed = [v for v in values if v == v]  # Chromium's strokes are counted, not timed (NaN)
    return float(np.percentile(timed, q)) if timed else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def report(tally: Tally, students: int, seconds: float, per_process: list[float]) -> dict:
    strokes, replicas = len(tally.times_ms), len(per_process)
    cpu = sum(per_process) if per_process else None
    result = {
        "students": students,
        "replicas": replicas,
        "strokes": strokes,
        "errors": len(tally.errors),
        "p50_ms": _rounded(percentile(tally.times_ms, 50)),
        "p95_ms": _rounded(percentile(tally.times_ms, 95)),
        "server_cpu_ms_per_stroke": round(cpu * 1000 / strokes, 1) if cpu is not None and strokes else None,
        "kb_sent_per_stroke": round(tally.received / 1000 / strokes, 1) if strokes else None,
        "load_average": [round(x, 1) for x in os.getloadavg()],  # the machine's, as the class finished: timings swing with it
    }
    rows = [
        ("students", students),
        ("app processes", replicas),
        ("strokes answered", strokes),
        ("strokes a second", f"{strokes / seconds:.1f}"),
        ("digits checked", tally.digits),
        ("errors", len(tally.errors)),
        ("stroke to answer, median", f"{result['p50_ms']} ms"),
        ("stroke to answer, 95th percentile", f"{result['p95_ms']} ms"),
        ("slowest", f"{max(tally.times_ms):.0f} ms" if result["p50_ms"] is not None else "-"),
        ("server CPU per stroke", f"{result['server_cpu_ms_per_stroke']} ms" if cpu is not None else "not on this machine"),
        ("each app process's share of it", " / ".join(f"{c / cpu:.0%}" for c in per_process) if cpu else "-"),
        ("sent to the browser per stroke", f"{result['kb_sent_per_stroke']} KB" if strokes else "-"),
        ("this generator's CPU per stroke", f"{tally.own_cpu * 1000 / strokes:.1f} ms" if strokes else "-"),
    ]
    for name, value in rows:
        print(f"{name:36} {value}")
    for error in tally.errors[:10]:
        print(f"  error: {error}")
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.classroom", description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=30, help="simulated students drawing at once (default 30)")
    p.add_argument("--seconds", type=float, default=60, help="how long they draw (default 60)")
    p.add_argument("--url", default="http://127.0.0.1:8501", help="the app, or the proxy in front of its replicas")
    p.add_argument("--bare", action="store_true", help="the server runs benchmarks/bare_canvas.py: answers are not checked")
    p.add_argument("--browsers", action="store_true", help="draw in Chromium instead, to compare the server's figures")
    p.add_argument("--why", action="store_true", help="every student has the Draw page's Why? panel on")
    p.add_argument("--pid", type=int, action="append", help="an app process to measure (default: found from the URL)")
    args = p.parse_args(argv)
    servers = [psutil.Process(pid) for pid in args.pid] if args.pid else app_processes(args.url)
    if args.browsers:
        tally, elapsed, per_process = asyncio.run(in_chromium(args.url, args.students, args.seconds, servers))
    else:
        tally, elapsed, per_process = asyncio.run(
            classroom(args.url, args.students, args.seconds, servers, not args.bare, explain=args.why)
        )
    result = report(tally, args.students, elapsed, per_process)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
