"""Nothing one browser sends takes the server down: a forged canvas value, a flood of uploads, a
zip bomb of an .npz or a .keras, a network too big to train."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib

import numpy as np
import pytest

from model_store import ImageError
from model_store.preprocess import decode_canvas
from tests.conftest import digit_on_canvas, image_file, open_page, run_clean


def rss_mb(pid: str | int = "self") -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def huge_png(side: int = 10_000) -> bytes:
    """A black side x side gray PNG, built chunk by chunk: ~100 KB on the wire, 100 MB (gray) to
    400 MB (as the canvas's RGBA) decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row, idat = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        idat.append(packer.compress(row))
    idat.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")


def test_a_canvas_value_of_another_size_is_refused_from_its_header_without_decoding_it():
    forged = huge_png()
    assert len(forged) < 200_000
    before = rss_mb()
    for _ in range(3):
        with pytest.raises(ImageError, match="the canvas sent a 10000x10000 image; this canvas is 280x280"):
            decode_canvas(forged, 280, 280)
    assert rss_mb() - before < 50
    with pytest.raises(ImageError, match="not a PNG"):
        decode_canvas(image_file(np.zeros((280, 280), np.uint8), "BMP"), 280, 280)
    with pytest.raises(ImageError, match="at most 1 MB"):
        decode_canvas(b"\x89PNG" + b"\0" * 2**21, 280, 280)
    good = image_file(digit_on_canvas(np.full((28, 28), 255, np.uint8)))
    assert decode_canvas(good, 280, 280).shape == (280, 280, 4)


@pytest.mark.browser
def test_three_forged_10000_pixel_canvas_values_leave_the_server_as_it_was(tmp_path):
    """The attack as a script sends it: the Draw page's websocket, the canvas component's value
    holding a 10,000x10,000 PNG, three times; the server's memory is read from /proc."""
    from benchmarks.classroom import Session, canvas_value, cookies_of
    from tests.browser import ONE, running_app

    async def attack(url: str, pid: int) -> tuple[float, Session, str | None]:
        import websockets

        headers = {"Cookie": await asyncio.to_thread(cookies_of, url), "Origin": url}
        ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        async with websockets.connect(ws_url, subprotocols=["streamlit"], additional_headers=headers, max_size=None) as ws:
            session = Session(ws)
            reader = asyncio.create_task(session.read())
            await asyncio.wait_for(session.run(), 120)
            assert await session.stroke(ONE) == "1"  # the page works, and the model is loaded
            before = rss_mb(pid)
            value = json.loads(canvas_value(ONE))
            value["drawing"]["data"] = "data:image/png;base64," + base64.b64encode(huge_png()).decode()
            forged = json.dumps(value)
            for _ in range(3):
                from streamlit.proto.BackMsg_pb2 import BackMsg

                w = BackMsg().rerun_script.widget_states.widgets.add()
                w.id, w.json_value = session.canvas, forged
                answer = await session.run([w], fragment=True)
            grown = rss_mb(pid) - before
            good = await session.stroke(ONE)
            reader.cancel()
            return grown, session, answer if good == "1" else f"then {good!r}"

    with running_app(tmp_path) as app:
        grown, session, answer = asyncio.run(attack(app.url, app.pid))
    assert answer == "-", answer
    assert any(
        "The drawing was not read: the canvas sent a 10000x10000 image; this canvas is 280x280" in a for a in session.alerts
    )
    print(f"three forged canvas values: the server grew by {grown:.1f} MB")
    assert grown < 50, f"the server grew by {grown:.0f} MB"


def test_past_twenty_uploads_the_page_reads_no_more_and_says_so(tiny_store, monkeypatch, mnist_test):
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tiny_store.root))
    at = open_page("draw")
    x, _ = mnist_test
    png = image_file(digit_on_canvas(x[0], dark_on_light=True))
    at.file_uploader(key="draw_upload").set_value([(f"d{i}.png", png, "image/png") for i in range(200)])
    run_clean(at)
    assert len(at.metric) == 1 + 20  # the canvas's answer, then one per file read
    assert any("180 of your 200 files not read: the page reads at most 20 files and 50 MB at once" in w.value for w in at.warning)
