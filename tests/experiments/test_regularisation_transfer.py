"""The dropout, augmentation and transfer experiments in quick mode: each writes its figure,
table and verdict and stores every network it trains; transfer takes a user's safetensors
weights and refuses pickles without unpickling them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from helpers import check_experiment_written
from threefigures.cli import main
from threefigures.config import ModelConfig
from threefigures.errors import CheckpointError
from threefigures.experiments import run_experiment
from threefigures.experiments.transfer import check_pretrained, read_pretrained
from threefigures.models.cnn import CNN
from threefigures.runs.checkpoint import save_weights
from threefigures.runs.store import Store


def _quiet(_msg: str) -> None:
    pass


@pytest.mark.slow
def test_dropout_quick(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    run_experiment("dropout", quick=True, out_dir=tmp_path, store=store, log=_quiet)
    result = check_experiment_written("dropout", tmp_path, store)
    assert len(store.list_runs()) == 4  # MLP and CNN, with and without dropout, one size
    # accuracy and gap per model: 2 × 2 comparisons; the gap is "lower is better"
    assert len(result["comparisons"]) == 4
    gap = [c for c in result["comparisons"] if "gap" in c["label"]]
    assert all(c["effect"] == pytest.approx(c["mean_b"] - c["mean_a"]) for c in gap)
    curves = result["numbers"]["curves"]["MLP 512-512"]["150"]
    assert set(curves) == {"no dropout", "dropout 0.5"}
    assert len(curves["dropout 0.5"]["train"]) == len(curves["dropout 0.5"]["val"]) == 4
    dropout_runs = [r for r in store.list_runs() if "dropout 0.5" in r.info["label"]]
    assert dropout_runs and all(r.config["model"]["dropout"] == 0.5 for r in dropout_runs)


@pytest.mark.slow
def test_augmentation_quick(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    run_experiment("augmentation", quick=True, out_dir=tmp_path, store=store, log=_quiet)
    result = check_experiment_written("augmentation", tmp_path, store)
    assert len(store.list_runs()) == 10  # 5 variants × digits and fashion-mnist
    labels = [c["label"] for c in result["comparisons"]]
    # flipping: "should hurt" on digits (none first), "should help" on garments (flip first)
    digits_flip = next(c for c in result["comparisons"] if c["label"].startswith("digits (mirror"))
    fashion_flip = next(
        c for c in result["comparisons"] if c["label"].startswith("fashion-mnist (m")
    )
    acc = result["numbers"]["test_accuracy"]
    assert digits_flip["mean_a"] == pytest.approx(acc["digits"]["none"][0])
    assert digits_flip["mean_b"] == pytest.approx(acc["digits"]["flip"][0])
    assert fashion_flip["mean_a"] == pytest.approx(acc["fashion-mnist"]["flip"][0])
    assert len(labels) == 7
    augments = {tuple(r.config["train"]["augment"]) for r in store.list_runs()}
    assert ("flip", "rotate", "brightness") in augments and () in augments


@pytest.mark.slow
def test_transfer_quick_pretrains_and_records_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threefigures.experiments.transfer import _text_skipped

    store = Store(tmp_path / "db.sqlite")
    text = False
    if _text_skipped(_context_stub()) is None:  # the text case: 60 reviews, 30 to test
        from helpers import small_reviews_zip

        monkeypatch.setenv(
            "THREEFIGURES_DRUG_REVIEWS_ZIP", str(small_reviews_zip(tmp_path / "r.zip"))
        )
        text = True
    run_experiment("transfer", quick=True, out_dir=tmp_path, store=store, log=_quiet)
    result = check_experiment_written("transfer", tmp_path, store)
    runs = store.list_runs()
    # pretraining + three ways of learning the target (+ the text case's three networks)
    assert len(runs) == (7 if text else 4)
    if text:
        accuracy = result["numbers"]["text"]["test_accuracy"]
        assert set(accuracy) == {
            "from scratch",
            "TF-IDF + logistic regression",
            "frozen features",
            "fine-tuned",
        }
        assert len(result["comparisons"]) == 4  # 2 image + 2 text, one verdict over both
    weights = Path(result["numbers"]["pretrained_weights"])
    assert weights.exists() and weights.suffix == ".safetensors"
    assert any(r.info["label"].startswith("pretrain on fashion-mnist") for r in runs)
    assert result["numbers"]["frozen_layers_unchanged"] is True


@pytest.mark.slow
def test_transfer_with_users_safetensors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    mine = save_weights(CNN(ModelConfig(name="cnn", layers=(128,))), tmp_path / "mine.safetensors")
    store = Store(tmp_path / "db.sqlite")
    run_experiment(
        "transfer", quick=True, out_dir=tmp_path, store=store, log=_quiet, pretrained=mine
    )
    result = check_experiment_written("transfer", tmp_path, store)
    assert result["numbers"]["pretrained_weights"] == str(mine)
    assert result["numbers"]["pretrain_test_accuracy"] is None
    # no pretraining run: only the three target networks
    assert not any(r.info["label"].startswith("pretrain") for r in store.list_runs())
    assert len(store.list_runs()) == 3


def _context_stub():
    from threefigures.experiments.core import Context

    return Context(name="transfer", seeds=[0], quick=True, out_dir=Path("."))


class _Trap:
    """Unpickling this would create ``marker``: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_transfer_refuses_a_pickle_renamed_safetensors(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "unpickled"
    fake = tmp_path / "weights.safetensors"
    fake.write_bytes(pickle.dumps(_Trap(marker), protocol=4))
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(CheckpointError, match="pickle") as caught:
        run_experiment(
            "transfer", quick=True, out_dir=tmp_path, store=store, log=_quiet, pretrained=fake
        )
    assert "\n" not in str(caught.value)
    assert not marker.exists()
    assert store.list_runs() == []  # refused before anything was trained
    # a torch.save archive (zip) too, and through the CLI: one line on stderr, exit 1
    archive = tmp_path / "archive.safetensors"
    torch.save({"w": torch.zeros(2)}, archive)
    code = main(
        [
            "--store",
            str(tmp_path / "db.sqlite"),
            "experiment",
            "transfer",
            "--quick",
            "--pretrained",
            str(archive),
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "pickle" in err and err.strip().count("\n") == 0
    assert not marker.exists()


def test_pretrained_weights_must_match_except_the_output_layer(tmp_path: Path) -> None:
    reference = CNN(ModelConfig(name="cnn", layers=(128,)))
    # another class count: the output layer is replaced anyway, so it is accepted
    three = save_weights(
        CNN(ModelConfig(name="cnn", layers=(128,), num_classes=3)), tmp_path / "three.safetensors"
    )
    state = check_pretrained(read_pretrained(three), reference, three)
    assert not any(k.startswith("out.") for k in state)
    assert set(state) == {k for k in reference.state_dict() if not k.startswith("out.")}
    # another head width: a one-line shape error naming the tensor
    wide = save_weights(CNN(ModelConfig(name="cnn", layers=(64,))), tmp_path / "wide.safetensors")
    with pytest.raises(CheckpointError, match=r"head\.0\.weight has shape") as caught:
        check_pretrained(read_pretrained(wide), reference, wide)
    assert "\n" not in str(caught.value)
    # another architecture altogether (an MLP's weights)
    from threefigures.models.mlp import MLP

    mlp = save_weights(MLP(ModelConfig()), tmp_path / "mlp.safetensors")
    with pytest.raises(CheckpointError, match="do not fit the transfer CNN"):
        check_pretrained(read_pretrained(mlp), reference, mlp)
    # truncated file
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(three.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        read_pretrained(broken)
