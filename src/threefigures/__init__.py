"""threefigures: how deep learning works, in three figures drawn from real runs.

    from threefigures import load_dataset, ModelConfig, create_model, fit, draw_figures
    data = load_dataset("digits")
    model = create_model("mlp", model_config_for(data, ModelConfig(layers=(256,))))
    result = fit(model, data)
    draw_figures(model, data, result, "out/")
"""

__version__ = "0.1.0"

from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from threefigures.data import Dataset, list_datasets, load_dataset  # noqa: E402
from threefigures.errors import ThreeFiguresError  # noqa: E402
from threefigures.models import create_model, list_models  # noqa: E402
from threefigures.runner import (  # noqa: E402
    draw_figures,
    evaluate_run,
    load_run_model,
    model_config_for,
    predict_images,
    redraw,
    resume_run,
    train_run,
)
from threefigures.store import Store  # noqa: E402
from threefigures.training import EvalResult, FitResult, evaluate, fit, predict_proba  # noqa: E402

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
