"""A term of history against an empty store: does every page stay as fast?

    python -m benchmarks.term [--models 300] [--runs 2000] [--drawings 20000] [--people 30] [--engines]

Builds two class folders (models, runs, class data): one empty, one holding a term (MODELS
models, RUNS finished runs with their progress, DRAWINGS class drawings by PEOPLE writers). For
each, in one run, it serves the app (one process, on 127.0.0.1), lets 8 protocol-level students
draw for 20 s (`benchmarks.classroom`: server CPU per stroke, p95), and opens each page in
Chromium three times: from `goto` to the page's script having finished (Streamlit's own
`data-test-script-state`), median. Prints one JSON line: each figure for both, and the ratio
term / empty (the goal: every ratio within 1.25). The empty store is served once first, uncounted:
the machine's first serving pays its caches' warm-up.

With `--engines`, both are measured again on PostgreSQL (a server it starts on 127.0.0.1, fsync
on, as SQLite's file is), the same rows copied into it (`lesson.copy_rows`), and it prints the
ratio PostgreSQL / SQLite too (the goal: within 1.25).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.replicas import free_port, replicas
from model_store import load_mnist
from model_store.store import BUNDLED_DIR

PAGES = ["", "train", "experiments", "gallery", "models", "data"]  # "": the Draw page
SCRIPT_DONE = "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'"


def build_term(folder: Path, models: int, runs: int, drawings: int, people: int) -> dict:
    """The term's models (the bundled model's files under other names, in the class database),
    runs and drawings."""
    from model_store.database import Database
    from model_store.migrate import import_runs
    from model_store.store import ModelStore

    started = time.monotonic()
    store, run_root = folder / "old-models", folder / "old-runs"
    store.mkdir(parents=True)
    bundled = json.loads((BUNDLED_DIR / "lab-default.json").read_text())
    day = datetime.now(UTC) - timedelta(days=90)
    for i in range(models):
        name = f"student{i % people:02d}-model{i:03d}"
        files = {k: name + v[len("lab-default") :] for k, v in bundled["files"].items()}
        for k, v in files.items():
            os.link(BUNDLED_DIR / bundled["files"][k], store / v)
        created = (day + timedelta(minutes=400 * i)).isoformat(timespec="seconds")
        (store / f"{name}.json").write_text(json.dumps({**bundled, "name": name, "files": files, "created": created}))
    event = {"phase": "epoch", "epochs": 3, "batch": 469, "batches": 469, "loss": 0.1, "accuracy": 0.97, "eta": 0}
    for i in range(runs):
        run_dir = run_root / f"{(day + timedelta(minutes=60 * i)):%Y%m%d-%H%M%S}-000000-{i:04x}"
        run_dir.mkdir(parents=True)
        owner = f"student{i % people:02d}"
        (run_dir / "config.json").write_text(json.dumps({"name": f"run{i}", "arch": "dense-128", "epochs": 3, "owner": owner}))
        lines = [{**event, "phase": "batch" if b % 10 else "epoch", "epoch": 1 + b // 10} for b in range(30)]
        (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
        (run_dir / "status.json").write_text(json.dumps({"status": "done", "model": f"run{i}", "latest": lines[-1]}))
    _add_drawings(folder / "data" / "drawings.sqlite3", drawings, people)
    db = Database(folder / "data" / "drawings.sqlite3")
    ModelStore(folder / "models", db=db).import_folder(store)
    with db.write() as writing:  # the runs' folders as rows, as `migrate` brings an earlier release's in
        import_runs(run_root, writing)
    shutil.rmtree(run_root)
    return {
        "models": models,
        "runs": runs,
        "drawings": drawings,
        "people": people,
        "built_s": round(time.monotonic() - started, 1),
    }


def _add_drawings(path: Path, n: int, people: int) -> None:
    """MNIST training digits as class drawings, `n` of them by `people` writers (the teacher adds them)."""
    import io

    from model_store.drawings import Drawings
    from model_store.roles import Person

    (x, y), _ = load_mnist()
    db, teacher = Drawings(path), Person("teacher", "teacher", teacher=True)
    for writer, part in enumerate(np.array_split(np.arange(n), people)):
        buffer = io.BytesIO()
        np.savez(buffer, x=x[part], y=y[part])
        db.import_npz(buffer.getvalue(), f"student{writer:02d}", teacher)


def measure(folder: Path, database: str | None = None) -> dict:
    """Serve the app on `folder`'s class data (its SQLite file, or `database`); strokes and page times."""
    from playwright.sync_api import sync_playwright

    from benchmarks import classroom
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    os.environ.update(
        MNIST_LAB_MODELS=str(folder / "models"), MNIST_LAB_RUNS=str(folder / "runs"), MNIST_LAB_DATA=str(folder / "data")
    )
    with replicas(1, port=free_port(), folder=folder / "serve", ray=False, database=database) as served:
        pids = [f"--pid={app.pid}" for app in served.apps]  # its own: not another app this machine runs
        strokes = classroom.main(["--students", "8", "--seconds", "20", "--url", served.url, *pids])
        pages = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{served.url}/train")  # starts the local Ray: timed pages must not share the CPU with its start
            page.wait_for_function(SCRIPT_DONE, timeout=120_000)
            page.close()
            _until_quiet()
            for name in PAGES:
                times = []
                for _ in range(3):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    started = time.monotonic()
                    page.goto(f"{served.url}/{name}")
                    page.wait_for_function(SCRIPT_DONE, timeout=120_000)
                    times.append(time.monotonic() - started)
                    page.close()
                pages[name or "draw"] = round(statistics.median(times) * 1000)
            browser.close()
    return {
        "server_cpu_ms_per_stroke": strokes["server_cpu_ms_per_stroke"],
        "p95_ms": strokes["p95_ms"],
        **{f"{k}_page_ms": v for k, v in pages.items()},
    }


def _until_quiet(busy: float = 25.0, seconds: float = 120) -> None:
    """Until the machine's CPU is under `busy` percent for a second (Ray started, its workers warm)."""
    import psutil

    deadline = time.monotonic() + seconds
    while psutil.cpu_percent(interval=1.0) > busy and time.monotonic() < deadline:
        pass


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.term", description=__doc__.split("\n")[0])
    p.add_argument("--models", type=int, default=300)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--drawings", type=int, default=20000)
    p.add_argument("--people", type=int, default=30)
    p.add_argument("--engines", action="store_true", help="measure on PostgreSQL too, in the same run")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="term-") as tmp:
        empty, term = Path(tmp) / "empty", Path(tmp) / "term"
        (empty / "models").mkdir(parents=True)
        built = build_term(term, args.models, args.runs, args.drawings, args.people)
        measure(empty)  # a first serving warms the machine's caches: not counted
        figures = {"empty": measure(empty), "term": measure(term)}
        if args.engines:
            figures |= _on_postgres(empty, term)
    result = {"built": built, **figures, "ratio": _ratios(figures["term"], figures["empty"])}
    if args.engines:
        result["ratio_postgresql"] = {
            "empty": _ratios(figures["empty_postgresql"], figures["empty"]),
            "term": _ratios(figures["term_postgresql"], figures["term"]),
        }
    print(json.dumps(result))
    return result


def _on_postgres(empty: Path, term: Path) -> dict:
    """Both class folders measured again with their rows in a PostgreSQL of their own."""
    from model_store.database import Database
    from model_store.lesson import copy_rows
    from tests.postgres import Server

    server = Server(fsync=True)
    try:
        figures = {}
        for name, folder in (("empty", empty), ("term", term)):
            url = server.create()
            copy_rows(Database(folder / "data" / "drawings.sqlite3"), Database(url))
            figures[f"{name}_postgresql"] = measure(folder, database=url)
        return figures
    finally:
        server.remove()


def _ratios(a: dict, b: dict) -> dict:
    return {k: round(a[k] / v, 2) for k, v in b.items() if v}


if __name__ == "__main__":
    main()
