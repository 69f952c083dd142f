"""A table run's numbers and figures (breast-cancer): accuracy, sensitivity, specificity and
ROC AUC for the network and for logistic regression, an SVM and a random forest trained on
the same split; Figure 3 as ROC curves and a confusion matrix; missed cancers against false
alarms as the threshold moves; one case's attribution per feature (Captum).

Positive is the dataset's ``positive`` class (malignant): sensitivity is its recall,
specificity the other class's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.data.tabular import TabularDataset, majority_rate
from threefigures.training import EvalResult

#: One line in every report, figure and page of a medical table.
DISCLAIMER = (
    "A teaching example on a public research data set, not a diagnostic tool: never use it "
    "to make or inform a medical decision."
)

#: Thresholds for the missed-versus-false-alarm curve.
TRADEOFF_THRESHOLDS = np.linspace(0.01, 0.99, 99)


def binary_counts(labels: np.ndarray, p_positive: np.ndarray, threshold: float) -> dict[str, int]:
    """tp / fn / fp / tn when answering positive at ``p ≥ threshold``."""
    predicted = p_positive >= threshold
    actual = labels.astype(bool)
    return {
        "tp": int((predicted & actual).sum()),
        "fn": int((~predicted & actual).sum()),
        "fp": int((predicted & ~actual).sum()),
        "tn": int((~predicted & ~actual).sum()),
    }


def binary_metrics(labels: np.ndarray, p_positive: np.ndarray, threshold: float) -> dict[str, Any]:
    """Accuracy, sensitivity, specificity, ROC AUC (scikit-learn's) and the counts."""
    from sklearn.metrics import roc_auc_score

    counts = binary_counts(labels, p_positive, threshold)
    positives, negatives = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    return {
        **counts,
        "threshold": float(threshold),
        "accuracy": (counts["tp"] + counts["tn"]) / max(len(labels), 1),
        "sensitivity": counts["tp"] / positives if positives else float("nan"),
        "specificity": counts["tn"] / negatives if negatives else float("nan"),
        "roc_auc": float(roc_auc_score(labels, p_positive)) if positives and negatives else None,
    }


def classical_probabilities(data: TabularDataset, seed: int = 0) -> dict[str, np.ndarray]:
    """P(positive) on the test cases from logistic regression, an SVM (RBF, its scores
    calibrated into probabilities by sigmoid (Platt) scaling under 5-fold cross-validation,
    as scikit-learn 1.9 recommends over ``SVC(probability=True)``) and a random forest, each
    fitted on the same standardised training part."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    x_train, y_train = data.train_x.numpy(), data.train_y.numpy()
    x_test = data.test_x.numpy()
    models = {
        "logistic regression": LogisticRegression(max_iter=5000),
        "SVM (RBF)": CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False),
        "random forest": RandomForestClassifier(n_estimators=300, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        model.fit(x_train, y_train)
        column = list(model.classes_).index(data.positive)
        out[name] = model.predict_proba(x_test)[:, column]
    return out


def scores_for(name: str, labels: np.ndarray, p_positive: np.ndarray, threshold: float) -> Any:
    from sklearn.metrics import roc_auc_score, roc_curve

    from threefigures.figures.tabular import BinaryScores

    fpr, tpr, _ = roc_curve(labels, p_positive)
    counts = binary_counts(labels, p_positive, threshold)
    return BinaryScores(name, fpr, tpr, float(roc_auc_score(labels, p_positive)), **counts)


def table_extras(data: TabularDataset, test: EvalResult, threshold: float) -> dict[str, Any]:
    """The report's numbers for a table run: the network's, the baselines', the majority's."""
    labels = test.labels
    p_network = test.probabilities[:, data.positive]
    baselines = classical_probabilities(data)
    return {
        "positive_class": data.classes[data.positive],
        "binary_metrics": binary_metrics(labels, p_network, threshold),
        "baselines": {name: binary_metrics(labels, p, 0.5) for name, p in baselines.items()},
        "majority_baseline": majority_rate(data),
        "disclaimer": DISCLAIMER,
    }


def draw_table_figure3(
    data: TabularDataset, test: EvalResult, path: Path, threshold: float
) -> Path:
    from threefigures.figures.tabular import draw_roc_confusion

    labels = test.labels
    scores = [scores_for("network (MLP)", labels, test.probabilities[:, data.positive], threshold)]
    # refitted here (deterministic, well under a second on 426 cases) so that what the
    # report stores stays plain numbers
    for name, p in classical_probabilities(data).items():
        scores.append(scores_for(name, labels, p, 0.5))
    positives = int(labels.sum())
    return draw_roc_confusion(
        scores,
        data.classes,
        path,
        threshold=threshold,
        title=(
            f"Figure 3 — inference on {len(labels)} test cases never used in training "
            f"({positives} {data.classes[data.positive]})"
        ),
        note=DISCLAIMER,
    )


def draw_tradeoff(
    data: TabularDataset,
    test: EvalResult,
    path: Path,
    threshold: float,
    weights: dict[float, tuple[int, int]] | None = None,
) -> Path:
    from threefigures.figures.tabular import draw_error_tradeoff

    p = test.probabilities[:, data.positive]
    counts = [binary_counts(test.labels, p, t) for t in TRADEOFF_THRESHOLDS]
    positive = data.classes[data.positive]
    return draw_error_tradeoff(
        TRADEOFF_THRESHOLDS,
        np.array([c["fn"] for c in counts]),
        np.array([c["fp"] for c in counts]),
        path,
        positive=positive,
        chosen=threshold,
        weights=weights,
        title=f"Missed {positive} against false alarms on {len(test.labels)} test cases",
    )


def case_attribution(
    model: nn.Module, data: TabularDataset, case: int, path: Path
) -> dict[str, Any]:
    """Integrated gradients per feature for test case ``case``, towards the positive class;
    the figure and the numbers (the completeness error among them)."""
    from threefigures.explain.attribution import attribute_features
    from threefigures.figures.tabular import draw_feature_attribution

    if not 0 <= case < len(data.test_y):
        from threefigures.errors import ConfigError

        raise ConfigError(f"--case must be a test case from 0 to {len(data.test_y) - 1}")
    row = data.test_x[case : case + 1]  # (1, F)
    attr = attribute_features(model, row, target=data.positive)
    values = data.raw(row)[0].numpy()
    positive = data.classes[data.positive]
    p = float(attr.probabilities[0, data.positive])
    truth = data.classes[int(data.test_y[case])]
    assert attr.delta is not None
    draw_feature_attribution(
        data.feature_names,
        attr.maps[0],
        values,
        path,
        title=f"Test case {case} (truly {truth}): P({positive}) = {p:.3f} — what moved it",
        note=(
            f"Red pushes towards {positive}, blue away; completeness error "
            f"{attr.delta[0]:+.2e}.\n{DISCLAIMER}"
        ),
    )
    order = np.argsort(-np.abs(attr.maps[0]))
    return {
        "case": case,
        "true": truth,
        "p_positive": p,
        "completeness_error": float(attr.delta[0]),
        "top_features": [
            {
                "feature": data.feature_names[i],
                "value": float(values[i]),
                "attribution": float(attr.maps[0][i]),
            }
            for i in order[:5]
        ],
    }


def first_positive_case(data: TabularDataset) -> int:
    """The first test case of the positive class (what the report explains)."""
    hits = (data.test_y == data.positive).nonzero().flatten()
    return int(hits[0]) if len(hits) else 0


def predict_rows(model: nn.Module, rows: torch.Tensor) -> np.ndarray:
    """P(each class) for standardised rows (N, F)."""
    from threefigures.training import predict_proba

    return predict_proba(model, rows).numpy()
