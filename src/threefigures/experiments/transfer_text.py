"""The transfer experiment's text case: does a transformer pretrained on a billion sentence
pairs (all-MiniLM-L6-v2) help with a few hundred labelled drug reviews?

At each training size (100, 300 and all 600 reviews; 60 with ``--quick``), on the same
stratified subsets and the same 379 test reviews, four models:

- **from scratch**: a bidirectional GRU over the same WordPiece tokens, nothing pretrained;
- **TF-IDF + logistic regression** (scikit-learn, 1–2-grams): the classical baseline;
- **frozen MiniLM**: the pretrained encoder fixed, a linear head trained on its mean-pooled
  states;
- **fine-tuned MiniLM**: every weight trained from the pretrained start.

The verdict compares the two MiniLM variants with the network from scratch at each size
(the claim is about reusing a pretrained network); TF-IDF is printed beside them and the
notes say which model won at each size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from threefigures.config import ModelConfig, TrainConfig
from threefigures.data.names import train_defaults
from threefigures.data.sequences import SequenceDataset, majority_baseline
from threefigures.experiments.core import Context, mean_std
from threefigures.experiments.plots import bar
from threefigures.experiments.transfer import FINE_TUNED, FROZEN, SCRATCH, TFIDF
from threefigures.experiments.verdict import Comparison, compare
from threefigures.models import default_config

DATA = "drug-reviews"
# The image case's names, so both cases share the figure's legend and the table's columns:
# from scratch = a GRU on the WordPiece tokens; frozen features = MiniLM's encoder fixed, a
# head on its mean-pooled states; fine-tuned = every MiniLM weight trained.
VARIANTS = (SCRATCH, TFIDF, FROZEN, FINE_TUNED)
FULL_SIZES, QUICK_SIZES = (100, 300, 600), (60,)
QUICK_TEST = 120

#: The recipes: each what a bare `threefigures train --data drug-reviews --model NAME` does
#: (data/names.py), the frozen head with the rate and epochs that did best on one seed in
#: benchmarks/bench_text.py (Adam 1e-2, 10 epochs: 68.3%; 20 or 30 epochs, or 3e-2, did worse).
RECIPES: dict[str, tuple[ModelConfig, TrainConfig]] = {
    SCRATCH: (default_config("rnn", data=DATA), TrainConfig()),
    FROZEN: (
        dataclasses.replace(default_config("minilm"), freeze=True),
        TrainConfig(epochs=10, batch_size=32, lr=1e-2, optimizer="adam"),
    ),
    FINE_TUNED: (
        default_config("minilm"),
        TrainConfig(**train_defaults(DATA, "minilm")),
    ),
}
QUICK_EPOCHS = {SCRATCH: 2, FROZEN: 2, FINE_TUNED: 1}


def text_subset(data: SequenceDataset, n: int, seed: int) -> SequenceDataset:
    """``n`` training reviews, stratified by class and seeded; the test part unchanged."""
    if n >= len(data.train_y):
        return data
    rng = np.random.default_rng(seed)
    labels = data.train_y.numpy()
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    # each class in proportion to its share (at least one), the remainder by largest share
    share = {c: max(1, int(n * len(i) / len(labels))) for c, i in per_class.items()}
    while sum(share.values()) < n:
        c = max(per_class, key=lambda k: len(per_class[k]) - share[k])
        share[c] += 1
    chosen = np.sort(np.concatenate([per_class[c][: share[c]] for c in per_class]))
    idx = torch.from_numpy(chosen)
    return dataclasses.replace(
        data,
        train_x=data.train_x[idx],
        train_len=data.train_len[idx],
        train_y=data.train_y[idx],
        texts_train=[data.texts_train[i] for i in chosen],
    )


def _tfidf_accuracy(part: SequenceDataset) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform(part.texts_train)
    # C and the class weights picked by 5-fold cross-validation on the 600 training reviews
    # (benchmarks/bench_text.py): 74.4% on the test set, against 71.5% unweighted
    classifier = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
    classifier.fit(features, part.train_y.numpy())
    predicted = classifier.predict(vectorizer.transform(part.texts_test))
    return float((predicted == part.test_y.numpy()).mean())


def run_text_case(ctx: Context) -> dict[str, Any]:
    """Train every variant at every size and seed; the table rows, bar groups, comparisons
    and notes the transfer experiment adds for text."""
    data = ctx.dataset(DATA)
    assert isinstance(data, SequenceDataset)
    if ctx.quick:
        data = dataclasses.replace(
            data,
            test_x=data.test_x[:QUICK_TEST],
            test_len=data.test_len[:QUICK_TEST],
            test_y=data.test_y[:QUICK_TEST],
            texts_test=data.texts_test[:QUICK_TEST],
        )
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    acc: dict[str, dict[int, list[float]]] = {v: {n: [] for n in sizes} for v in VARIANTS}
    for n in sizes:
        ctx.log(f" {n} drug reviews")
        for seed in ctx.seeds:
            part = text_subset(data, n, seed)
            acc[TFIDF][n].append(_tfidf_accuracy(part))
            for variant, (model, recipe) in RECIPES.items():
                epochs = QUICK_EPOCHS[variant] if ctx.quick else recipe.epochs
                _model, result = ctx.train(
                    part,
                    model,
                    dataclasses.replace(recipe, epochs=epochs, seed=seed),
                    label=f"{variant}, n={n}",
                    val_fraction=0.0,
                )
                assert result.test is not None
                acc[variant][n].append(result.test.accuracy)
    majority = majority_baseline(data)
    comparisons: list[Comparison] = [
        compare(
            f"{variant} vs {SCRATCH} with {n} labelled reviews",
            acc[variant][n],
            acc[SCRATCH][n],
        )
        for n in sizes
        for variant in (FINE_TUNED, FROZEN)
    ]
    rows = [(f"{n} reviews", "—", *[mean_std(acc[v][n]) for v in VARIANTS]) for n in sizes]
    groups = [(f"{n} reviews", [bar(v, acc[v][n]) for v in VARIANTS]) for n in sizes]
    notes = [
        f"Text: {DATA}, {len(data.test_y)} test reviews; majority class {100 * majority:.1f}%. "
        "Recipes: from scratch = `train --model rnn` (LSTM, Adam 3e-3, 3 epochs); frozen "
        "MiniLM head Adam 1e-2 ×10 epochs; fine-tuned MiniLM AdamW 1e-4 ×4, batch 16, 128 "
        "tokens; TF-IDF 1-2-grams, C=10, balanced classes"
        + (" (quick: fewer epochs)" if ctx.quick else "")
        + "."
    ]
    for n in sizes:
        best = max(VARIANTS, key=lambda v: float(np.mean(acc[v][n])))
        notes.append(f"Best at {n} reviews: {best} ({mean_std(acc[best][n])}%).")
    return {
        "rows": rows,
        "groups": groups,
        "comparisons": comparisons,
        "notes": notes,
        "numbers": {
            "majority_baseline": majority,
            "test_accuracy": {v: {str(n): acc[v][n] for n in sizes} for v in VARIANTS},
        },
    }
