"""Claim: "deep learning needs a massive amount of data" and "decision trees or SVMs may suit
limited data better".

Learning curves — test accuracy against training-set size — on the same stratified subsets
for the MLP, the CNN, the CNN with augmentation, a CNN pretrained on another dataset and
fine-tuned, and scikit-learn's SVC (RBF), decision tree, random forest and logistic
regression. Neural networks get a similar number of optimizer steps at every size (more
epochs on small sets), the full subset (no validation carved out, like the classical
models), and the defaults otherwise. Training and prediction time are recorded per model.

Verdict: at each small size (≤ 300 examples) the SVM and the random forest are compared with
the MLP and with the CNN; the claim is supported where the classical model wins.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from threefigures.config import ModelConfig, TrainConfig
from threefigures.experiments.core import Context, Outcome, conclude, mean_std, register, subset
from threefigures.experiments.verdict import compare
from threefigures.models import default_config

FULL_SIZES = {"digits": [100, 300, 1000, 4000], "fashion-mnist": [100, 300, 1000, 4000, 60000]}
QUICK_SIZES = [100, 300]
#: Optimizer steps the networks get at every size (epochs = steps × batch / size).
STEPS = 400
QUICK_STEPS = 60
NEURAL = ("MLP", "CNN", "CNN + augmentation", "CNN pretrained, fine-tuned")
CLASSICAL = ("SVM (RBF)", "decision tree", "random forest", "logistic regression")


def _epochs(n: int, steps: int, batch: int = 32) -> int:
    return max(1, min(150, math.ceil(steps * batch / n)))


def _classical(name: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "SVM (RBF)": lambda: SVC(kernel="rbf", C=5.0, gamma="scale"),
        "decision tree": lambda: DecisionTreeClassifier(random_state=seed),
        "random forest": lambda: RandomForestClassifier(n_estimators=200, random_state=seed),
        "logistic regression": lambda: LogisticRegression(max_iter=300),
    }[name]()


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.reshape(x.shape[0], -1).float().div(255.0).numpy()


def _pretrain(ctx: Context, target: str) -> dict[str, torch.Tensor]:
    """A CNN trained with our own ``fit`` on a *different* dataset: fashion items for the
    digits, digits for the fashion items. Its weights (safetensors in the store) start the
    fine-tuned model."""
    source = "fashion-mnist" if target != "fashion-mnist" else "digits"
    data = ctx.images(source)
    if ctx.quick:
        data = subset(data, 1000, 0)
    cfg = TrainConfig(epochs=1 if ctx.quick else 2, batch_size=64, seed=0, device="cpu")
    model, _ = ctx.train(data, default_config("cnn"), cfg, label=f"pretrain on {source}")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@register("small-data", "learning curves: neural networks vs SVM / trees / forests by data size")
def small_data(ctx: Context) -> Outcome:
    from threefigures.figures.claims import Series, draw_line_panels

    name = ctx.data or "digits"
    data = ctx.images(name)
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES.get(name, [100, 300, 1000, 4000])
    sizes = [n for n in sizes if n <= len(data.train_y)] or [len(data.train_y)]
    steps = QUICK_STEPS if ctx.quick else STEPS
    pretrained = _pretrain(ctx, name)

    def load_pretrained(model: torch.nn.Module) -> None:
        # every layer but the output (the classes differ): the new head starts fresh
        state = {k: v for k, v in pretrained.items() if not k.startswith("out.")}
        model.load_state_dict(state, strict=False)

    acc: dict[str, dict[int, list[float]]] = {m: {n: [] for n in sizes} for m in NEURAL + CLASSICAL}
    fit_s: dict[str, list[float]] = {m: [] for m in NEURAL + CLASSICAL}
    pred_s: dict[str, list[float]] = {m: [] for m in NEURAL + CLASSICAL}
    test_x = _flat(data.test_x)
    test_y = data.test_y.numpy()
    for n in sizes:
        ctx.log(f" {n} training examples")
        for seed in ctx.seeds:
            part = subset(data, n, seed)
            epochs = _epochs(n, steps)
            base = TrainConfig(epochs=epochs, seed=seed, device="cpu")
            variants: list[tuple[str, ModelConfig, TrainConfig, Any]] = [
                ("MLP", default_config("mlp"), base, None),
                ("CNN", default_config("cnn"), base, None),
                (
                    "CNN + augmentation",
                    default_config("cnn"),
                    TrainConfig(
                        epochs=epochs,
                        seed=seed,
                        device="cpu",
                        augment=("rotate", "shift")
                        if name != "fashion-mnist"
                        else ("flip", "shift"),
                    ),
                    None,
                ),
                (
                    "CNN pretrained, fine-tuned",
                    default_config("cnn"),
                    TrainConfig(epochs=epochs, seed=seed, device="cpu", lr=1e-3),
                    load_pretrained,
                ),
            ]
            for label, model_cfg, train_cfg, init in variants:
                model, result = ctx.train(
                    part, model_cfg, train_cfg, label=f"{label} n={n}", init=init, val_fraction=0.0
                )
                assert result.test is not None
                acc[label][n].append(result.test.accuracy)
                fit_s[label].append(result.train_seconds)
                started = time.perf_counter()
                from threefigures.training import predict_proba

                predict_proba(model, data.test_x)
                pred_s[label].append(time.perf_counter() - started)
            train_x, train_y = _flat(part.train_x), part.train_y.numpy()
            for label in CLASSICAL:
                clf = _classical(label, seed)
                started = time.perf_counter()
                clf.fit(train_x, train_y)
                fitted = time.perf_counter() - started
                started = time.perf_counter()
                score = float((clf.predict(test_x) == test_y).mean())
                pred_s[label].append(time.perf_counter() - started)
                fit_s[label].append(fitted)
                acc[label][n].append(score)
                what = f"{label} n={n}"
                ctx.log(f"  {what:<44} seed {seed}: test {100 * score:6.2f}%  ({fitted:.1f} s)")

    # verdict: at small sizes, does a classical model beat the networks?
    comparisons = []
    for n in [s for s in sizes if s <= 300]:
        for classical in ("SVM (RBF)", "random forest"):
            for neural in ("MLP", "CNN"):
                comparisons.append(
                    compare(
                        f"{classical} vs {neural} at {n} examples",
                        acc[classical][n],
                        acc[neural][n],
                    )
                )

    header = ("Model", *[f"n={n}" for n in sizes], "fit s (mean)", "predict s (mean)")
    rows = [
        (
            model,
            *[mean_std(acc[model][n]) for n in sizes],
            f"{np.mean(fit_s[model]):.2f}",
            f"{np.mean(pred_s[model]):.3f}",
        )
        for model in NEURAL + CLASSICAL
    ]
    series = [
        Series(
            m,
            sizes,
            [float(np.mean(acc[m][n])) for n in sizes],
            [float(np.std(acc[m][n])) for n in sizes] if len(ctx.seeds) > 1 else None,
            dashed=m in CLASSICAL,
        )
        for m in NEURAL + CLASSICAL
    ]
    figure = draw_line_panels(
        [(f"{name}: test accuracy by training-set size", series)],
        ctx.figure_path,
        xlabel="training examples (log scale)",
        ylabel="test accuracy",
        title="Does deep learning need a lot of data?",
        subtitle="solid: neural networks · dashed: scikit-learn · "
        f"mean over {len(ctx.seeds)} seed(s), band ±1 sd",
        logx=True,
        percent=True,
    )
    best_small = max(NEURAL + CLASSICAL, key=lambda m: np.mean(acc[m][sizes[0]]))
    best_large = max(NEURAL + CLASSICAL, key=lambda m: np.mean(acc[m][sizes[-1]]))
    notes = [
        f"Best at {sizes[0]} examples: {best_small} ({mean_std(acc[best_small][sizes[0]])}%); "
        f"best at {sizes[-1]}: {best_large} ({mean_std(acc[best_large][sizes[-1]])}%).",
        f"Networks trained for about {steps} optimizer steps at every size (batch 32).",
    ]
    return conclude(
        claim="Deep learning needs a massive amount of data; decision trees or SVMs may suit "
        "limited data better.",
        question="With few labelled examples, do SVMs and tree ensembles beat neural networks?",
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        notes=notes,
        numbers={"accuracy": {m: {str(n): v for n, v in acc[m].items()} for m in acc}},
    )
