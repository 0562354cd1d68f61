// A grid of cells to ink one by one: by click, by tap, or by keyboard (the arrow keys move, Space
// or Enter inks or clears, Home and End go to a row's ends). The APG grid pattern: one tab stop for
// the whole grid (a roving tabindex), each cell a toggle button (aria-pressed) in a gridcell.
// Built once: a rerun calls this again, finds it built and leaves it (and the focus) alone.
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const n = data.size;
  if (parentElement.querySelector("[role=grid]")) return;
  // The cells Python last read: a grid built again (the page laid out anew) shows what it reads.
  const cells = data.cells.length === n * n ? data.cells.slice() : new Array(n * n).fill(0);
  const wrap = document.createElement("div");
  wrap.className = "cell-grid";
  const help = document.createElement("p");
  help.className = "help";
  help.id = "cell-grid-help";
  help.textContent = data.help;
  const grid = document.createElement("div");
  grid.setAttribute("role", "grid");
  grid.setAttribute("aria-label", data.label);
  grid.setAttribute("aria-describedby", help.id);
  grid.style.setProperty("--n", n);
  const buttons = [];
  for (let r = 0; r < n; r++) {
    const row = document.createElement("div");
    row.setAttribute("role", "row");
    for (let c = 0; c < n; c++) {
      const cell = document.createElement("div");
      cell.setAttribute("role", "gridcell");
      const b = document.createElement("button");
      b.type = "button";
      b.tabIndex = r === 0 && c === 0 ? 0 : -1;
      b.setAttribute("aria-pressed", String(cells[r * n + c] === 1));
      b.setAttribute("aria-label", `row ${r + 1}, column ${c + 1}`);
      b.addEventListener("click", () => toggle(r * n + c));
      b.addEventListener("keydown", (e) => move(e, r, c));
      cell.appendChild(b);
      row.appendChild(cell);
      buttons.push(b);
    }
    grid.appendChild(row);
  }
  const clear = document.createElement("button");
  clear.type = "button";
  clear.className = "clear";
  clear.textContent = data.clear;
  clear.addEventListener("click", () => {
    cells.fill(0);
    buttons.forEach((b) => b.setAttribute("aria-pressed", "false"));
    setStateValue("cells", cells.slice());
  });
  wrap.append(help, grid, clear);
  parentElement.appendChild(wrap);

  function toggle(i) {
    cells[i] = 1 - cells[i];
    buttons[i].setAttribute("aria-pressed", String(cells[i] === 1));
    focus(i);
    setStateValue("cells", cells.slice());
  }
  function focus(i) {
    buttons.forEach((b, j) => (b.tabIndex = j === i ? 0 : -1));
    buttons[i].focus();
  }
  function move(e, r, c) {
    const to = {
      ArrowUp: [Math.max(r - 1, 0), c],
      ArrowDown: [Math.min(r + 1, n - 1), c],
      ArrowLeft: [r, Math.max(c - 1, 0)],
      ArrowRight: [r, Math.min(c + 1, n - 1)],
      Home: [r, 0],
      End: [r, n - 1],
    }[e.key];
    if (!to) return; // Space and Enter: the button's own click
    e.preventDefault(); // the arrows would scroll the page too
    focus(to[0] * n + to[1]);
  }
}
