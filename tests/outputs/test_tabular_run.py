"""A breast-cancer run end to end: BCE with pos_weight against its formula, sensitivity and
specificity against scikit-learn's metrics, the run's figures, report and numbers, the
per-feature attribution (complete), and the option errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import run_cli
from threefigures.config import TrainConfig
from threefigures.errors import ConfigError
from threefigures.outputs.tabular import DISCLAIMER, binary_counts, binary_metrics
from threefigures.training.optim import compute_loss


def test_bce_pos_weight_matches_its_formula() -> None:
    torch.manual_seed(0)
    z = torch.randn(64, 1)
    y = torch.randint(0, 2, (64,))
    for w in (0.25, 1.0, 4.0):
        p = torch.sigmoid(z[:, 0])
        by_hand = -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
        assert float(compute_loss(z, y, "bce", w)) == pytest.approx(float(by_hand), rel=1e-5)
    # W > 1 makes a missed positive (a positive with a low score) cost more
    miss = torch.tensor([[-2.0]]), torch.tensor([1])
    assert float(compute_loss(*miss, "bce", 4.0)) == pytest.approx(
        4 * float(F.binary_cross_entropy_with_logits(torch.tensor([-2.0]), torch.tensor([1.0])))
    )


def test_sensitivity_and_specificity_match_sklearn() -> None:
    from sklearn.metrics import confusion_matrix, recall_score, roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    p = np.clip(labels * 0.35 + rng.random(300) * 0.65, 0, 1)
    for threshold in (0.2, 0.5, 0.8):
        m = binary_metrics(labels, p, threshold)
        predicted = (p >= threshold).astype(int)
        assert m["sensitivity"] == pytest.approx(recall_score(labels, predicted, pos_label=1))
        assert m["specificity"] == pytest.approx(recall_score(labels, predicted, pos_label=0))
        tn, fp, fn, tp = confusion_matrix(labels, predicted).ravel()
        assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
        assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, p))
    # a lower threshold never misses more
    assert binary_counts(labels, p, 0.2)["fn"] <= binary_counts(labels, p, 0.8)["fn"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss": "bce", "pos_weight": 0.0}, "--pos-weight must be a positive number"),
        ({"loss": "bce", "pos_weight": -2.0}, "--pos-weight must be a positive number"),
        ({"loss": "bce", "pos_weight": math.nan}, "--pos-weight must be a positive number"),
        ({"loss": "ce", "pos_weight": 2.0}, "use it with --loss bce"),
        ({"threshold": 1.0}, "--threshold must be between 0 and 1"),
    ],
)
def test_bad_training_options(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**fields).validate()


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from threefigures.cli import main

    root = tmp_path_factory.mktemp("cancer")
    store = root / "runs" / "threefigures.db"
    args = ["--store", str(store), "train", "--data", "breast-cancer", "--pos-weight", "3"]
    assert main([*args, "--quiet", "--epochs", "6"]) == 0
    from threefigures.runs.store import Store

    record = Store(store).list_runs()[0]
    return {"store": store, "record": record}


def test_run_reports_the_screening_numbers(cancer_run: dict) -> None:
    record = cancer_run["record"]
    info = record.info
    metrics = info["binary_metrics"]
    assert info["positive_class"] == "malignant" and info["disclaimer"] == DISCLAIMER
    assert metrics["tp"] + metrics["fn"] == 53 and metrics["tn"] + metrics["fp"] == 89
    assert metrics["accuracy"] == pytest.approx(record.test_accuracy)
    assert metrics["accuracy"] > 0.85 and metrics["roc_auc"] > 0.9
    assert set(info["baselines"]) == {"logistic regression", "SVM (RBF)", "random forest"}
    assert all(m["accuracy"] > 0.85 for m in info["baselines"].values())
    assert info["majority_baseline"] == pytest.approx(89 / 142)
    config = json.loads((record.run_dir / "config.json").read_text())
    assert config["run"]["train"]["pos_weight"] == 3.0
    assert config["run"]["train"]["loss"] == "bce"  # the dataset's default
    assert config["run"]["model"]["input_shape"] == [30]


def test_run_writes_figures_and_report(cancer_run: dict) -> None:
    folder = cancer_run["record"].run_dir
    for name in ("figure1.png", "figure2.png", "figure3.png", "tradeoff.png", "report.html"):
        assert (folder / name).stat().st_size > 5000, name
    assert (folder / "inside" / "inside-features.png").is_file()
    page = (folder / "report.html").read_text()
    assert DISCLAIMER in page and 'id="binary-metrics"' in page and "ROC AUC" in page


def test_feature_attribution_is_complete(cancer_run: dict) -> None:
    from threefigures.data import load_data
    from threefigures.explain.attribution import ClassScores, attribute_features
    from threefigures.runner import load_run_model
    from threefigures.runs.store import Store

    model, *_ = load_run_model(Store(cancer_run["store"]), cancer_run["record"].id)
    data = load_data("breast-cancer")
    rows = data.test_x[:4]
    attr = attribute_features(model, rows, target=1, steps=128)
    with torch.no_grad():
        scores = ClassScores(model)(rows)[:, 1] - ClassScores(model)(torch.zeros_like(rows))[:, 1]
    np.testing.assert_allclose(attr.maps.sum(axis=1), scores.numpy(), atol=2e-3)
    assert attr.maps.shape == (4, 30)


def test_models_that_cannot_read_a_table(tmp_path: Path, capsys) -> None:
    store = ["--store", str(tmp_path / "t.db")]
    cnn = ["train", "--data", "breast-cancer", "--model", "cnn"]
    code, _out, err = run_cli([*store, *cnn], capsys)
    assert code == 1 and "table of 30 features" in err and "--model mlp" in err
    code, _out, err = run_cli([*store, "train", "--data", "digits", "--threshold", "0.3"], capsys)
    assert code == 1 and "--threshold applies to binary tasks" in err
    assert not (tmp_path / "runs").exists()
