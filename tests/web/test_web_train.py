"""Training from the web page through its API: a real uvicorn server on loopback, each
training in its own child process on the embedded digits (small networks, a few seconds).

Start, stream, stop, resume; 409 on a second start; 422 rows; a late subscriber; a crash
and a divergence mid-training; predictions from the network as it is mid-training; the
server's shutdown stopping a training."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="uvicorn is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed")

from threefigures.runs.folder import LIVE_WEIGHTS_FILE  # noqa: E402
from threefigures.runs.store import Store  # noqa: E402
from threefigures.web.server import BackgroundServer  # noqa: E402
from threefigures.web.settings import Settings  # noqa: E402

#: Long enough to be stopped after its first epoch (≈ 0.2 s an epoch here at batch 8).
LONG = {"data": "digits", "layers": "16", "epochs": 40, "batch_size": 8}
SHORT = {"data": "digits", "layers": "16", "epochs": 2}
FOUR = [[1.0 if 10 <= c <= 13 and 5 <= r <= 22 else 0.0 for c in range(28)] for r in range(28)]

Event = tuple[str, dict[str, Any]]


def read_events(
    client: Any, url: str, *, until: str | None = None, headers: dict[str, str] | None = None
) -> list[Event]:
    """The stream's events up to its end (or up to the first ``until`` event)."""
    events: list[Event] = []
    name = None
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                assert name is not None
                events.append((name, json.loads(line[len("data: ") :])))
                if name == until:
                    break
    return events


def names(events: list[Event]) -> list[str]:
    return [n for n, _ in events]


class Site:
    def __init__(self, server: BackgroundServer, store: Store) -> None:
        self.server, self.store = server, store
        self.client = httpx.Client(base_url=server.url, timeout=120)

    def start(self, options: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/api/train", json=options)
        assert response.status_code == 202, response.text
        return response.json()

    def child(self, run: str) -> Any:
        return self.server.server.config.app.state.trainer.jobs[run].process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = Store(tmp_path_factory.mktemp("train") / "runs" / "threefigures.db")
    settings = Settings(store=store.path, train_weights_every=0.2, train_max_epochs=40)
    with BackgroundServer(settings) as server:
        site = Site(server, store)
        yield site
        site.client.close()


def test_options_describe_the_form(site: Site) -> None:
    options = site.client.get("/api/train/options").json()
    assert options["defaults"]["model"] == "mlp" and options["defaults"]["layers"] == "256"
    assert {"digits", "sklearn-digits"} <= set(options["choices"]["data"])
    assert set(options["choices"]["model"]) == {"perceptron", "mlp", "cnn", "rnn"}
    assert options["limits"]["epochs"] == 40 and options["enabled"] is True


def test_a_run_trains_streams_and_finishes(site: Site) -> None:
    started = site.start(SHORT)
    run = started["run"]
    events = read_events(site.client, started["events"])
    kinds = names(events)
    assert kinds[0] == "start" and kinds[-1] == "end", kinds
    assert {"batch", "epoch", "weights"} <= set(kinds)
    assert events[0][1] == {
        "run": run,
        "epochs": 2,
        "epochs_done": 0,
        "model": "mlp [16]",
        "data": "digits",
        "resumed": False,
    }
    end = events[-1][1]
    assert end["status"] == "finished" and end["epochs_done"] == 2
    record = site.store.get(run)
    assert record.status == "finished" and end["test_accuracy"] == pytest.approx(
        record.test_accuracy
    )
    # every batch loss the store holds came through the stream, at the same positions
    history = site.client.get(f"/api/runs/{run}/history").json()
    streamed = [p for n, d in events if n == "batch" for p in d["positions"]]
    assert streamed == pytest.approx(history["batch_epoch"], abs=1e-5)
    assert history["epoch"] == [1, 2]
    assert [d["val_accuracy"] for n, d in events if n == "epoch"] == pytest.approx(
        history["val_accuracy"]
    )
    # it is a run like any other: its three figures and report, no live snapshot left
    detail = site.client.get(f"/api/runs/{run}").json()
    assert {"figure1", "figure2", "figure3"} <= set(detail["figures"]) and detail["report"]
    assert not (record.run_dir / LIVE_WEIGHTS_FILE).exists()
    # a late subscriber gets everything (but the older weights pictures), and Last-Event-ID
    # resumes after an event
    late = read_events(site.client, started["events"])
    assert [e for e in events if e[0] != "weights"] == [e for e in late if e[0] != "weights"]
    assert [e for e in late if e[0] == "weights"] == [e for e in events if e[0] == "weights"][-1:]
    after = read_events(site.client, started["events"], headers={"Last-Event-ID": "2"})
    pictures = [i for i, (n, _d) in enumerate(events) if n == "weights"]
    # only the newest weights picture is replayed to a late subscriber
    expected = [
        e for i, e in enumerate(events) if i > 2 and (i == pictures[-1] or e[0] != "weights")
    ]
    assert after == expected
    # a client past the end gets nothing, and its stream closes
    assert read_events(site.client, started["events"], headers={"Last-Event-ID": "99999"}) == []


def test_stop_then_resume_continues_the_run(site: Site) -> None:
    started = site.start(LONG)
    run = started["run"]
    first = read_events(site.client, started["events"], until="epoch")
    # one training at a time
    again = site.client.post("/api/train", json=SHORT)
    assert again.status_code == 409 and "is training" in again.json()["error"]
    # the draw pad asks the network as it is now
    answer = site.client.post(f"/api/predict?run={run}", json={"pixels": FOUR})
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"] == run
    stop = site.client.post(f"/api/train/{run}/stop")
    assert stop.status_code == 202 and stop.json() == {"run": run, "stopping": True}
    events = read_events(site.client, started["events"])

    def no_pictures(evs: list[Event]) -> list[Event]:
        return [e for e in evs if e[0] != "weights"]  # a re-read replays only the newest

    assert no_pictures(events)[: len(no_pictures(first))] == no_pictures(first)
    end = events[-1]
    assert end[0] == "end" and end[1]["status"] == "interrupted", end
    kept = end[1]["epochs_done"]
    assert 1 <= kept < 40
    record = site.store.get(run)
    assert record.status == "interrupted" and record.epochs_done == kept
    assert site.client.post(f"/api/train/{run}/stop").status_code == 409  # not training now

    resumed = site.client.post(f"/api/train/{run}/resume")
    assert resumed.status_code == 202 and resumed.json()["run"] == run
    # stop it again at once: resuming replays the finished epochs first
    events = read_events(site.client, resumed.json()["events"], until="start")
    assert events[0][1]["resumed"] is True and events[0][1]["epochs_done"] == kept
    site.client.post(f"/api/train/{run}/stop")
    events = read_events(site.client, resumed.json()["events"])
    replayed = [d for n, d in events if n == "epoch" and d.get("replayed")]
    assert [d["epoch"] for d in replayed] == list(range(1, kept + 1))
    assert events[-1][0] == "end" and events[-1][1]["status"] == "interrupted"
    assert site.store.get(run).epochs_done >= kept  # nothing already saved was lost


def test_a_second_start_while_one_runs_is_409_and_options_say_which(site: Site) -> None:
    started = site.start(LONG)
    run = started["run"]
    read_events(site.client, started["events"], until="batch")
    assert site.client.get("/api/train/options").json()["active"] == run
    response = site.client.post(f"/api/train/{run}/resume")
    assert response.status_code == 409
    site.client.post(f"/api/train/{run}/stop")
    assert read_events(site.client, started["events"])[-1][0] == "end"
    assert site.client.get("/api/train/options").json()["active"] is None


def test_a_resume_that_cannot_begin_says_why_and_keeps_the_run(site: Site) -> None:
    from threefigures.runs.folder import STATE_FILE

    started = site.start(LONG)
    run = started["run"]
    read_events(site.client, started["events"], until="epoch")
    site.client.post(f"/api/train/{run}/stop")
    assert read_events(site.client, started["events"])[-1][1]["status"] == "interrupted"
    record = site.store.get(run)
    (record.run_dir / STATE_FILE).write_bytes(b"truncated")
    resumed = site.client.post(f"/api/train/{run}/resume").json()
    name, data = read_events(site.client, resumed["events"])[-1]
    assert name == "error" and "not a valid safetensors" in data["message"], data
    after = site.store.get(run)
    assert after.status == "interrupted" and after.epochs_done == record.epochs_done


def test_a_resume_is_held_to_the_pages_limits(site: Site) -> None:
    """A run trained elsewhere (the CLI: no caps) cannot be resumed past the page's caps."""
    from threefigures.runner import open_run, plan_run
    from threefigures.runs.options import run_config_from_options

    config, data = plan_run(run_config_from_options({"data": "digits", "epochs": 41}))
    record = open_run(site.store, config, data)
    site.store.set_status(record.id, "interrupted")
    response = site.client.post(f"/api/train/{record.id}/resume")
    assert response.status_code == 422 and "--epochs is capped at 40" in response.json()["error"]


def test_a_crash_mid_training_ends_the_stream_with_an_error(site: Site) -> None:
    started = site.start(LONG)
    run = started["run"]
    read_events(site.client, started["events"], until="batch")
    os.kill(site.child(run).pid, signal.SIGKILL)
    events = read_events(site.client, started["events"])
    name, data = events[-1]
    assert name == "error" and "ended unexpectedly" in data["message"], data
    record = site.store.get(run)
    assert record.status == "failed" and "ended unexpectedly" in (record.error or "")


def test_a_diverging_training_is_an_error_event_and_a_failed_run(site: Site) -> None:
    started = site.start({**SHORT, "optimizer": "sgd", "lr": 1e4, "momentum": 0.0})
    events = read_events(site.client, started["events"])
    name, data = events[-1]
    assert name == "error" and "training stopped" in data["message"], data
    assert "\n" not in data["message"]
    assert site.store.get(started["run"]).status == "failed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"colour": "red"}, "unknown option 'colour'"),
        ({"lr": "fast"}, "--lr must be a number"),
        ({"epochs": 41}, "--epochs is capped at 40"),
        ({"layers": "4096"}, "units per layer) is capped at 2048"),
        ({"layers": "8,8,8,8,8"}, "number of --layers is capped at 4"),
        ({"model": "cnn", "channels": "16,256"}, "--channels is capped at 128"),
        ({"batch_size": 5000}, "--batch-size is capped at 4096"),
        ({"model": "rnn", "num_layers": 5}, "--num-layers is capped at 4"),
        ({"model": "cnn", "kernel_size": 11}, "--kernel-size is capped at 9"),
        ({"model": "cnn", "channels": "8,8,8,8,8"}, "--channels blocks is capped at 4"),
        ({"model": "rnn", "hidden_size": 2048, "num_layers": 4}, "parameters; the page trains"),
        ({"layers": ""}, None),
        ({"batch_size": 4096, "data": "sklearn-digits"}, "larger than the"),
        ({"data": "names-gender"}, "cannot be trained from the page"),
        ({"data": "folder:/etc"}, "cannot be trained from the page"),
        ({"data_dir": "/etc"}, "--data-dir cannot be set from the page"),
        ({"model": "transformer"}, "unknown model"),
        ({"augment": "spin"}, "unknown augmentation"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_options_are_422_with_the_clis_message(
    site: Site, body: Any, message: str | None
) -> None:
    if message is None:  # not bad: an empty field means the default, as on the CLI
        from threefigures.runs.options import run_config_from_options

        assert run_config_from_options(body).model.layers == (256,)
        return
    before = len(site.store.list_runs())
    response = site.client.post("/api/train", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error
    assert len(site.store.list_runs()) == before  # nothing written


def test_unknown_streams_and_stops(site: Site) -> None:
    assert site.client.get("/api/train/no-such-run/events").status_code == 404
    assert site.client.post("/api/train/no-such-run/stop").status_code == 409
    assert site.client.post("/api/train/no-such-run/resume").status_code == 404
    assert site.client.get("/api/runs/no-such-run/history").status_code == 404


def test_training_is_off_with_several_workers(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from threefigures.web.app import create_app

    app = create_app(Settings(store=tmp_path / "s.db", workers=2))
    with TestClient(app) as client:
        options = client.get("/api/train/options").json()
        assert options["enabled"] is False and "--workers 1" in options["why_disabled"]
        response = client.post("/api/train", json=SHORT)
        assert response.status_code == 409 and "--workers 1" in response.json()["error"]


def test_shutdown_stops_a_training_and_marks_it_interrupted(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs" / "threefigures.db")
    server = BackgroundServer(Settings(store=store.path, train_weights_every=0.2)).start()
    client = httpx.Client(base_url=server.url, timeout=120)
    try:
        started = client.post("/api/train", json=LONG).json()
        read_events(client, started["events"], until="epoch")
    finally:
        client.close()
        began = time.monotonic()
        server.stop()
    record = store.get(started["run"])
    assert record.status == "interrupted" and record.epochs_done >= 1
    assert not (record.run_dir / LIVE_WEIGHTS_FILE).exists()
    assert time.monotonic() - began < 30


def test_unreadable_bodies_are_400_and_415(site: Site) -> None:
    bad_json = site.client.post(
        "/api/train", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    empty = site.client.post(
        "/api/train", content=b"", headers={"content-type": "application/json"}
    )
    assert empty.status_code == 400 and "empty body" in empty.json()["error"]
    form = site.client.post("/api/train", data={"model": "mlp"})
    assert form.status_code == 415
