"""The training loop: learns, is deterministic, resumes exactly, fails clearly."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from threefigures.config import ModelConfig, TrainConfig
from threefigures.errors import ConfigError
from threefigures.models import create_model
from threefigures.runner import model_config_for
from threefigures.training import (
    ResumeState,
    TrainingDiverged,
    TrainingInterrupted,
    evaluate,
    fit,
    make_optimizer,
    predict_proba,
)

FAST = TrainConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu")


def _model(data, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return create_model("mlp", model_config_for(data, ModelConfig(layers=(32,), **kw)))


def test_short_training_reaches_stated_accuracy(synthetic) -> None:
    result = fit(_model(synthetic), synthetic, FAST)
    assert result.test is not None
    assert result.test.accuracy >= 0.95, result.test.accuracy
    h = result.history
    assert h.epoch == [1, 2]
    assert len(h.batch_loss) == len(h.batch_epoch) == 2 * 17  # 540 train / 32 → 17 batches
    assert h.epoch_loss[1] < h.epoch_loss[0]
    assert all(v is not None and 0 <= v <= 1 for v in h.val_accuracy)
    assert result.sizes == {"train": 540, "validation": 60, "test": 200}


def test_same_seed_same_losses_to_the_last_digit(synthetic) -> None:
    a = fit(_model(synthetic, seed=3), synthetic, dataclasses.replace(FAST, seed=3))
    b = fit(_model(synthetic, seed=3), synthetic, dataclasses.replace(FAST, seed=3))
    assert a.history.batch_loss == b.history.batch_loss
    assert a.history.epoch_loss == b.history.epoch_loss
    c = fit(_model(synthetic, seed=4), synthetic, dataclasses.replace(FAST, seed=4))
    assert c.history.batch_loss != a.history.batch_loss


def test_resume_continues_exactly(synthetic) -> None:
    """2 epochs, then 1 more from the saved state == 3 epochs straight."""
    cfg = dataclasses.replace(FAST, epochs=3, schedule="cosine")
    straight = fit(_model(synthetic), synthetic, cfg)

    saved: dict = {}

    def grab(model, optimizer, scheduler, history, epoch):
        if epoch == 2:
            saved["model"] = {k: v.clone() for k, v in model.state_dict().items()}
            saved["opt"] = optimizer.state_dict()
            saved["sched"] = scheduler.state_dict()
            saved["history"] = dataclasses.replace(history)
            raise KeyboardInterrupt  # like Ctrl-C right after epoch 2 was saved

    with pytest.raises(TrainingInterrupted) as info:
        fit(_model(synthetic), synthetic, cfg, on_epoch_end=grab)
    # the hook never returned, so fit does not count epoch 2 as safely saved
    assert info.value.epochs_done == 1

    model = _model(synthetic, seed=99)  # different init: everything must come from the state
    model.load_state_dict(saved["model"])
    resumed = fit(
        model,
        synthetic,
        cfg,
        resume=ResumeState(2, saved["history"], saved["opt"], saved["sched"]),
    )
    assert resumed.history.epoch == [1, 2, 3]
    assert resumed.history.batch_loss == straight.history.batch_loss
    assert resumed.test.accuracy == straight.test.accuracy


def test_one_sgd_step_matches_a_hand_computed_gradient(synthetic) -> None:
    """For the output layer, dL/dW = (softmax - onehot)ᵀ h / B: check the optimizer applied it."""
    model = _model(synthetic)
    cfg = TrainConfig(optimizer="sgd", momentum=0.0, lr=0.1, device="cpu")
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    x = synthetic.train_x[:8].unsqueeze(1).float() / 255
    y = synthetic.train_y[:8]
    with torch.no_grad():
        h = model.hidden(model.normalize(x.reshape(8, 784)))  # (B, 32)
        p = torch.softmax(model.out(h), dim=1)  # (B, C)
        grad_w = (p - F.one_hot(y, 10).float()).T @ h / 8  # (C, 32)
        expected = model.out.weight - 0.1 * grad_w
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    assert torch.allclose(model.out.weight.grad, grad_w, atol=1e-6)
    opt.step()
    assert torch.allclose(model.out.weight, expected, atol=1e-6)


def test_sgd_and_adam_both_learn(synthetic) -> None:
    for optimizer, lr in (("sgd", 0.05), ("adam", 3e-3)):
        cfg = dataclasses.replace(FAST, optimizer=optimizer, lr=lr)
        result = fit(_model(synthetic), synthetic, cfg)
        assert result.test.accuracy >= 0.9, (optimizer, result.test.accuracy)


def test_nan_loss_stops_the_run_before_its_epoch_is_saved(synthetic) -> None:
    cfg = dataclasses.replace(FAST, optimizer="sgd", lr=1e12, momentum=0.0)
    saved: list[int] = []
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch \d+"):
        fit(_model(synthetic), synthetic, cfg, on_epoch_end=lambda *a: saved.append(a[-1]))
    assert saved == []


def test_divergence_is_caught_within_a_window_at_its_first_bad_batch(
    synthetic, monkeypatch
) -> None:
    """Losses are looked at every CHECK_EVERY steps (no per-step sync): the error names the
    first bad batch, and training stops at the end of that window."""
    import threefigures.training.loop as loop

    monkeypatch.setattr(loop, "CHECK_EVERY", 4)
    model = _model(synthetic)
    calls = []

    def forward_hook(_module, _inputs, output):
        calls.append(1)
        return output * float("nan") if len(calls) >= 6 else output

    model.register_forward_hook(forward_hook)
    with pytest.raises(TrainingDiverged, match="batch 6:"):
        fit(model, synthetic, dataclasses.replace(FAST, epochs=1))
    assert len(calls) == 8  # the window 5-8 ran, then the look at it stopped the run


def test_batch_larger_than_dataset_is_a_clear_error(synthetic) -> None:
    with pytest.raises(ConfigError, match="larger than the 540 training examples"):
        fit(_model(synthetic), synthetic, dataclasses.replace(FAST, batch_size=10_000))


def test_bf16_precision_trains(synthetic) -> None:
    result = fit(_model(synthetic), synthetic, dataclasses.replace(FAST, precision="bf16"))
    assert result.precision == "bf16"
    assert result.test.accuracy >= 0.9


def test_evaluate_confusion_and_probabilities(synthetic) -> None:
    model = _model(synthetic)
    fit(model, synthetic, FAST)
    result = evaluate(model, synthetic.test_x, synthetic.test_y)
    assert result.confusion.sum() == 200
    assert result.confusion.trace() / 200 == pytest.approx(result.accuracy)
    assert result.probabilities.shape == (200, 10)
    assert abs(result.probabilities.sum(axis=1) - 1).max() < 1e-5
    probs = predict_proba(model, synthetic.test_x)
    assert torch.equal(probs.argmax(1), torch.from_numpy(result.predictions))


def test_unavailable_device_is_a_clear_error(synthetic) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        fit(_model(synthetic), synthetic, dataclasses.replace(FAST, device="cuda"))


@pytest.mark.slow
def test_demo_defaults_reach_92_percent_on_real_digits() -> None:
    """The article's network, 3 epochs, default settings, the 1,000 held-out real digits."""
    from threefigures.data import load_dataset

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = create_model("mlp", model_config_for(data))
    result = fit(model, data, TrainConfig(device="cpu"))
    assert result.test is not None
    assert result.test.accuracy >= 0.92, result.test.accuracy


@pytest.mark.slow
def test_comparable_to_scikit_learn_mlp_on_real_digits() -> None:
    """Reference check: same network in scikit-learn lands in the same accuracy range."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from threefigures.data import load_dataset

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = create_model("mlp", model_config_for(data))
    ours = fit(model, data, TrainConfig(device="cpu")).test.accuracy
    x = data.train_x.reshape(len(data.train_x), -1).numpy() / 255
    xt = data.test_x.reshape(len(data.test_x), -1).numpy() / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = MLPClassifier(hidden_layer_sizes=(256,), max_iter=3, batch_size=32, random_state=0)
        sk.fit(x, data.train_y.numpy())
    theirs = sk.score(xt, data.test_y.numpy())
    assert ours >= theirs - 0.02, (ours, theirs)


def test_ctrl_c_during_a_save_waits_for_the_save_then_stops(synthetic) -> None:
    """SIGINT that lands while an epoch's checkpoint is being written does not cut the save
    short: training stops at the next step boundary with that epoch counted as done."""
    import os
    import signal

    from threefigures.config import ModelConfig, TrainConfig
    from threefigures.models import create_model
    from threefigures.runner import model_config_for
    from threefigures.training import TrainingInterrupted, fit

    saved: list[int] = []

    def on_epoch_end(model, optimizer, scheduler, history, epoch) -> None:  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGINT)  # arrives "during the save"
        saved.append(epoch)  # the save still completes

    before = signal.getsignal(signal.SIGINT)
    model = create_model(model_config_for(synthetic, ModelConfig(layers=(16,))))
    with pytest.raises(TrainingInterrupted) as caught:
        fit(model, synthetic, TrainConfig(epochs=5, device="cpu"), on_epoch_end=on_epoch_end)
    assert saved == [1] and caught.value.epochs_done == 1
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
