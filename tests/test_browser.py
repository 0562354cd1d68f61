"""The app in real Chromium: start `streamlit run`, draw with the mouse, read the answer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import FIRST_UPLOAD, ONE, SEVEN, STAR, WATCH, ZERO, draw, running_app, settle, touch_draw
from tests.test_cli import TF_LOGS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as app:
        yield app


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server.url)
    # Wait for the whole page: the model picker renders late and pushes the canvas down.
    page.wait_for_selector('[data-testid="stFileUploader"]', timeout=60_000)
    page.locator("canvas").last.wait_for()
    yield page
    page.close()


def prediction(page) -> str:
    return page.get_by_test_id("stMetricValue").first.inner_text().strip()


def test_the_draw_page_opens_at_the_root_url_and_waits_for_a_drawing(page):
    assert page.get_by_text("Draw a digit").first.is_visible()
    assert prediction(page) == "-"


@pytest.mark.parametrize("digit, strokes", [("1", ONE), ("7", SEVEN), ("0", ZERO)])
@pytest.mark.parametrize("size", ["full", "small-corner"])
def test_a_drawn_digit_is_read(page, digit, strokes, size):
    if size == "full":
        draw(page, strokes)
    else:  # a third of the size, in the top left corner
        draw(page, strokes, scale=0.35, offset=(10, 10))
    page.wait_for_function(
        "d => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === d", arg=digit, timeout=15_000
    )
    assert prediction(page) == digit


def test_on_a_phone_a_finger_draws_and_the_answer_shows_above_the_canvas_without_scrolling(browser, server):
    """At 360x640, a common small Android screen: the answer and the whole canvas, no scrolling."""
    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    phone.goto(server.url)
    canvas = phone.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    answer = phone.locator(".st-key-draw_answer_top")
    answer.get_by_text("Prediction: -").wait_for(timeout=30_000)
    touch_draw(phone, SEVEN)
    answer.get_by_text("Prediction: 7").wait_for(timeout=15_000)
    for box in (answer.bounding_box(), canvas.bounding_box()):  # both on screen as drawn: nothing scrolled
        assert 0 <= box["y"] and box["y"] + box["height"] <= 640, box
    assert answer.bounding_box()["y"] < canvas.bounding_box()["y"]
    context.close()


def test_a_first_stroke_needs_nothing_the_page_did_not_fetch_as_it_opened(page):
    """A session's first answer only updates what the page shows: no code and no image fetched
    after mouse-up (the toggles' code and the 28x28 view's file were, each costing the browser a
    request and the page a new layout while the answer was due)."""
    settle(page)
    opened = page.evaluate("() => performance.getEntriesByType('resource').length")
    draw(page, SEVEN)
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '7'", timeout=15_000)
    page.get_by_role("img", name="The 28x28 input the model reads. Prediction: 7,", exact=False).wait_for(timeout=15_000)
    settle(page)
    assert page.evaluate(f"() => performance.getEntriesByType('resource').slice({opened}).map(e => e.name)") == []


def test_on_a_wide_screen_the_answer_beside_the_canvas_is_the_only_one(page):
    draw(page, SEVEN)
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '7'", timeout=15_000)
    assert page.locator(".st-key-draw_answer_top").is_hidden()


def test_no_page_sends_a_request_off_the_machine_and_the_server_log_is_quiet(browser, server):
    """Offline, every request of every page goes to the app itself (the tab's icon included)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    for path, heading in [
        ("", "Draw a digit"),
        ("/train", "Train"),
        ("/experiments", "Experiments"),
        ("/gallery", "Gallery"),
        ("/data", "Data"),
        ("/models", "Models"),
        ("/present", "MNIST Lab: draw"),
    ]:
        page.goto(server.url + path)
        page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
        page.wait_for_timeout(2_000)  # images, charts and the icon load after the heading
    context.close()
    assert any(url.endswith(".png") or "/media/" in url for url in requests)  # the recorder saw the icon's kind
    outside = [url for url in requests if not url.startswith((server.url, "data:", "blob:", "about:"))]
    assert outside == []
    log = (server.models.parent / "streamlit.log").read_text()
    assert "Did not auto detect external IP" not in log and not TF_LOGS.search(log), log[-2000:]


def test_a_single_dot_is_not_guessed_and_says_why(page):
    draw(page, [[(140, 140), (142, 141)]])
    page.get_by_text("Nothing to read yet: just a dot or a blob, not a digit. Keep drawing").wait_for(timeout=15_000)
    assert prediction(page) == "-"


def test_a_drawn_star_does_not_look_like_a_digit_and_a_seven_after_it_is_read(page):
    draw(page, STAR)
    page.get_by_text("That doesn't look like a digit").wait_for(timeout=15_000)
    assert prediction(page) == "Not a digit"
    clear(page)
    draw(page, SEVEN)
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '7'", timeout=15_000)


def test_the_chart_stays_in_place_while_the_not_sure_warning_comes_and_goes(page):
    """A 1 with a diagonal from its top reads as an unsure 1 or 7 (a calibrated 75%, under the
    bundled model's 81%); a bar across makes it a sure 4. The chart is updated, not built anew (it
    was, each time the warning came or went, below it)."""
    keep = "() => { window.__chart = document.querySelector('[data-testid=stVegaLiteChart]') }"
    kept = "() => document.contains(window.__chart)"
    read = "() => document.querySelector('[data-testid=stMetricValue]').innerText.trim()"
    warning = page.get_by_text("Not sure: it could be a")
    page.evaluate(keep)
    draw(page, [[(140, 50), (140, 230)]])
    page.wait_for_function(f"{read} === '1'", timeout=15_000)
    draw(page, [[(140, 50), (60, 140)]])
    warning.wait_for(timeout=15_000)
    assert page.evaluate(kept)
    draw(page, [[(60, 140), (220, 140)]])
    page.wait_for_function(f"{read} === '4'", timeout=15_000)
    warning.wait_for(state="detached", timeout=15_000)
    assert page.evaluate(kept)


def test_uploads_over_20_mb_are_refused_and_the_server_demands_its_xsrf_token(page, server):
    import urllib.error
    import urllib.request

    huge = b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "huge.png", "mimeType": "image/png", "buffer": huge}]
    )
    message = page.get_by_text("File must be 20.0MB or smaller.")
    message.wait_for(timeout=15_000)
    assert page.get_by_test_id("stMetricValue").count() == FIRST_UPLOAD  # nothing was read: the canvas's and the grid's only
    # A request from another site carries no XSRF token: Streamlit refuses the upload.
    forged = urllib.request.Request(f"{server.url}/_stcore/upload_file/session/file", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403


def clear(page) -> None:
    """Press Clear and wait for the dash; then pause as a person does, moving back to the canvas
    (a stroke begun within ~50 ms of the click can land before the canvas has reloaded)."""
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'", timeout=15_000)
    page.wait_for_timeout(300)


def test_a_drawing_is_saved_with_the_models_answer_or_the_writers_and_the_canvas_clears(page, server):
    import cv2
    import numpy as np

    from model_store.drawings import Drawings

    db = Drawings(server.models.parent / "data" / "drawings.sqlite3")
    before = db.count() if db.db.path.exists() else 0
    draw(page, SEVEN)
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '7'", timeout=15_000)
    page.get_by_role("button", name="Right, it is a 7").click()
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'", timeout=15_000)
    kept = db.get(int(db.arrays()[0][-1]))
    assert db.count() == before + 1 and (kept.label, kept.source, kept.model) == (7, "canvas", "lab-default")
    assert kept.writer.startswith("guest-") and int(np.argmax(kept.probabilities)) == 7
    assert cv2.imdecode(np.frombuffer(kept.original, np.uint8), cv2.IMREAD_UNCHANGED).shape == (280, 280, 4)
    page.get_by_text(f"{before + 1} by the class").wait_for(timeout=15_000)
    page.wait_for_timeout(300)
    draw(page, ONE)
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '1'", timeout=15_000)
    page.get_by_test_id("stButtonGroup").get_by_text("4", exact=True).click()  # "No, it is a 4"
    page.wait_for_function("() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '-'", timeout=15_000)
    assert db.count() == before + 2 and db.arrays()[2][-1] == 4


def test_clear_always_clears(page):
    for _ in range(2):
        draw(page, ONE)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=stMetricValue]').innerText.trim() === '1'", timeout=15_000
        )
        clear(page)
    assert prediction(page) == "-"


def test_latency_from_mouse_up_to_the_prediction_on_screen(page):
    """Prints the median; the budget (280 ms, of which the component waits 200) is in the README."""
    page.evaluate(WATCH)
    latencies = []
    for trial in range(12):
        digit, strokes = [("1", ONE), ("7", SEVEN)][trial % 2]
        clear(page)
        page.evaluate("() => Object.assign(window.__lat, {which: 0, up: null, done: null})")
        draw(page, strokes)
        page.wait_for_function("() => window.__lat.done", timeout=15_000)
        answer = page.evaluate("() => window.__lat")
        assert answer["value"] == digit
        latencies.append(answer["done"] - answer["up"])
    latencies.sort()
    median = (latencies[5] + latencies[6]) / 2
    print(
        f"\nmouse-up to prediction on screen: median {median:.0f} ms, min {latencies[0]:.0f}, max {latencies[-1]:.0f} (12 strokes)"
    )
    assert all(0 < t < 5000 for t in latencies)


def test_a_fresh_server_opened_first_at_a_page_url_still_has_the_app_frame(browser, tmp_path):
    """Streamlit's old multipage mode would run pages/models.py alone, without app.py."""
    import urllib.parse

    with running_app(tmp_path) as app:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{app.url}/models")
        page.wait_for_selector('[data-testid="stFileUploader"]', timeout=60_000)
        links = [link.inner_text().split("\n")[-1] for link in page.get_by_test_id("stSidebarNavLink").all()]
        assert links == ["Draw", "Train", "Experiments", "Gallery", "Data", "Models", "Class", "Present"]
        path = urllib.parse.urlsplit(page.url).path
        assert page.get_by_role("heading", name="Models").first.is_visible() and path.endswith("/models")
        assert "who=" not in page.url  # the page's link names nobody: a shared one makes nobody someone else
        page.close()


def test_clicking_a_confusion_cell_shows_only_that_pair_and_clicking_again_clears(browser, server):
    import numpy as np

    from model_store import ModelStore, load_mnist
    from model_store.evaluation import select

    store = ModelStore()
    probs = store.test_probabilities(store.get("lab-default")).astype(np.float32)
    _, (_, y) = load_mnist()
    pair = len(select(probs, y, False, true=9, predicted=4))
    wrong = len(select(probs, y, False))
    assert 0 < pair < wrong

    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(f"{server.url}/gallery")
    page.wait_for_selector("text=25 random images of the MNIST test", timeout=60_000)
    shown = page.locator("text=/^[0-9,]+ images$/").first
    assert shown.inner_text() == f"{wrong} images"
    cell = page.locator('.vega-embed path[aria-label^="predicted: 4; true digit: 9;"]')
    cell.click()
    expect_text(page, f"{pair} images")
    # The rerun replaces the tiles: wait until the previous page's tiles are gone too.
    tiles = """() => Array.from(document.querySelectorAll('[data-testid=stImageCaption]'))
        .map(c => c.innerText).filter(t => t.includes(' → '))"""
    page.wait_for_function(f"n => ({tiles})().length === n", arg=pair, timeout=15_000)
    assert all(": 9 → 4 (" in c for c in page.evaluate(tiles))
    cell.click()
    expect_text(page, f"{wrong} images")
    page.close()


def pick_option(page, box, name: str) -> None:
    """Open a selectbox and choose `name`; again if a rerun closed the list as it opened."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        box.click()
        try:
            page.get_by_role("option", name=name).click(timeout=5_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"the option {name!r} never showed")


def expect_text(page, text: str) -> None:
    page.wait_for_selector(f"text=/^{text}$/", timeout=15_000)


def test_a_run_started_in_the_browser_shows_growing_curves_and_stops_with_its_model_stored(browser, server):
    from model_store import ModelStore
    from model_store.database import Database

    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(f"{server.url}/train")
    page.wait_for_selector("text=No run yet", timeout=60_000)
    pick_option(page, page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first, "seed-d")  # the recipe picker
    # The recipe fills the form on a rerun: submitting before it lands would send the old values.
    page.wait_for_function("() => document.querySelector('input[aria-label=\"Epochs\"]').value === '10'", timeout=15_000)
    page.get_by_role("textbox", name="Model name").fill("browser-run")
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector("text=/Epoch 2\\/10/", timeout=120_000)  # the worker imports TensorFlow first
    curve_length = "() => Array.from(document.querySelectorAll('.vega-embed path[aria-roledescription=\"line mark\"]')).reduce((n, p) => n + (p.getAttribute('d') || '').length, 0)"
    drawn = page.evaluate(curve_length)
    page.wait_for_selector("text=/Epoch 4\\/10/", timeout=60_000)
    page.wait_for_function(f"n => ({curve_length})() > n", arg=drawn, timeout=15_000)  # the curves grew
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_selector("text=/Stopped early: browser-run/", timeout=30_000)
    app_db = Database(server.models.parent / "data" / "drawings.sqlite3")  # the module's server, not this test's folder
    record = ModelStore(server.models, db=app_db).get("browser-run").record
    assert record["stopped_by"] == "user" and record["epochs_run"] < 10
    page.close()


def test_a_gallery_image_opens_on_the_canvas_to_edit_and_a_stroke_changes_its_answer(page, server):
    page.goto(f"{server.url}/gallery")
    page.get_by_role("button", name="Inspect").first.click()
    page.get_by_role("button", name="Edit it on the Draw page").click()
    page.get_by_text("Editing MNIST test image").wait_for(timeout=30_000)
    page.wait_for_function("() => /^[0-9]$/.test(document.querySelector('[data-testid=stMetricValue]').innerText.trim())")
    read = page.get_by_test_id("stProgress").first.inner_text()  # "Confidence NN.N%": the picture alone
    draw(page, [[(60, 60), (230, 60)]])  # a bar across the top: ink added over the picture
    page.wait_for_function(
        "before => document.querySelector('[data-testid=stProgress]').innerText !== before", arg=read, timeout=15_000
    )
    assert page.get_by_role("button", name="Blank canvas").is_visible()


def test_why_shows_the_neighbours_and_the_drawing_moves_on_the_map(page):
    answer = page.get_by_test_id("stMetricValue").first
    drawn_map = "() => document.querySelector('.st-key-draw_map svg.marks')?.innerHTML"  # Vega draws it in SVG
    draw(page, SEVEN)
    expect(answer).to_have_text("7", timeout=15_000)
    page.get_by_text("Why? The training images").click()
    page.get_by_text("Where it lands among MNIST").wait_for(timeout=60_000)  # the bundled model's map ships with it
    page.wait_for_function("() => document.body.innerText.includes(': a 7')")  # the 7s it resembles
    page.locator(".st-key-draw_map svg.marks").wait_for()
    on_seven = page.evaluate(drawn_map)
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(answer).to_have_text("-", timeout=15_000)
    page.locator("canvas").last.scroll_into_view_if_needed()  # the panel below had scrolled it away
    draw(page, ONE)
    expect(answer).to_have_text("1", timeout=15_000)
    page.wait_for_function("() => document.body.innerText.includes(': a 1')")  # now the 1s
    # The cross moved from among the 7s to among the 1s: the map is drawn again, differently.
    page.wait_for_function(f"before => ({drawn_map})() && ({drawn_map})() !== before", arg=on_seven, timeout=15_000)
    assert on_seven and page.evaluate(drawn_map) != on_seven
    # A test image on the map: its picture on hover, and a click opens it in the Gallery.
    page.locator(".st-key-draw_map").scroll_into_view_if_needed()
    dot = page.locator(".st-key-draw_map g.mark-symbol path").nth(100).bounding_box()
    page.mouse.move(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip.locator("img[src^='data:image/png']")).to_have_count(1, timeout=10_000)
    title = tooltip.locator("h2").inner_text()  # "MNIST test image #123: a 4"
    assert re.fullmatch(r"MNIST test image #\d+: a \d(, read as \d)?", title), title
    index = title.split("#")[1].split(":")[0]
    page.mouse.click(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    page.get_by_role("button", name="Inspect it in the Gallery").click(timeout=15_000)
    expect(page.get_by_role("heading", name=f"MNIST test image #{index}:")).to_be_visible(timeout=30_000)


def test_a_number_written_on_the_draw_page_is_read_as_a_whole_number(page):
    """ "Write a number": a 1, a 7 and a 0 side by side on the wide canvas, read as 170, each part
    with its confidence."""
    page.get_by_text("Write a number").click()
    page.get_by_text("Write a number on the black strip").wait_for(timeout=30_000)
    box = page.locator("canvas").last.bounding_box()
    assert box["width"] == 720 and box["height"] == 240
    for strokes, left in ((ONE, -60), (SEVEN, 150), (ZERO, 380)):
        draw(page, strokes, scale=0.75, offset=(left, 15))
    number = page.get_by_test_id("stMetric").filter(has_text="Number").get_by_test_id("stMetricValue")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.startsWith('Number') && m.innerText.includes('170'))",
        timeout=30_000,  # the first reading also loads MNIST's digit shapes (numbers.aspect_density)
    )
    assert number.inner_text().strip() == "170"
    parts = page.get_by_test_id("stMetric").filter(has_text="Part")
    assert [parts.nth(i).get_by_test_id("stMetricValue").inner_text().strip() for i in range(3)] == ["1", "7", "0"]
    assert page.get_by_text("It reads").first.is_visible()
    page.get_by_text("How the drawing was cut").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/number-mode.png")


PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"


def test_on_a_phone_the_number_strip_fits_the_screen_and_a_finger_writes_a_number(browser, server):
    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True, is_mobile=True, user_agent=PHONE)
    phone = context.new_page()
    phone.goto(server.url)
    phone.locator("canvas").last.wait_for(timeout=60_000)
    phone.get_by_text("Write a number").click()
    phone.get_by_text("Write a number on the black strip").wait_for(timeout=30_000)
    box = phone.locator("canvas").last.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["width"] == 328
    for strokes, left in ((ONE, -30), (SEVEN, 110)):
        touch_draw(phone, strokes, scale=0.5, offset=(left, 10))
        phone.wait_for_timeout(1_000)  # the strip's rerun after a stroke: a touch meanwhile is lost
    phone.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.startsWith('Number') && m.innerText.includes('17'))",
        timeout=30_000,
    )
    phone.screenshot(path="/tmp/number-phone.png")
    context.close()
