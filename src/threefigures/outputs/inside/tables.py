"""The "Looking inside" section for a table run: one case's attribution per feature
(integrated gradients through Captum, from the average case) and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from threefigures.data.tabular import TabularDataset
from threefigures.outputs.inside.common import InsideOptions, InsideResult, add_confusion
from threefigures.outputs.tabular import case_attribution, first_positive_case
from threefigures.training import EvalResult, evaluate


def inside_tables(
    model: nn.Module,
    data: TabularDataset,
    out_dir: Path,
    result: InsideResult,
    options: InsideOptions,
    *,
    test: EvalResult | None = None,
    case: int | None = None,
) -> None:
    """Write the table views into ``out_dir``; ``case``: the test case to explain (default
    the first of the positive class)."""
    case = first_positive_case(data) if case is None else case
    path = out_dir / "inside-features.png"
    numbers = case_attribution(model, data, case, path)
    result.numbers["case_attribution"] = numbers
    positive = data.classes[data.positive]
    result.add(
        "inside-features",
        f"Which measurements moved test case {case} towards {positive}",
        path,
        "Integrated gradients (Captum) from the average training case to this one: each "
        "bar is one feature's share of the change in the score; they add up to the whole.",
    )
    if options.confusion_figure:
        test = test or evaluate(model, data.test_x, data.test_y, num_classes=data.num_classes)
        add_confusion(result, test.confusion, data.classes, out_dir, "Test confusion")
