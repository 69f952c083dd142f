"""The drawing page end to end: Debian's Chromium (via Playwright) against a real uvicorn
server on loopback. Draws stroke by stroke with the mouse, switches runs, uploads a photo,
and saves screenshots under tests/artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw

from helpers import make_synthetic
from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.runs.store import Store

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"

if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("uvicorn", reason="uvicorn is not installed")

from helpers import untrained_run  # noqa: E402
from threefigures.web.server import BackgroundServer  # noqa: E402
from threefigures.web.settings import Settings  # noqa: E402

#: A "4" in pad coordinates (fractions of its side): two strokes, as a person draws it.
FOUR = [
    [(0.35, 0.15), (0.25, 0.55), (0.75, 0.55)],
    [(0.62, 0.25), (0.62, 0.88)],
]


@dataclass
class Site:
    url: str
    runs: list[str]  # oldest first; the last one is `latest`, the default
    cnn: str  # an untrained CNN run (its feature maps are drawn, not its accuracy)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two tiny runs (32 and 48 hidden units) served by uvicorn on a free loopback port."""
    from threefigures.runner import train_run

    store = Store(tmp_path_factory.mktemp("browser") / "runs" / "threefigures.db")
    data = make_synthetic(n_train=300, n_test=100)
    runs = []
    for units in (32, 48):
        config = RunConfig(
            model=ModelConfig(layers=(units,)), train=TrainConfig(epochs=1, device="cpu")
        )
        outcome = train_run(config, store=store, data=data)
        assert outcome is not None
        runs.append(outcome.run.id)
    cnn = ModelConfig(name="cnn", layers=(32,), channels=(4, 8))
    cnn_run = untrained_run(store, "untrained-cnn", cnn, store.root / "untrained-cnn")
    with BackgroundServer(Settings(store=store.path)) as server:
        yield Site(server.url, runs, cnn_run)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def offline_only(context: Any) -> list[str]:
    """Refuse every request that leaves this machine (the page must work offline); the
    list that is returned fills with the URLs that were tried."""
    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(
            ("data:", "blob:")
        ):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    return outside


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that fails the test on any console error (a CSP violation included)
    and on any request to another machine."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside = offline_only(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert outside == [], "the page asked another machine for something"
    # The upload test provokes one 422 on purpose; the browser logs the failed request.
    assert [e for e in errors if "422" not in e] == []


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-runs-loaded='true']")


def draw(page: Any, strokes: list[list[tuple[float, float]]]) -> None:
    """Mouse down, move through each stroke's points, mouse up: one stroke at a time."""
    box = page.locator("#pad").bounding_box()

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for points in strokes:
        page.mouse.move(*at(points[0]))
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*at(point), steps=12)
        page.mouse.up()


def wait_ready(page: Any, run: str | None = None, source: str = "drawing") -> None:
    condition = (
        "r => r.dataset.state === 'ready' && r.dataset.source === src && (!run || r.dataset.run"
        " === run)"
    )
    page.wait_for_function(
        f"([run, src]) => ({condition})(document.getElementById('result'))", arg=[run, source]
    )


def probabilities(page: Any) -> list[float]:
    values = page.eval_on_selector_all("#probs li", "els => els.map(e => +e.dataset.probability)")
    return [float(v) for v in values]


def lit_pixels(page: Any, canvas: str) -> int:
    return int(
        page.evaluate(
            """id => { const c = document.getElementById(id);
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] + d[i + 1] > 0;
                 return n; }""",
            canvas,
        )
    )


def test_drawing_a_digit_shows_the_whole_path_through_the_network(site: Site, page: Any) -> None:
    open_page(page, site.url + "/")
    assert page.input_value("#run") == site.runs[-1]  # the latest run answers by default
    draw(page, FOUR)
    wait_ready(page, site.runs[-1])
    probs = probabilities(page)
    assert len(probs) == 10 and abs(sum(probs) - 1.0) < 1e-4
    winner = page.get_attribute("#result", "data-class")
    assert winner and page.inner_text("#answer").startswith(winner)
    assert page.get_attribute("#probs li.winner", "data-class") == winner
    assert lit_pixels(page, "seen") > 20 and lit_pixels(page, "attr") > 20
    assert page.locator("#hidden canvas.grid-cells").count() == 1
    assert "48 units" in page.inner_text("#hidden figcaption")
    assert "answered in" in page.inner_text("#status")
    shot(page, "web-drawing.png")


def test_switching_runs_re_asks_with_the_chosen_network(site: Site, page: Any) -> None:
    open_page(page, site.url + "/")
    draw(page, FOUR)
    wait_ready(page, site.runs[-1])
    page.select_option("#run", site.runs[0])
    wait_ready(page, site.runs[0])
    assert "32 units" in page.inner_text("#hidden figcaption")
    assert abs(sum(probabilities(page)) - 1.0) < 1e-4
    assert f"run={site.runs[0]}" in page.url
    page.reload()  # the choice survives a reload through ?run=
    page.wait_for_selector("body[data-runs-loaded='true']")
    assert page.input_value("#run") == site.runs[0]
    shot(page, "web-switched-run.png")


def test_a_cnn_shows_its_feature_maps(site: Site, page: Any) -> None:
    open_page(page, f"{site.url}/?run={site.cnn}")
    assert page.input_value("#run") == site.cnn
    draw(page, FOUR)
    wait_ready(page, site.cnn)
    assert page.locator("#hidden .maps canvas").count() == 4  # conv1's four maps
    assert page.locator("#hidden canvas.grid-cells").count() == 1  # fc1's 32 units
    assert "conv1: 4 feature maps of 28×28" in page.inner_text("#hidden")
    shot(page, "web-cnn.png")


def test_uploading_a_photo(site: Site, page: Any, tmp_path: Path) -> None:
    photo = tmp_path / "seven.jpg"
    img = Image.new("RGB", (300, 240), (230, 228, 220))
    ImageDraw.Draw(img).line([(90, 50), (210, 50), (130, 200)], fill=(30, 30, 35), width=18)
    img.save(photo, quality=90)
    open_page(page, site.url + "/")
    page.set_input_files("#file", str(photo))
    wait_ready(page, source="upload")
    assert abs(sum(probabilities(page)) - 1.0) < 1e-4
    assert lit_pixels(page, "pad") > 1000  # the photo is shown where one draws
    shot(page, "web-upload.png")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    page.set_input_files("#file", str(not_an_image))
    page.wait_for_selector("#result[data-state='error']")
    assert "not an image" in page.inner_text("#answer")


def test_clear_and_keyboard_access(site: Site, page: Any) -> None:
    open_page(page, site.url + "/")
    order = []  # Tab from the top: the controls are reachable, in reading order
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert order[0] == "A"
    assert order.index("run") < order.index("pad") < order.index("clear") < order.index("file")
    draw(page, FOUR)
    wait_ready(page)
    page.focus("#clear")
    page.keyboard.press("Enter")  # a real button: the keyboard presses it
    page.wait_for_selector("#result[data-state='empty']")
    assert page.locator("#probs li").count() == 0 and lit_pixels(page, "pad") == 0
    assert page.get_attribute("#pad", "aria-label")
    assert "Space" in page.inner_text("#" + page.get_attribute("#pad", "aria-describedby"))


def test_drawing_with_the_keyboard_alone(site: Site, page: Any) -> None:
    """Tab to the pad, lower the pen with Space, draw a "1" with the arrow keys: the network
    answers as it does for a mouse. The pen ring is an overlay: it is not in what is sent."""
    open_page(page, site.url + "/")
    page.focus("#run")
    for _ in range(3):  # past the help text's link to /runs
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pad":
            break
    assert page.evaluate("document.activeElement.id") == "pad"
    assert page.is_visible("#pen") and lit_pixels(page, "pad") == 0  # the ring is not ink
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Space")  # pen down: a dot
    for _ in range(6):
        page.keyboard.press("ArrowDown")  # a vertical stroke
    page.keyboard.press("Space")  # pen up: moving no longer draws
    inked = lit_pixels(page, "pad")
    page.keyboard.press("Shift+ArrowRight")
    assert lit_pixels(page, "pad") == inked > 1000
    page.mouse.click(1, 1)  # focus elsewhere, then draw with the mouse: no keyboard ring
    assert not page.is_visible("#pen")
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + 5, box["y"] + 5)
    assert not page.is_visible("#pen")
    wait_ready(page)
    assert abs(sum(probabilities(page)) - 1.0) < 1e-4
    assert lit_pixels(page, "seen") > 20
    assert page.evaluate("window.scrollY") == 0  # the arrows moved the pen, not the page
    shot(page, "web-keyboard.png")


def test_runs_page_links_figures_reports_and_the_drawing_page(site: Site, page: Any) -> None:
    open_page(page, site.url + "/runs")
    assert page.locator("article.run").count() == 3
    first = page.locator(f"article.run[data-run='{site.runs[0]}']")
    first.locator("img").first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.images].slice(0, 3).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert first.locator("a", has_text="Report").get_attribute("href").endswith("/report")
    shot(page, "web-runs.png")
    first.locator("a", has_text="Draw with this run").click()
    page.wait_for_selector("body[data-runs-loaded='true']")
    assert page.input_value("#run") == site.runs[0]


def test_phone_sized_screen_with_a_finger(site: Site, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, has_touch=True, is_mobile=True
    )
    outside = offline_only(context)
    page = context.new_page()
    try:
        open_page(page, site.url + "/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone ({width} px wide)"
        box = page.locator("#pad").bounding_box()
        assert box["width"] >= 250 and box["x"] + box["width"] <= 375
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        wait_ready(page)  # a tap is a dot of ink: the network answers it
        assert abs(sum(probabilities(page)) - 1.0) < 1e-4
        assert lit_pixels(page, "seen") > 0
        shot(page, "web-phone.png")
    finally:
        context.close()
    assert outside == []
