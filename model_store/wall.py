"""For the presenter view: what the class's drawings say about the model (which digits it reads
worst, and what it takes each for: a confusion matrix of the writers' labels against the answers
the model gave when each drawing was saved), and the class's address as a QR code."""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np


def confusion(labels: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """(10, 10) counts: row the digit drawn (its writer's label), column the model's answer."""
    counts = np.zeros((10, 10), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(answers, np.int64)), 1)
    return counts


def hardest(counts: np.ndarray, least: int = 3) -> list[tuple[int, float, int]]:
    """(digit, share read right, drawings) of each digit drawn at least `least` times, the worst
    read first: a digit drawn once or twice says nothing yet. Ties go to the one drawn more."""
    drawn = counts.sum(axis=1)
    rows = [(d, float(counts[d, d] / drawn[d]), int(drawn[d])) for d in range(10) if drawn[d] >= least]
    return sorted(rows, key=lambda row: (row[1], -row[2]))


def class_address(page_url: str, server_address: str | None, port: int) -> str:
    """The address students open: the name the app was started with (`--browser.serverAddress`),
    else the host the presenter's browser used; never a path or a query (the presenter's page
    and whatever it carries stay on the projector)."""
    host = server_address if server_address and server_address not in ("localhost", "127.0.0.1") else urlsplit(page_url).hostname
    scheme = urlsplit(page_url).scheme or "http"
    return f"{scheme}://{host or 'localhost'}:{port}" if port not in (80, 443) else f"{scheme}://{host or 'localhost'}"


def qr_code(text: str, box: int = 8) -> np.ndarray:
    """`text` as a QR code, uint8 black on white with its quiet zone, `box` px a module: drawn here
    (the qrcode package), so the projector's page asks nothing of the internet."""
    import qrcode

    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    modules = np.array(code.get_matrix(), bool)  # True: a dark module, the quiet zone included
    return np.kron(np.where(modules, 0, 255).astype(np.uint8), np.ones((box, box), np.uint8))
