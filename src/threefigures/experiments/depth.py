"""Claim: depth helps — several hidden layers beat one at the same number of parameters.

MLPs on the digits with 1, 2 and 4 hidden layers whose widths are solved so each has the
Figure 1 network's 203,530 parameters (within 2%); same training for all. Comparisons
(positive = for the claim): 2 layers vs 1 and 4 layers vs 1, test accuracy.
"""

from __future__ import annotations

import itertools

from threefigures.config import ModelConfig, TrainConfig
from threefigures.experiments.core import Context, Outcome, mean_std, register, subset
from threefigures.experiments.verdict import compare, decide

TARGET = 203_530  # the Figure 1 MLP: 784 → 256 → 10


def mlp_params(widths: tuple[int, ...], inputs: int = 784, outputs: int = 10) -> int:
    sizes = (inputs, *widths, outputs)
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def equal_width(depth: int, target: int = TARGET) -> tuple[int, ...]:
    """The width w for ``depth`` equal hidden layers whose parameter count is closest to
    ``target``."""
    best = min(range(1, 2048), key=lambda w: abs(mlp_params((w,) * depth) - target))
    return (best,) * depth


@register("depth", "1 vs 2 vs 4 hidden layers at equal parameter count")
def depth(ctx: Context) -> Outcome:
    from threefigures.figures.claims import draw_grouped_bars

    data = ctx.dataset(ctx.data or "digits")
    if ctx.quick:
        data = subset(data, 600, 0)
    epochs = 2 if ctx.quick else 8
    shapes = {d: equal_width(d) for d in (1, 2, 4)}
    test: dict[int, list[float]] = {d: [] for d in shapes}
    for seed in ctx.seeds:
        for d, widths in shapes.items():
            _m, result = ctx.train(
                data,
                ModelConfig(layers=widths),
                TrainConfig(epochs=epochs, seed=seed),
                label=f"{d} hidden layer(s) of {widths[0]}",
            )
            assert result.test is not None
            test[d].append(result.test.accuracy)
    comparisons = [
        compare(f"{d} layers vs 1 layer: test accuracy", test[d], test[1]) for d in (2, 4)
    ]
    verdict = decide(comparisons)
    figure = draw_grouped_bars(
        [
            (
                f"{d} × {shapes[d][0]} ({mlp_params(shapes[d]):,} params)",
                [("test accuracy", sum(test[d]) / len(test[d]), _sd(test[d]))],
            )
            for d in shapes
        ],
        ctx.out_dir / "depth.png",
        ylabel="test accuracy",
        title="Depth at equal parameter count",
        subtitle=f"MLPs on {data.name}, {epochs} epochs, mean over {len(ctx.seeds)} seed(s)",
    )
    rows = [
        (f"{d} × {shapes[d][0]}", f"{mlp_params(shapes[d]):,}", mean_std(test[d])) for d in shapes
    ]
    return Outcome(
        claim="Depth helps: several hidden layers beat one at the same number of parameters.",
        question="At ~203k parameters, do 2 or 4 hidden layers beat the Figure 1 network's one?",
        header=("Hidden layers", "parameters", "test accuracy"),
        rows=rows,
        figure=figure,
        verdict=verdict,
        comparisons=comparisons,
        numbers={
            "widths": {str(d): list(w) for d, w in shapes.items()},
            "test": {str(d): v for d, v in test.items()},
        },
    )


def _sd(values: list[float]) -> float | None:
    import statistics

    return statistics.stdev(values) if len(values) > 1 else None
