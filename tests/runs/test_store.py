"""Tests for threefigures.runs.store: the SQLite runs store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from threefigures.errors import RunNotFoundError, ThreeFiguresError
from threefigures.runs.store import SCHEMA_VERSION, RunRecord, Store

CONFIG: dict[str, Any] = {"train": {"epochs": 3}, "model": {"layers": [8]}}


def new_run(store: Store, run_id: str | None = None, **kwargs: Any) -> RunRecord:
    args: dict[str, Any] = {
        "config": CONFIG,
        "data_name": "digits",
        "model_name": "mlp",
        "epochs": 3,
    }
    args.update(kwargs)
    return store.create_run(run_id=run_id, **args)


def one_epoch(store: Store, run_id: str, epoch: int, steps_per_epoch: int = 4) -> None:
    first = (epoch - 1) * steps_per_epoch
    batches = [
        (first + i, epoch - 1 + (i + 1) / steps_per_epoch, 2.0 / (first + i + 1))
        for i in range(steps_per_epoch)
    ]
    store.record_epoch(
        run_id,
        epoch=epoch,
        train_loss=1.0 / epoch,
        val_loss=1.5 / epoch,
        val_accuracy=0.5 + epoch / 10,
        seconds=0.25 * epoch,
        batches=batches,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db")


# --------------------------------------------------------------------------- runs


def test_create_and_get(store: Store, tmp_path: Path) -> None:
    record = new_run(store, info={"classes": ["a", "b"]})
    assert record.status == "running"
    assert record.epochs_planned == 3
    assert record.epochs_done == 0
    assert record.test_accuracy is None
    assert record.config == CONFIG
    assert record.info == {"classes": ["a", "b"]}
    assert record.data_name == "digits"
    assert record.model_name == "mlp"
    assert record.run_dir == tmp_path / record.id
    assert store.get(record.id) == record


def test_create_with_explicit_id_and_folder(store: Store, tmp_path: Path) -> None:
    record = new_run(store, run_id="my-run", run_dir=tmp_path / "elsewhere")
    assert record.id == "my-run"
    assert record.run_dir == tmp_path / "elsewhere"
    with pytest.raises(sqlite3.IntegrityError):
        new_run(store, run_id="my-run")


def test_new_run_ids_are_unique(store: Store) -> None:
    ids = {store.new_run_id() for _ in range(50)}
    assert len(ids) > 40


def test_list_runs_newest_first(store: Store) -> None:
    ids = [new_run(store, run_id=f"run-{i}").id for i in range(4)]
    assert [r.id for r in store.list_runs()] == list(reversed(ids))
    assert [r.id for r in store.list_runs(limit=2)] == ids[:1:-1]


def test_list_runs_of_an_empty_store(store: Store) -> None:
    assert store.list_runs() == []


def test_resolve_latest_only_returns_finished_runs(store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="no finished run"):
        store.resolve("latest")
    first = new_run(store, run_id="a")
    store.set_status(first.id, "finished", test_accuracy=0.9)
    second = new_run(store, run_id="b")
    store.set_status(second.id, "failed", error="boom")
    new_run(store, run_id="c")  # still running
    fourth = new_run(store, run_id="d")
    store.set_status(fourth.id, "interrupted")
    assert store.resolve("latest").id == "a"
    assert store.resolve().id == "a"
    fifth = new_run(store, run_id="e")
    store.set_status(fifth.id, "finished")
    assert store.resolve("latest").id == "e"


def test_resolve_latest_with_only_unfinished_runs(store: Store) -> None:
    new_run(store, run_id="a")
    store.set_status("a", "failed", error="x")
    new_run(store, run_id="b")
    with pytest.raises(RunNotFoundError):
        store.resolve("latest")


def test_resolve_by_id(store: Store) -> None:
    record = new_run(store, run_id="abc")
    assert store.resolve("abc").id == "abc"  # any status, by id
    assert store.resolve("abc") == record


def test_unknown_run_raises_run_not_found(store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="'nope'"):
        store.get("nope")
    with pytest.raises(RunNotFoundError):
        store.resolve("nope")
    assert issubclass(RunNotFoundError, ThreeFiguresError)


def test_unknown_run_has_no_metrics_or_artifacts(store: Store) -> None:
    assert store.metrics("nope") == []
    assert store.batches("nope") == []
    assert store.artifacts("nope") == {}


# --------------------------------------------------------------------------- metrics


def test_record_epoch_round_trip(store: Store) -> None:
    run = new_run(store).id
    for epoch in (1, 2, 3):
        one_epoch(store, run, epoch)
    metrics = store.metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert metrics[1]["train_loss"] == pytest.approx(0.5)
    assert metrics[1]["val_loss"] == pytest.approx(0.75)
    assert metrics[1]["val_accuracy"] == pytest.approx(0.7)
    assert metrics[2]["seconds"] == pytest.approx(0.75)
    assert metrics[0]["run_id"] == run
    batches = store.batches(run)
    assert len(batches) == 12
    assert batches[0] == (pytest.approx(0.25), pytest.approx(2.0))
    assert batches[-1][0] == pytest.approx(3.0)
    assert [pos for pos, _ in batches] == sorted(pos for pos, _ in batches)
    assert store.get(run).epochs_done == 3


def test_record_epoch_without_validation(store: Store) -> None:
    run = new_run(store).id
    store.record_epoch(
        run, epoch=1, train_loss=0.3, val_loss=None, val_accuracy=None, seconds=1.0, batches=[]
    )
    (metric,) = store.metrics(run)
    assert metric["val_loss"] is None and metric["val_accuracy"] is None
    assert store.batches(run) == []


def test_metrics_of_runs_are_separate(store: Store) -> None:
    a, b = new_run(store, run_id="a").id, new_run(store, run_id="b").id
    one_epoch(store, a, 1)
    one_epoch(store, a, 2)
    one_epoch(store, b, 1, steps_per_epoch=2)
    assert len(store.metrics(a)) == 2 and len(store.metrics(b)) == 1
    assert len(store.batches(a)) == 8 and len(store.batches(b)) == 2


def test_recording_an_epoch_again_replaces_it(store: Store) -> None:
    run = new_run(store).id
    one_epoch(store, run, 1)
    store.record_epoch(
        run, epoch=1, train_loss=9.0, val_loss=None, val_accuracy=None, seconds=1.0, batches=[]
    )
    (metric,) = store.metrics(run)
    assert metric["train_loss"] == 9.0


def test_record_epoch_for_unknown_run_fails(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        one_epoch(store, "nope", 1)
    assert store.metrics("nope") == []


def test_truncate_after(store: Store) -> None:
    run = new_run(store).id
    for epoch in (1, 2, 3):
        one_epoch(store, run, epoch)
    store.truncate_after(run, 1)
    assert [m["epoch"] for m in store.metrics(run)] == [1]
    batches = store.batches(run)
    assert len(batches) == 4
    assert max(pos for pos, _ in batches) == pytest.approx(1.0)  # epoch 1's last batch stays
    # replaying epoch 2 after the truncation gives a clean history
    one_epoch(store, run, 2)
    assert [m["epoch"] for m in store.metrics(run)] == [1, 2]
    assert len(store.batches(run)) == 8


def test_truncate_after_zero_forgets_everything(store: Store) -> None:
    run = new_run(store).id
    one_epoch(store, run, 1)
    store.truncate_after(run, 0)
    assert store.metrics(run) == []
    assert store.batches(run) == []


# --------------------------------------------------------------------------- status


def test_set_status_finished_with_test_accuracy(store: Store) -> None:
    run = new_run(store).id
    store.set_status(
        run, "finished", test_accuracy=0.934, seconds=12.5, device="cpu", info={"k": [1, 2]}
    )
    record = store.get(run)
    assert record.status == "finished"
    assert record.test_accuracy == pytest.approx(0.934)
    assert record.seconds == pytest.approx(12.5)
    assert record.device == "cpu"
    assert record.info == {"k": [1, 2]}
    assert record.error is None


def test_set_status_failed_keeps_the_error(store: Store) -> None:
    run = new_run(store).id
    store.set_status(run, "failed", error="out of memory")
    record = store.get(run)
    assert record.status == "failed"
    assert record.error == "out of memory"


def test_set_status_can_change_epochs_planned(store: Store) -> None:
    run = new_run(store).id
    store.set_status(run, "running", epochs_planned=10)
    assert store.get(run).epochs_planned == 10


def test_set_status_rejects_bad_status_and_fields(store: Store) -> None:
    run = new_run(store).id
    with pytest.raises(ValueError):
        store.set_status(run, "done")
    with pytest.raises(ValueError):
        store.set_status(run, "finished", id="hijack")
    with pytest.raises(ValueError):
        store.set_status(run, "finished", **{"status='finished'; --": 1})
    assert store.get(run).status == "running"


# --------------------------------------------------------------------------- artifacts


def test_artifacts(store: Store, tmp_path: Path) -> None:
    run = new_run(store).id
    assert store.artifacts(run) == {}
    store.add_artifact(run, "weights", tmp_path / "model.safetensors")
    store.add_artifact(run, "figure1", tmp_path / "figure1.png")
    store.add_artifact(run, "figure1", tmp_path / "figure1-v2.png")  # replaces
    assert store.artifacts(run) == {
        "weights": tmp_path / "model.safetensors",
        "figure1": tmp_path / "figure1-v2.png",
    }


# --------------------------------------------------------------------------- the file


def test_schema_version_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path)
    with sqlite3.connect(path) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(value) == SCHEMA_VERSION
    Store(path)  # opening again keeps a single row
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()
    assert len(rows) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(ThreeFiguresError, match="newer"):
        Store(path)


def test_journal_mode_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    new_run(Store(path))
    with sqlite3.connect(path) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode.lower() == "wal"


def test_integrity_ok(store: Store) -> None:
    run = new_run(store).id
    one_epoch(store, run, 1)
    assert store.integrity_ok() is True


def test_store_creates_missing_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "s.db"
    store = Store(path)
    assert path.is_file()
    assert store.root == path.parent


def test_store_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env" / "s.db"
    monkeypatch.setenv("THREEFIGURES_STORE", str(path))
    store = Store()
    assert store.path == path
    assert path.is_file()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text\n" * 200, b"\x00\x01\x02garbage" * 500],
)
def test_non_sqlite_file_is_a_one_line_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(content)
    with pytest.raises(ThreeFiguresError) as info:
        Store(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert path.read_bytes() == content  # left untouched


def test_store_path_that_is_a_folder_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.mkdir()
    with pytest.raises(ThreeFiguresError):
        Store(path)


def test_two_stores_on_one_file_writing_alternately(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first, second = Store(path), Store(path)
    a = new_run(first, run_id="a").id
    b = new_run(second, run_id="b").id
    for epoch in (1, 2, 3):
        one_epoch(first, a, epoch)
        one_epoch(second, b, epoch, steps_per_epoch=2)
        first.add_artifact(b, f"from-first-{epoch}", tmp_path / "x")
        second.set_status(a, "running", info={"epoch": epoch})
    first.set_status(a, "finished", test_accuracy=0.8)
    second.set_status(b, "finished", test_accuracy=0.9)
    for store in (first, second, Store(path)):
        assert {r.id for r in store.list_runs()} == {"a", "b"}
        assert [m["epoch"] for m in store.metrics("a")] == [1, 2, 3]
        assert [m["epoch"] for m in store.metrics("b")] == [1, 2, 3]
        assert len(store.batches("a")) == 12 and len(store.batches("b")) == 6
        assert store.get("a").test_accuracy == pytest.approx(0.8)
        assert store.get("b").test_accuracy == pytest.approx(0.9)
        assert store.get("a").info == {"epoch": 3}
        assert set(store.artifacts("b")) == {f"from-first-{e}" for e in (1, 2, 3)}
    assert first.integrity_ok()


def test_deleting_a_run_cascades(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    run = new_run(store).id
    one_epoch(store, run, 1)
    store.add_artifact(run, "weights", tmp_path / "w")
    with store._connect() as conn:
        conn.execute("DELETE FROM runs WHERE id=?", (run,))
    assert store.metrics(run) == []
    assert store.batches(run) == []
    assert store.artifacts(run) == {}
