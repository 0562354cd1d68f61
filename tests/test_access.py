"""Every student, by keyboard and screen reader, in real Chromium (issue 39): axe-core's WCAG 2.x
A and AA rules on every page at a desktop's width and a phone's, a text alternative on every
image, and the canvas's answer said in a live region.

One app server and one Chromium for the whole module: the pages are only read, never changed."""

from __future__ import annotations

import pytest

from tests.browser import ONE, draw, running_app

pytestmark = pytest.mark.browser

PAGES = [
    ("", "Draw a digit"),
    ("/train", "Train"),
    ("/experiments", "Experiments"),
    ("/gallery", "Gallery"),
    ("/data", "Data"),
    ("/models", "Models"),
    ("/class", "Class"),
]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# Streamlit has finished the script, no element is still a grey placeholder (a skeleton: the
# script's state says "not running" before a page's fragments have drawn) and every image has
# arrived. axe reads what is drawn: over the placeholders, the page's contrast failures passed.
SETTLED = """() => document.querySelector('[data-test-script-state]')?.dataset.testScriptState === 'notRunning'
  && !document.querySelector('[data-testid=stSkeleton]')
  && [...document.images].every(image => image.complete)"""
# Every <img> without a text alternative: no alt, or an empty one (which says "decorative").
UNNAMED_IMAGES = """() => [...document.images].filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src.slice(-60))"""
LIVE = ".st-key-draw_live [role=status]"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as app:
        yield app


def serious(page) -> list[str]:
    """axe-core's violations of impact serious or critical, one line an element."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}}).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {n['html'][:120]}"
        for v in found
        if v["impact"] in ("serious", "critical")
        for n in v["nodes"]
    ]


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    page.wait_for_function(SETTLED, timeout=60_000)


@pytest.mark.parametrize("width, height", [(1400, 900), (360, 640)])
def test_every_page_passes_axe_and_every_image_says_what_it_shows(browser, server, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    found = {}
    for path, heading in PAGES:
        open_page(page, server.url + path, heading)
        problems = serious(page) + [f"image without alt: {src}" for src in page.evaluate(UNNAMED_IMAGES)]
        if problems:
            found[path or "/"] = problems
    context.close()
    assert found == {}, "\n".join(f"{path}: {problem}" for path, problems in found.items() for problem in problems)


def test_the_canvas_answer_is_said_and_the_why_panel_images_say_what_they_show(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    open_page(page, server.url, "Draw a digit")
    live = page.locator(LIVE)
    live.get_by_text("Nothing to read").wait_for(timeout=30_000)
    page.evaluate(f"() => {{ window.__live = document.querySelector('{LIVE}') }}")
    draw(page, ONE)
    live.filter(has_text="Prediction: 1,").wait_for(timeout=15_000)
    assert page.evaluate("() => document.contains(window.__live)")
    assert page.get_by_role("img", name="The 28x28 input the model reads. Prediction: 1,", exact=False).count() == 1
    page.get_by_text("Why? The training images").first.click()
    page.get_by_text("training images it finds most alike").wait_for(timeout=30_000)
    page.get_by_text("Inside the network").first.click()
    page.get_by_text("feature maps", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_function(SETTLED, timeout=30_000)
    assert page.evaluate(UNNAMED_IMAGES) == []
    assert page.get_by_role("img", name="MNIST training image #", exact=False).count() == 8
    assert serious(page) == []
    page.close()
