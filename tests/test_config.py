"""Tests for threefigures.config: typed configs, validation and strict JSON in and out."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig, from_dict
from threefigures.errors import ConfigError, ThreeFiguresError


def raw_config(**sections: dict[str, Any]) -> dict[str, Any]:
    """The default run config as a JSON-like dict, with keys of some sections overridden."""
    raw = json.loads(RunConfig().to_json())
    for section, values in sections.items():
        raw[section].update(values)
    return raw


def rejects(text_or_raw: str | dict[str, Any], *fragments: str) -> ConfigError:
    """Assert that RunConfig refuses the config with a ConfigError naming every fragment."""
    text = text_or_raw if isinstance(text_or_raw, str) else json.dumps(text_or_raw)
    with pytest.raises(ConfigError) as info:
        RunConfig.from_json(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message
    return info.value


# --------------------------------------------------------------------------- defaults


def test_defaults_validate() -> None:
    config = RunConfig()
    config.validate()
    assert config.train.epochs == 3
    assert config.train.optimizer == "adam"
    assert config.model.layers == (256,)
    assert config.data.name == "digits"


def test_config_error_is_a_threefigures_error() -> None:
    assert issubclass(ConfigError, ThreeFiguresError)


def test_configs_are_frozen() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.epochs = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- TrainConfig


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"batch_size": 0}, "batch size"),
        ({"batch_size": -1}, "batch size"),
        ({"lr": math.nan}, "learning rate"),
        ({"lr": math.inf}, "learning rate"),
        ({"lr": -math.inf}, "learning rate"),
        ({"lr": -0.1}, "learning rate"),
        ({"lr": 0.0}, "learning rate"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"optimizer": "Adam"}, "optimizer"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": math.nan}, "momentum"),
        ({"weight_decay": -1e-4}, "weight decay"),
        ({"weight_decay": math.nan}, "weight decay"),
        ({"weight_decay": math.inf}, "weight decay"),
        ({"schedule": "exponential"}, "schedule"),
        ({"device": "tpu"}, "device"),
        ({"precision": "fp16"}, "precision"),
    ],
)
def test_train_config_rejects(changes: dict[str, Any], field_name: str) -> None:
    config = replace(TrainConfig(), **changes)
    with pytest.raises(ConfigError, match=field_name):
        config.validate()


def test_train_config_unknown_choice_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(optimizer="rmsprop").validate()
    assert "'rmsprop'" in str(info.value)
    assert "sgd" in str(info.value) and "adam" in str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"epochs": 1},
        {"batch_size": 1},
        {"lr": 1e-9},
        {"optimizer": "sgd", "momentum": 0.0},
        {"schedule": "constant"},
        {"device": "cpu"},
        {"device": "cuda"},
        {"device": "mps"},
        {"precision": "bf16"},
        {"precision": "auto"},
        {"weight_decay": 0.0},
    ],
)
def test_train_config_accepts_edge_values(changes: dict[str, Any]) -> None:
    replace(TrainConfig(), **changes).validate()


# --------------------------------------------------------------------------- ModelConfig


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"layers": (0,)}, "layer"),
        ({"layers": (64, -1)}, "layer"),
        ({"activation": "swish"}, "activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": math.nan}, "dropout"),
        ({"num_classes": 0}, "num_classes"),
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (1, 0, 28)}, "input_shape"),
        ({"input_std": 0.0}, "input_std"),
        ({"input_std": -1.0}, "input_std"),
        ({"input_std": math.nan}, "input_std"),
        ({"input_mean": math.inf}, "input_mean"),
    ],
)
def test_model_config_rejects(changes: dict[str, Any], field_name: str) -> None:
    config = replace(ModelConfig(), **changes)
    with pytest.raises(ConfigError, match=field_name):
        config.validate()


def test_model_config_empty_layers_means_no_hidden_layer() -> None:
    ModelConfig(layers=()).validate()


def test_model_config_accepts_deep_nets_and_every_activation() -> None:
    for activation in ("relu", "sigmoid", "tanh", "gelu"):
        ModelConfig(layers=(512, 128, 1), activation=activation, dropout=0.5).validate()


# --------------------------------------------------------------------------- DataConfig


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"name": ""}, "name"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"val_fraction": 0.9}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": math.nan}, "val_fraction"),
    ],
)
def test_data_config_rejects(changes: dict[str, Any], field_name: str) -> None:
    config = replace(DataConfig(), **changes)
    with pytest.raises(ConfigError, match=field_name):
        config.validate()


def test_data_config_accepts_no_validation_split() -> None:
    DataConfig(val_fraction=0.0).validate()
    DataConfig(name="folder:/tmp/x", data_dir="/tmp", val_fraction=0.5).validate()


def test_run_config_validate_checks_every_section() -> None:
    with pytest.raises(ConfigError, match="val_fraction"):
        RunConfig(data=DataConfig(val_fraction=2.0)).validate()
    with pytest.raises(ConfigError, match="dropout"):
        RunConfig(model=ModelConfig(dropout=1.0)).validate()
    with pytest.raises(ConfigError, match="epochs"):
        RunConfig(train=TrainConfig(epochs=0)).validate()


# --------------------------------------------------------------------------- JSON round trip


def test_json_round_trip_of_defaults() -> None:
    config = RunConfig()
    assert RunConfig.from_json(config.to_json()) == config


def test_json_round_trip_of_non_defaults() -> None:
    config = RunConfig(
        data=DataConfig(name="folder:/data/x", data_dir="/data", val_fraction=0.25, split_seed=7),
        model=ModelConfig(
            layers=(512, 128),
            activation="tanh",
            dropout=0.2,
            input_shape=(1, 28, 28),
            num_classes=3,
            input_mean=0.5,
            input_std=0.25,
        ),
        train=TrainConfig(
            epochs=10,
            batch_size=64,
            lr=0.1,
            optimizer="sgd",
            momentum=0.5,
            weight_decay=1e-4,
            schedule="constant",
            seed=42,
            device="cpu",
            precision="bf16",
        ),
    )
    text = config.to_json()
    back = RunConfig.from_json(text)
    assert back == config
    assert isinstance(back.model.layers, tuple)
    assert isinstance(back.model.input_shape, tuple)
    assert back.to_json() == text


def test_json_round_trip_of_empty_layers() -> None:
    config = RunConfig(model=ModelConfig(layers=()))
    assert RunConfig.from_json(config.to_json()) == config


def test_to_json_is_plain_json_with_lists() -> None:
    raw = json.loads(RunConfig().to_json())
    assert set(raw) == {"data", "model", "train"}
    assert raw["model"]["layers"] == [256]
    assert raw["model"]["input_shape"] == [1, 28, 28]
    assert raw["data"]["data_dir"] is None


def test_int_is_accepted_where_a_float_is_expected() -> None:
    config = RunConfig.from_json(json.dumps(raw_config(train={"lr": 1})))
    assert config.train.lr == 1.0
    assert isinstance(config.train.lr, float)


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    config = RunConfig(train=TrainConfig(epochs=7))
    path.write_text(config.to_json(), encoding="utf-8")
    assert RunConfig.load(path) == config


def test_load_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        RunConfig.load(tmp_path / "nope.json")


def test_load_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"\xff\xfe\x00garbage\xff")
    with pytest.raises(ConfigError):
        RunConfig.load(path)


# --------------------------------------------------------------------------- from_json rejects


@pytest.mark.parametrize("text", ["", "{", "not json", '{"data": }', "[1, 2"])
def test_from_json_rejects_invalid_json(text: str) -> None:
    rejects(text, "not valid JSON")


def test_from_json_rejects_deeply_nested_json() -> None:
    rejects("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("text", ["[]", "3", '"config"', "null"])
def test_from_json_rejects_non_objects(text: str) -> None:
    rejects(text, "JSON object")


@pytest.mark.parametrize("section", ["data", "model", "train"])
def test_from_json_rejects_missing_section(section: str) -> None:
    raw = raw_config()
    del raw[section]
    rejects(raw, "missing", section)


def test_from_json_rejects_unknown_section() -> None:
    raw = raw_config()
    raw["extras"] = {}
    rejects(raw, "unknown", "extras")


@pytest.mark.parametrize(
    ("section", "key"),
    [("train", "epochs"), ("model", "layers"), ("data", "val_fraction"), ("data", "data_dir")],
)
def test_from_json_rejects_missing_key(section: str, key: str) -> None:
    raw = raw_config()
    del raw[section][key]
    rejects(raw, "missing", key, section)


@pytest.mark.parametrize("section", ["data", "model", "train"])
def test_from_json_rejects_unknown_key(section: str) -> None:
    raw = raw_config(**{section: {"colour": "blue"}})
    rejects(raw, "unknown", "colour", section)


def test_from_json_rejects_a_section_that_is_not_an_object() -> None:
    raw = raw_config()
    raw["train"] = [1, 2, 3]
    rejects(raw, "train", "JSON object")


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "epochs", "3"),
        ("train", "epochs", True),
        ("train", "epochs", 3.0),
        ("train", "epochs", 2.5),
        ("train", "epochs", None),
        ("train", "batch_size", False),
        ("train", "seed", [0]),
        ("train", "lr", "0.01"),
        ("train", "lr", True),
        ("train", "lr", None),
        ("train", "optimizer", 1),
        ("train", "device", None),
        ("model", "num_classes", 10.0),
        ("model", "dropout", "0.1"),
        ("model", "activation", ["relu"]),
        ("data", "name", 5),
        ("data", "data_dir", 5),
        ("data", "split_seed", "0"),
        ("data", "val_fraction", False),
    ],
)
def test_from_json_rejects_wrong_types(section: str, key: str, value: Any) -> None:
    raw = raw_config(**{section: {key: value}})
    rejects(raw, f"{section}.{key}")


@pytest.mark.parametrize("value", ["256", 256, {"a": 1}, None])
def test_from_json_rejects_layers_that_are_not_a_list(value: Any) -> None:
    rejects(raw_config(model={"layers": value}), "model.layers", "list")


@pytest.mark.parametrize("value", [["256"], [256.0], [True], [None]])
def test_from_json_rejects_layer_items_of_the_wrong_type(value: Any) -> None:
    rejects(raw_config(model={"layers": value}), "model.layers[0]")


def test_from_json_names_the_bad_layer_index() -> None:
    rejects(raw_config(model={"layers": [128, 64, "x"]}), "model.layers[2]")


def test_from_json_validates_values() -> None:
    rejects(raw_config(train={"epochs": 0}), "epochs")
    rejects(raw_config(model={"layers": [64, 0]}), "layer")
    rejects(raw_config(model={"dropout": 1.0}), "dropout")
    rejects(raw_config(train={"optimizer": "lbfgs"}), "optimizer", "lbfgs")


def test_from_json_rejects_nan_and_infinity_literals() -> None:
    text = json.dumps(raw_config()).replace('"lr": 0.003', '"lr": NaN')
    assert "NaN" in text
    rejects(text, "learning rate")
    text = json.dumps(raw_config()).replace('"lr": 0.003', '"lr": Infinity')
    rejects(text, "learning rate")


def test_from_json_accepts_null_data_dir_and_a_string_data_dir() -> None:
    assert (
        RunConfig.from_json(json.dumps(raw_config(data={"data_dir": None}))).data.data_dir is None
    )
    config = RunConfig.from_json(json.dumps(raw_config(data={"data_dir": "/tmp/mnist"})))
    assert config.data.data_dir == "/tmp/mnist"


def test_from_dict_helper_is_strict() -> None:
    assert from_dict(DataConfig, json.loads(json.dumps(DataConfig().__dict__))) == DataConfig()
    with pytest.raises(ConfigError, match="where: unknown keys x"):
        from_dict(DataConfig, {**DataConfig().__dict__, "x": 1}, where="where")
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        from_dict(DataConfig, [], where="data")


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
def test_seeds_in_range_are_accepted(seed: int) -> None:
    DataConfig(split_seed=seed).validate()
    TrainConfig(seed=seed).validate()


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64])
def test_data_config_rejects_out_of_range_split_seed(seed: int) -> None:
    raw = raw_config(data={"split_seed": seed})
    rejects(raw, "split_seed")


@pytest.mark.parametrize("seed", [2**60, 2**64])
def test_train_config_rejects_out_of_range_seed(seed: int) -> None:
    raw = raw_config(train={"seed": seed})
    rejects(raw, "seed")


def test_older_config_without_attention_key_still_loads() -> None:
    """Runs stored before ``attention`` existed keep loading, with attention off."""
    raw = RunConfig().to_dict()
    del raw["model"]["attention"]
    assert RunConfig.from_dict(raw).model.attention is False
    del raw["model"]["cell"]  # any other missing key is still an error
    with pytest.raises(ConfigError, match="missing keys cell"):
        RunConfig.from_dict(raw)


def test_parse_augment_reads_a_comma_list() -> None:
    from threefigures.config import parse_augment

    assert parse_augment("flip,rotate") == ("flip", "rotate")
    assert parse_augment("") == ()
    assert parse_augment("  ") == ()
    assert parse_augment(" Shift , brightness,") == ("shift", "brightness")
    assert parse_augment("flip,flip") == ("flip",)
    with pytest.raises(ConfigError, match="flip, rotate, brightness, shift") as err:
        parse_augment("flip,zoom")
    assert "zoom" in str(err.value)
