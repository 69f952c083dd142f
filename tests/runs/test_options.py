"""runs/options.py: the one mapping from ``threefigures train``'s options to a RunConfig,
shared by the CLI and the web page's POST /api/train."""

from __future__ import annotations

import pytest

from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.errors import ConfigError
from threefigures.runs.options import OPTION_KINDS, flag, run_config_from_options


def test_no_options_is_the_articles_network() -> None:
    assert run_config_from_options({}) == RunConfig()


def test_every_option_is_a_config_field() -> None:
    from dataclasses import fields

    from threefigures.config import DataConfig

    known = {f.name for c in (DataConfig, ModelConfig, TrainConfig) for f in fields(c)}
    assert set(OPTION_KINDS) - {"data", "model"} <= known


def test_model_and_dataset_defaults_apply_unless_given() -> None:
    cnn = run_config_from_options({"model": "cnn"})
    assert cnn.model.layers == (128,)  # the CNN's registered head
    names = run_config_from_options({"data": "names-gender", "model": "rnn"})
    assert names.model.cell == "gru" and names.model.bidirectional and names.train.epochs == 12
    given = run_config_from_options(
        {"data": "names-gender", "model": "rnn", "cell": "lstm", "epochs": 2}
    )
    assert given.model.cell == "lstm" and given.model.bidirectional and given.train.epochs == 2


def test_json_and_cli_spellings_agree() -> None:
    from_cli = run_config_from_options(
        {"layers": "512,128", "augment": "flip, Rotate", "batch_size": 64, "lr": 0.01}
    )
    from_page = run_config_from_options(
        {"layers": [512, 128], "augment": ["flip", "rotate"], "batch-size": 64, "lr": 1e-2}
    )
    assert from_cli == from_page
    assert from_cli.model.layers == (512, 128) and from_cli.train.augment == ("flip", "rotate")
    assert run_config_from_options({"layers": 64}).model.layers == (64,)
    # None means "not given", as an unset CLI option
    assert run_config_from_options({"epochs": None, "cell": None}) == RunConfig()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown option 'colour'"),
        ({"lr": "fast"}, "--lr must be a number"),
        ({"lr": True}, "--lr must be a number"),
        ({"lr": float("nan")}, "learning rate must be a positive finite number"),
        ({"epochs": 2.5}, "--epochs must be an integer"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": "32"}, "--batch-size must be an integer"),
        ({"layers": "12,x"}, "--layers must be positive integers"),
        ({"layers": [0]}, "--layers needs positive sizes"),
        ({"layers": [True]}, "--layers must be positive integers"),
        ({"channels": ","}, "--channels needs positive sizes"),
        ({"augment": ["flip", 3]}, "--augment must be names"),
        ({"augment": "spin"}, "unknown augmentation 'spin'"),
        ({"batch_norm": "yes"}, "--batch-norm must be true or false"),
        ({"model": 3}, "--model must be a string"),
        ({"model": "transformer"}, "unknown model"),
        ({"activation": "swish"}, "unknown activation"),
        ({"dropout": 1.5}, "dropout must be in [0, 1)"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        run_config_from_options(options)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_flag_spells_options_as_the_cli() -> None:
    assert flag("batch_size") == "--batch-size" and flag("lr") == "--lr"
