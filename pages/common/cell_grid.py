"""Drawing without dragging (WCAG 2.2, 2.5.7): a grid of cells inked by click, by tap, or by the
arrow keys and Space, read by the same pipeline as the canvas (`model_store.preprocess.cells_picture`).

A Streamlit custom component (st.components.v2: plain HTML, CSS and JavaScript, nothing built or
fetched), so it sits in the page itself, not in an iframe as the canvas does: one tab stop in the
page's own order, and a screen reader and axe-core see its cells. Its files are in cell_grid/."""

from pathlib import Path

import numpy as np
import streamlit as st

CELLS = 14  # 14x14: each cell 2x2 of MNIST's pixels, few enough to ink by keyboard
HERE = Path(__file__).parent / "cell_grid"

_grid = st.components.v2.component("mnist_lab.cell_grid", css=(HERE / "grid.css").read_text(), js=(HERE / "grid.js").read_text())


def cell_grid(key: str) -> np.ndarray:
    """The grid, and its cells as a (CELLS, CELLS) array of 0 and 1."""
    last = f"{key}_cells"  # what the grid held at the last run: a grid built anew starts from it
    data = {
        "size": CELLS,
        "cells": st.session_state.get(last, []),
        "label": f"Drawing grid, {CELLS} by {CELLS} cells",
        "help": "Tab to the grid; the arrow keys move, Space inks or clears a cell (or click or tap them).",
        "clear": "Clear the grid",
    }
    result = _grid(key=key, data=data, default={"cells": []}, on_cells_change=lambda: None)
    st.session_state[last] = [int(v) for v in result.cells or []]
    cells = np.asarray(st.session_state[last], np.uint8)
    return cells.reshape(CELLS, CELLS) if cells.size == CELLS * CELLS else np.zeros((CELLS, CELLS), np.uint8)
