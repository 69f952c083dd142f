"""threefigures: how deep learning works, in three figures drawn from real runs.

    from threefigures import ModelConfig, create_model, draw_figures, fit, load_dataset
    from threefigures import model_config_for
    data = load_dataset("digits")
    model = create_model("mlp", model_config_for(data, ModelConfig(layers=(256,))))
    result = fit(model, data)
    draw_figures(model, data, result, "out/")

Names are imported lazily (PEP 562), so ``import threefigures.cli`` starts fast and
``threefigures --help`` does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DataConfig": "threefigures.config",
    "ModelConfig": "threefigures.config",
    "RunConfig": "threefigures.config",
    "TrainConfig": "threefigures.config",
    "Dataset": "threefigures.data",
    "list_datasets": "threefigures.data",
    "load_dataset": "threefigures.data",
    "ThreeFiguresError": "threefigures.errors",
    "create_model": "threefigures.models",
    "list_models": "threefigures.models",
    "draw_figures": "threefigures.runner",
    "evaluate_run": "threefigures.runner",
    "load_run_model": "threefigures.runner",
    "model_config_for": "threefigures.models",
    "predict_images": "threefigures.runner",
    "redraw": "threefigures.runner",
    "resume_run": "threefigures.runner",
    "train_run": "threefigures.runner",
    "Store": "threefigures.runs.store",
    "EvalResult": "threefigures.training",
    "FitResult": "threefigures.training",
    "evaluate": "threefigures.training",
    "fit": "threefigures.training",
    "predict_proba": "threefigures.training",
}

__all__ = [
    "DataConfig",
    "Dataset",
    "EvalResult",
    "FitResult",
    "ModelConfig",
    "RunConfig",
    "Store",
    "ThreeFiguresError",
    "TrainConfig",
    "__version__",
    "create_model",
    "draw_figures",
    "evaluate",
    "evaluate_run",
    "fit",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_run_model",
    "model_config_for",
    "predict_images",
    "predict_proba",
    "redraw",
    "resume_run",
    "train_run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'threefigures' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from threefigures.data import Dataset, list_datasets, load_dataset
    from threefigures.errors import ThreeFiguresError
    from threefigures.models import create_model, list_models, model_config_for
    from threefigures.runner import (
        draw_figures,
        evaluate_run,
        load_run_model,
        predict_images,
        redraw,
        resume_run,
        train_run,
    )
    from threefigures.runs.store import Store
    from threefigures.training import EvalResult, FitResult, evaluate, fit, predict_proba
