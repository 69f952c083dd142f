"""Tabular data, offline: rows of measured features → standardised float tensors.

``breast-cancer`` (task ``classify``, binary): scikit-learn's bundled copy of the Wisconsin
Diagnostic Breast Cancer data set (UCI; Street, Wolberg & Mangasarian, 1993). 569 cases,
each 30 features computed from a digitised image of a fine-needle aspirate of a breast mass
(the mean, standard error and worst value of ten cell-nucleus measurements: radius,
texture, perimeter, area, smoothness, compactness, concavity, concave points, symmetry,
fractal dimension), labelled malignant (212) or benign (357).

Classes here are ``benign`` (0) and ``malignant`` (1): malignant is the *positive* class,
so BCE's ``pos_weight`` weighs missed cancers, and sensitivity is recall on malignant.
(scikit-learn codes malignant as 0; the labels are flipped once, here.)

The split is fixed and stratified: 25% of the cases (142) are the test part, chosen by
:func:`validation_split`'s seeded torch permutation (seed 0) over the cases in the order
scikit-learn ships them, so it is the same on every machine. The features are standardised
with the mean and standard deviation of the training part only (the test part never
informs them); ``fit`` then carves its validation rows from the training part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from threefigures.data.sources import validation_split
from threefigures.errors import DataError

BREAST_CANCER = "breast-cancer"
BREAST_CANCER_CLASSES = ("benign", "malignant")
TEST_FRACTION = 0.25
SPLIT_SEED = 0


@dataclass(frozen=True)
class TabularDataset:
    """Rows of features: standardised float32 (N, F) with int64 labels, train and test.

    ``feature_mean`` / ``feature_std`` are the training part's statistics, so
    ``x * std + mean`` gives a case's measured values back (figures show them).
    """

    name: str
    train_x: Tensor  # (N, F) float32, standardised with the training part's statistics
    train_y: Tensor  # (N,) int64
    test_x: Tensor
    test_y: Tensor
    classes: list[str]
    feature_names: list[str]
    feature_mean: Tensor  # (F,) float32, of the training part
    feature_std: Tensor  # (F,) float32, of the training part
    source: str
    positive: int = 1  # the class sensitivity is measured on (malignant)
    items: str = "cases"
    task: str = "classify"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return int(self.train_x.shape[1])

    def raw(self, x: Tensor) -> Tensor:
        """Standardised rows → the measured values."""
        return x * self.feature_std + self.feature_mean

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "task": self.task,
            "source": self.source,
            "train": int(self.train_x.shape[0]),
            "test": int(self.test_x.shape[0]),
            "classes": list(self.classes),
            "features": self.num_features,
            "positive": self.classes[self.positive],
        }


def standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Both parts scaled by the training part's mean and (population) standard deviation,
    as scikit-learn's StandardScaler does; a constant feature keeps a scale of 1."""
    mean = train.mean(dim=0)
    std = train.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (train - mean) / std, (test - mean) / std, mean, std


def tabular_from_arrays(
    name: str,
    features: Tensor,
    labels: Tensor,
    classes: list[str],
    feature_names: list[str],
    *,
    source: str,
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> TabularDataset:
    """A fixed stratified split of (N, F) rows, standardised with the training part only."""
    if features.ndim != 2 or features.shape[0] != labels.shape[0]:
        raise DataError(f"{name}: expected (N, F) features with N labels")
    if features.shape[1] != len(feature_names):
        raise DataError(f"{name}: {features.shape[1]} features but {len(feature_names)} names")
    if not torch.isfinite(features).all():
        raise DataError(f"{name}: some feature values are missing or infinite")
    train_idx, test_idx = validation_split(labels, test_fraction, seed)
    x = features.double()
    train_x, test_x, mean, std = standardise(x[train_idx], x[test_idx])
    return TabularDataset(
        name=name,
        train_x=train_x.float(),
        train_y=labels[train_idx].long(),
        test_x=test_x.float(),
        test_y=labels[test_idx].long(),
        classes=list(classes),
        feature_names=list(feature_names),
        feature_mean=mean.float(),
        feature_std=std.float(),
        source=source,
    )


def load_breast_cancer() -> TabularDataset:
    """The Wisconsin Diagnostic Breast Cancer cases, split and standardised (see above)."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    bunch = sklearn_breast_cancer()
    features = torch.from_numpy(bunch.data)  # (569, 30) float64
    labels = 1 - torch.from_numpy(bunch.target).long()  # scikit-learn: 0 = malignant
    return tabular_from_arrays(
        BREAST_CANCER,
        features,
        labels,
        list(BREAST_CANCER_CLASSES),
        [str(n) for n in bunch.feature_names],
        source=(
            "Wisconsin Diagnostic Breast Cancer (UCI), scikit-learn's bundled copy: 569 cases, "
            "30 features of cell nuclei from fine-needle aspirate images; fixed stratified "
            f"split, {int(TEST_FRACTION * 100)}% test (seed {SPLIT_SEED}); features "
            "standardised with the training part's statistics"
        ),
    )


def load_table(name: str) -> TabularDataset:
    if name == BREAST_CANCER:
        return load_breast_cancer()
    raise DataError(f"unknown table dataset {name!r}")


def majority_rate(data: TabularDataset) -> float:
    """Test accuracy of always answering the most common training class."""
    majority = int(torch.bincount(data.train_y, minlength=data.num_classes).argmax())
    return float((data.test_y == majority).double().mean())
