"""breast-cancer: the tabular loader, its fixed stratified split and its standardisation
(training part only), checked against scikit-learn's own copy of the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from threefigures.data import is_sequence_data, is_table_data, list_datasets, load_data
from threefigures.data.tabular import (
    BREAST_CANCER,
    TabularDataset,
    majority_rate,
    standardise,
    tabular_from_arrays,
)
from threefigures.errors import DataError


@pytest.fixture(scope="module")
def cancer() -> TabularDataset:
    data = load_data(BREAST_CANCER)
    assert is_table_data(data) and not is_sequence_data(data)
    return data


def test_listed_and_shaped(cancer: TabularDataset) -> None:
    assert BREAST_CANCER in list_datasets()
    assert cancer.train_x.shape == (427, 30) and cancer.test_x.shape == (142, 30)
    assert cancer.train_x.dtype == torch.float32 and cancer.train_y.dtype == torch.int64
    assert cancer.classes == ["benign", "malignant"] and cancer.positive == 1
    assert len(cancer.feature_names) == 30 and cancer.feature_names[0] == "mean radius"
    assert cancer.summary()["features"] == 30


def test_labels_match_sklearn_with_malignant_positive(cancer: TabularDataset) -> None:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    # scikit-learn: 212 malignant coded 0; here malignant is class 1
    assert int((bunch.target == 0).sum()) == 212
    total = torch.cat([cancer.train_y, cancer.test_y])
    assert int(total.sum()) == 212 and len(total) == 569
    # every row comes back to a real case with its label
    raw = cancer.raw(cancer.test_x).double().numpy()
    for row, label in zip(raw[:10], cancer.test_y[:10].tolist(), strict=True):
        match = np.where(np.abs(bunch.data - row).max(axis=1) < 1e-3)[0]
        assert len(match) == 1
        assert 1 - int(bunch.target[match[0]]) == label


def test_split_is_stratified_and_fixed(cancer: TabularDataset) -> None:
    share_train = float(cancer.train_y.double().mean())
    share_test = float(cancer.test_y.double().mean())
    assert abs(share_train - share_test) < 0.01  # 212/569 = 37.3% malignant in both
    again = load_data(BREAST_CANCER)
    assert torch.equal(again.test_x, cancer.test_x) and torch.equal(again.test_y, cancer.test_y)


def test_standardised_with_training_statistics_only(cancer: TabularDataset) -> None:
    from sklearn.preprocessing import StandardScaler

    train_raw = cancer.raw(cancer.train_x).double().numpy()
    test_raw = cancer.raw(cancer.test_x).double().numpy()
    scaler = StandardScaler().fit(train_raw)
    np.testing.assert_allclose(cancer.train_x.numpy(), scaler.transform(train_raw), atol=1e-4)
    np.testing.assert_allclose(cancer.test_x.numpy(), scaler.transform(test_raw), atol=1e-4)
    assert cancer.train_x.mean(dim=0).abs().max() < 1e-4  # the training part is centred
    assert cancer.test_x.mean(dim=0).abs().max() > 1e-3  # the test part is not: unseen


def test_majority_rate(cancer: TabularDataset) -> None:
    assert majority_rate(cancer) == pytest.approx(float((cancer.test_y == 0).double().mean()))


def test_standardise_keeps_a_constant_feature_finite() -> None:
    train = torch.tensor([[1.0, 5.0], [3.0, 5.0]], dtype=torch.float64)
    a, _b, mean, std = standardise(train, train.clone())
    assert torch.isfinite(a).all() and std[1] == 1.0 and mean.tolist() == [2.0, 5.0]


def test_bad_tables_are_data_errors() -> None:
    x = torch.zeros(10, 3, dtype=torch.float64)
    y = torch.tensor([0, 1] * 5)
    with pytest.raises(DataError, match="3 features but 2 names"):
        tabular_from_arrays("t", x, y, ["a", "b"], ["f1", "f2"], source="test")
    x[0, 0] = float("nan")
    with pytest.raises(DataError, match="missing or infinite"):
        tabular_from_arrays("t", x, y, ["a", "b"], ["f1", "f2", "f3"], source="test")
    with pytest.raises(DataError, match="--binary"):
        load_data(BREAST_CANCER, binary=1)
