"""The run life cycle every trainer shares: statuses on interruption and failure, and the
same store rows whether epochs are saved as they finish or recorded after fit."""

from __future__ import annotations

import pytest
import torch

from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.errors import ThreeFiguresError
from threefigures.models import create_model
from threefigures.runs import lifecycle
from threefigures.runs.folder import WEIGHTS_FILE, read_run_config
from threefigures.runs.store import Store
from threefigures.training import TrainingInterrupted, fit

CONFIG = RunConfig(model=ModelConfig(layers=(8,)), train=TrainConfig(epochs=2, device="cpu"))


def _start(store: Store) -> lifecycle.RunRecord:
    return lifecycle.start_run(
        store, CONFIG, data_name="synthetic", classes=[f"c{i}" for i in range(10)], info={}
    )


def test_start_run_writes_the_config_before_the_row(store: Store) -> None:
    record = _start(store)
    assert store.get(record.id).status == "running"
    config, classes = read_run_config(record.run_dir)
    assert config == CONFIG and classes[0] == "c0"


@pytest.mark.parametrize("resumable", [True, False])
def test_an_interruption_is_marked_and_only_resumable_runs_say_resume(
    store: Store, resumable: bool
) -> None:
    record = _start(store)
    expected = ThreeFiguresError if resumable else TrainingInterrupted
    with pytest.raises(expected) as err, lifecycle.tracked(store, record, resumable=resumable):
        raise TrainingInterrupted(1)
    assert store.get(record.id).status == "interrupted"
    assert ("--resume" in str(err.value)) is resumable


def test_any_other_failure_is_marked_failed(store: Store) -> None:
    record = _start(store)
    with pytest.raises(RuntimeError), lifecycle.tracked(store, record):
        raise RuntimeError("disk on fire")
    failed = store.get(record.id)
    assert failed.status == "failed" and "disk on fire" in (failed.error or "")


def test_record_fit_writes_the_rows_the_epoch_saver_writes(store: Store, synthetic) -> None:
    """Experiments record their epochs after fit; the store must hold the same numbers as a
    run saved epoch by epoch (the same seeded training twice)."""
    rows = []
    for saved_as_it_goes in (True, False):
        record = _start(store)
        torch.manual_seed(0)
        model = create_model("mlp", ModelConfig(layers=(8,)))
        saver = lifecycle.epoch_saver(store, record) if saved_as_it_goes else None
        result = fit(model, synthetic, CONFIG.train, on_epoch_end=saver)
        if not saved_as_it_goes:
            lifecycle.record_fit(store, record, model, result.history)
        assert (record.run_dir / WEIGHTS_FILE).is_file()
        metrics = [
            {k: v for k, v in m.items() if k not in ("seconds", "run_id")}
            for m in store.metrics(record.id)
        ]
        rows.append((metrics, store.batches(record.id)))
    assert rows[0] == rows[1]
    metrics, batches = rows[0]
    assert [m["epoch"] for m in metrics] == [1, 2] and len(batches) == 2 * 17  # 540 / 32
