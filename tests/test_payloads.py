"""Nothing one browser sends takes the server down: a forged canvas value, a flood of uploads, a
zip bomb of an .npz or a .keras, a network too big to train."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import struct
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npy

from model_store import ImageError, ModelStore
from model_store.preprocess import decode_canvas
from tests.browser import FIRST_UPLOAD
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
    assert len(at.metric) == FIRST_UPLOAD + 20  # the canvas's and the grid's answers, then one per file read
    assert any("180 of your 200 files not read: the page reads at most 20 files and 50 MB at once" in w.value for w in at.warning)


# ---------------------------------------------------------------- zip bombs


def peak_growth_mb(action) -> float:
    """How far this process's peak memory rose above its memory before `action` (which may raise)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) starts again from now
    before = rss_mb()
    try:
        action()
    except Exception:
        pass
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 - before
    raise AssertionError("no VmHWM")


def zero_member(archive: zipfile.ZipFile, name: str, size: int, header: bytes = b"") -> None:
    """A member of `size` zero bytes after `header`, compressed as it is written: ~1 MB a GB."""
    with archive.open(name, "w", force_zip64=True) as f:
        f.write(header)
        block, left = bytes(1 << 22), size
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def npz_bomb(images: int = 1_300_000) -> bytes:
    """An .npz of drawings, a few MB, whose x unpacks to a GB of 28x28 images."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (images, 28, 28)})
        zero_member(archive, "x.npy", images * 784, header.getvalue())
        labels = io.BytesIO()
        np.save(labels, np.zeros(images, np.uint8))
        archive.writestr("y.npy", labels.getvalue())
    return buffer.getvalue()


def test_a_zip_bomb_npz_is_refused_before_it_is_unpacked():
    from model_store.drawings import read_npz

    bomb = npz_bomb()
    assert len(bomb) < 5 << 20
    with pytest.raises(ValueError, match="the archive unpacks to 973 MB; the limit is 256 MB"):
        read_npz(bomb)
    assert peak_growth_mb(lambda: read_npz(bomb)) < 50
    small = io.BytesIO()  # under the size limit, but compressed 1,000 to 1
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as archive:
        zero_member(archive, "x.npy", 100 << 20)
    with pytest.raises(ValueError, match="x.npy is compressed 1,0.. to 1 .a zip bomb..; at most 250 to 1"):
        read_npz(small.getvalue())
    lying = io.BytesIO()  # a header claiming more than its member holds
    with zipfile.ZipFile(lying, "w") as archive:
        header = io.BytesIO()
        npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
        archive.writestr("x.npy", header.getvalue() + bytes(784))
    with pytest.raises(ValueError, match="x.npy says it holds 784,000,000,000 bytes"):
        read_npz(lying.getvalue())


def keras_bomb(tmp_path) -> bytes:
    """A real .keras whose weights file is replaced by a GB of zeros: about 1 MB to upload."""
    import keras

    path = tmp_path / "real.keras"
    keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]).save(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as real, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name in ("config.json", "metadata.json"):
            bomb.writestr(name, real.read(name))
        zero_member(bomb, "model.weights.h5", 1 << 30)
    return buffer.getvalue()


def test_a_zip_bomb_keras_upload_is_refused_on_the_models_page_before_keras_unpacks_it(tiny_store, tmp_path, monkeypatch):
    shutil.copytree(tiny_store.root, tmp_path / "models")
    monkeypatch.setenv("MNIST_LAB_MODELS", str(tmp_path / "models"))
    bomb = keras_bomb(tmp_path)
    assert len(bomb) < 2 << 20
    at = open_page("models")
    at.file_uploader(key="models_file").set_value(("bomb.keras", bomb, "application/zip"))
    at.text_input(key="models_upload_name").set_value("bomb")
    grown = peak_growth_mb(lambda: run_clean(at.button[[b.label for b in at.button].index("Add the model")].click()))
    assert [e.value for e in at.error] == ["bomb.keras: the archive unpacks to 1,024 MB; the limit is 512 MB"]
    assert grown < 50, f"the server grew by {grown:.0f} MB"
    assert "bomb" not in [m.name for m in ModelStore(tmp_path / "models").list()]
