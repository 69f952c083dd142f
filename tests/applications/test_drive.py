"""Driving from pixels (applications.driving, `threefigures drive`): the scripted expert, the
recordings, the network, the closed-loop measurements, the command and its one-line error."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from threefigures.applications.driving.evaluation import Episode, summarise
from threefigures.applications.driving.model import (
    DriverCNN,
    DriverConfig,
    load_driver,
    parameter_count,
    save_driver,
)
from threefigures.applications.driving.recording import DASHBOARD_KEEP, VIEW, camera_view
from threefigures.applications.driving.training import (
    VIEW_ROWS,
    FitConfig,
    fit_driver,
    mirror,
    predict,
)
from threefigures.cli import main
from threefigures.errors import ConfigError

NEEDS_SIM = "needs the CarRacing simulator: pip install 'gymnasium[box2d]'"


def _simulator() -> None:
    pytest.importorskip("gymnasium", reason=NEEDS_SIM)
    pytest.importorskip("Box2D", reason=NEEDS_SIM)
    pytest.importorskip("pygame", reason=NEEDS_SIM)


# --- the simulator and the expert ---------------------------------------------------------------


def test_the_expert_drives_a_whole_seeded_track_on_the_road() -> None:
    _simulator()
    from threefigures.applications.driving.evaluation import ExpertDriver, drive_episode
    from threefigures.applications.driving.simulator import Simulator

    sim = Simulator(camera=False)
    try:
        episode = drive_episode(sim, ExpertDriver(), seed=7, steps=1400)
        again = drive_episode(sim, ExpertDriver(), seed=7, steps=200)
    finally:
        sim.close()
    # pure pursuit at speed 40 laps a track in ~1,100-1,300 steps and never leaves the road
    assert episode.tiles_share >= 0.95, episode.tiles_share
    assert episode.offroad_share == 0.0
    assert not episode.left_map
    assert np.abs(episode.expert_steer - episode.actions[:, 0]).max() < 1e-12
    # the same seed is the same track and, without noise, the same drive
    np.testing.assert_array_equal(again.path, episode.path[:200])


def test_a_constant_driver_leaves_the_road_and_counts_its_steps_off_it() -> None:
    _simulator()
    from threefigures.applications.driving.evaluation import ConstantDriver, drive_episode
    from threefigures.applications.driving.simulator import Simulator

    sim = Simulator(camera=False)
    try:
        episode = drive_episode(sim, ConstantDriver(steer=0.6, gas=0.5), seed=7, steps=400)
    finally:
        sim.close()
    assert episode.offroad_share > 0.3
    assert episode.tiles_share < 0.2
    assert episode.steps == 400 and len(episode.path) <= 400


def test_the_camera_can_be_switched_off_without_changing_the_physics() -> None:
    _simulator()
    from threefigures.applications.driving.evaluation import ExpertDriver, drive_episode
    from threefigures.applications.driving.simulator import Simulator

    drives = []
    for camera in (True, False):
        sim = Simulator(camera=camera)
        try:
            drives.append(
                drive_episode(sim, ExpertDriver(), seed=3, steps=60, keep_frames_every=20)
            )
        finally:
            sim.close()
    with_camera, without = drives
    np.testing.assert_array_equal(with_camera.path, without.path)
    assert [f.shape for f in with_camera.frames] == [(96, 96, 3)] * 3
    assert with_camera.frame_steps == [0, 20, 40] and without.frames == []


# --- recordings ---------------------------------------------------------------------------------


def test_recordings_hold_frames_labels_and_noisy_executed_actions() -> None:
    _simulator()
    from threefigures.applications.driving.recording import RecordConfig, record_track

    demos = record_track(11, RecordConfig(steps=80, every=1, noise=0.6, noise_share=1.0))
    assert demos.frames.shape == (80, VIEW, VIEW) and demos.frames.dtype == np.uint8
    assert demos.labels.shape == (80, 2) and demos.labels.dtype == np.float32
    assert demos.executed.shape == (80, 2) and demos.executed.dtype == np.float32
    assert demos.track.tolist() == [11] * 80
    assert np.all(np.abs(demos.labels[:, 0]) <= 1) and np.all(demos.labels[:, 1] >= 0)
    # DAgger-style labels: what was driven is the noisy steer, the label the expert's own
    noisy = demos.executed[:, 0] != demos.labels[:, 0]
    assert noisy.mean() > 0.5
    np.testing.assert_array_equal(demos.executed[:, 1], demos.labels[:, 1])  # gas not perturbed
    assert demos.frames.std() > 10  # a picture, not a blank
    clean = record_track(11, RecordConfig(steps=41, every=2, noise=0.0))
    np.testing.assert_array_equal(clean.executed, clean.labels)
    # one step in two, the skipped frames never drawn: the same drive, steps 0, 2, ..., 40
    assert len(clean) == 21
    every_step = record_track(11, RecordConfig(steps=41, every=1, noise=0.0))
    np.testing.assert_array_equal(clean.frames, every_step.frames[::2])
    np.testing.assert_array_equal(clean.labels, every_step.labels[::2])


def test_collecting_in_workers_gives_the_same_recordings() -> None:
    _simulator()
    from threefigures.applications.driving.recording import RecordConfig, collect

    config = RecordConfig(steps=30, every=1)
    alone = collect([5, 6], config, workers=1)
    shared = collect([5, 6], config, workers=2)
    np.testing.assert_array_equal(alone.frames, shared.frames)
    np.testing.assert_array_equal(alone.labels, shared.labels)
    assert shared.track.tolist() == [5] * 30 + [6] * 30


def test_the_camera_view_hides_the_steering_indicator() -> None:
    frame = np.zeros((96, 96, 3), dtype=np.uint8)
    frame[:84] = (100, 202, 100)  # grass
    frame[:84, 40:56] = (105, 105, 105)  # road
    frame[88:94, 12:14] = 255  # speed bar: kept
    frame[88:94, 45:50] = (0, 255, 0)  # steering indicator: hidden (the copycat cue)
    view = camera_view(frame)
    assert view.shape == (VIEW, VIEW) and view.dtype == np.uint8
    assert view[10, 5] == 202 and view[10, 24] == 105  # brightest channel, 2×2 means
    assert view[45, 6] == 255 and view[42:, 22:25].max() == 0
    assert DASHBOARD_KEEP[0] <= 12 and DASHBOARD_KEEP[1] <= 45


# --- the network --------------------------------------------------------------------------------


def test_the_network_maps_views_to_steer_and_gas(tmp_path) -> None:
    torch.manual_seed(0)
    model = DriverCNN(DriverConfig()).eval()
    x = torch.rand(5, 1, VIEW, VIEW)
    out = model(x)
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    assert parameter_count(model) == 88_226
    save_driver(model, tmp_path)
    assert not (tmp_path / "driver.safetensors").read_bytes().startswith(b"\x80")  # no pickle
    again = load_driver(tmp_path)
    torch.testing.assert_close(again(x), out)
    assert DriverConfig.from_json((tmp_path / "driver.json").read_text()) == model.config


@pytest.mark.parametrize(
    "change", [{"channels": ()}, {"view": 50}, {"hidden": 0}, {"dropout": 1.0}, {"outputs": ()}]
)
def test_bad_driver_configs_are_one_line_errors(change) -> None:
    with pytest.raises(ConfigError):
        DriverCNN(replace(DriverConfig(), **change))


def test_mirroring_flips_the_road_and_the_steering_only() -> None:
    x = torch.arange(2 * VIEW * VIEW, dtype=torch.float32).reshape(2, 1, VIEW, VIEW)
    y = torch.tensor([[0.5, 0.3], [-0.2, 0.1]])
    mx, my = mirror(x, y, torch.tensor([True, False]))
    torch.testing.assert_close(mx[0, :, :VIEW_ROWS], x[0, :, :VIEW_ROWS].flip(-1))
    torch.testing.assert_close(mx[0, :, VIEW_ROWS:], x[0, :, VIEW_ROWS:])  # dashboard kept
    torch.testing.assert_close(mx[1], x[1])
    torch.testing.assert_close(my, torch.tensor([[-0.5, 0.3], [-0.2, 0.1]]))
    assert y[0, 0] == 0.5  # inputs untouched


def _bar_views(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic views: a road stripe whose offset from the centre is the steering label."""
    g = torch.Generator().manual_seed(seed)
    steer = torch.rand(n, generator=g) * 2 - 1
    views = torch.full((n, VIEW, VIEW), 200, dtype=torch.uint8)
    for i, s in enumerate(steer.tolist()):
        centre = int(VIEW / 2 + s * 14)
        views[i, :VIEW_ROWS, centre - 5 : centre + 5] = 100
    return views, torch.stack([steer, torch.full((n,), 0.2)], dim=1)


def test_fitting_learns_the_steering_and_is_deterministic() -> None:
    views, labels = _bar_views(384, 0)
    val = _bar_views(128, 1)
    config = FitConfig(epochs=4, batch_size=32, lr=3e-3, flip=True, seed=3)
    small = DriverConfig(channels=(8, 16, 16), hidden=32, input_mean=0.7, input_std=0.2)
    models = []
    for _ in range(2):
        torch.manual_seed(3)
        model = DriverCNN(small)
        history = fit_driver(model, views, labels, config, val=val)
        models.append(model)
    assert history.val_steer_mae[-1] < 0.5 * float(val[1][:, 0].abs().mean())
    assert history.train_loss[-1] < history.train_loss[0]
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert predict(models[0], val[0]).shape == (128, 2)
    assert not models[0].training  # left in eval mode by the validation pass


def test_summaries_average_over_tracks() -> None:
    def episode(visited: int, off: int, left: bool) -> Episode:
        return Episode(
            driver="x",
            seed=0,
            steps=100,
            tiles=200,
            tiles_visited=visited,
            offroad_steps=off,
            left_map=left,
            seconds=1.0,
            track=np.zeros((200, 2)),
            path=np.zeros((100, 2)),
            on_road=np.ones(100, bool),
            actions=np.zeros((100, 3)),
            expert_steer=np.zeros(100),
            speed=np.full(100, 30.0),
        )

    summary = summarise([episode(100, 0, False), episode(50, 40, True)])
    assert summary["tiles_share"] == pytest.approx(0.375)
    assert summary["offroad_share"] == pytest.approx(0.2)
    assert summary["left_map"] == 1 and summary["mean_speed"] == pytest.approx(30.0)
    assert summary["tiles_share_per_track"] == [0.5, 0.25]


# --- the command --------------------------------------------------------------------------------


def _check_outputs(out, quick: bool) -> dict:
    data = json.loads((out / "drive.json").read_text())
    assert data["quick"] is quick
    for name in ("network", "expert", "constant", "random"):
        scores = data["drivers"][name]
        assert 0.0 <= scores["tiles_share"] <= 1.0 and 0.0 <= scores["offroad_share"] <= 1.0
    assert data["drivers"]["expert"]["offroad_share"] == 0.0
    assert set(data["tracks"]["train"]).isdisjoint(data["tracks"]["evaluation"])
    assert data["sizes"]["frames_recorded"] >= data["sizes"]["frames_train"] > 0
    assert 0.0 < data["sizes"]["noisy_share"] < 1.0
    assert all(data["seconds"][k] > 0 for k in ("collect", "train", "evaluate", "figures"))
    assert data["machine"]["versions"]["gymnasium"] != "not installed"
    for name in data["files"].values():
        assert (out / name).stat().st_size > 0, name
    page = (out / "drive.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "<script" not in page
    assert load_driver(out).config.view == VIEW
    return data


def test_drive_runs_end_to_end_at_tiny_sizes(tmp_path, monkeypatch, capsys) -> None:
    """The whole command at sizes far below --quick's (one worker, no validation track)."""
    _simulator()
    from threefigures.applications.driving import run

    tiny = run.DriveConfig(
        train_tracks=1, val_tracks=0, steps=60, episodes=1, eval_steps=80, epochs=1, workers=1
    )
    monkeypatch.setattr(run.DriveConfig, "quick_config", classmethod(lambda cls, seed=0: tiny))
    out = tmp_path / "drive"
    assert main(["drive", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "network" in printed and "random" in printed and "drive.json" in printed
    data = _check_outputs(out, quick=False)
    assert data["sizes"]["frames_recorded"] == 30 and data["tracks"]["validation"] == []
    assert data["training"]["val_loss"] == []


@pytest.mark.slow
def test_drive_quick_through_the_cli(tmp_path, capsys) -> None:
    _simulator()
    out = tmp_path / "drive"
    assert main(["drive", "--quick", "--out", str(out), "--seed", "1"]) == 0
    data = _check_outputs(out, quick=True)
    assert data["tracks"]["evaluation"] == [1500]
    # even three epochs on 600 frames keep the network on the road more than chance does
    drivers = data["drivers"]
    assert drivers["network"]["offroad_share"] < drivers["random"]["offroad_share"]


@pytest.mark.parametrize("blocked", ["gymnasium", "Box2D"])
def test_a_missing_simulator_is_one_line(tmp_path, monkeypatch, capsys, blocked) -> None:
    if blocked == "Box2D":
        pytest.importorskip("gymnasium", reason=NEEDS_SIM)
        # forget the imported simulator modules, so importing them again meets the block
        for name in [m for m in sys.modules if m.startswith("gymnasium.envs.box2d")]:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, blocked, None)  # `import X` now raises ImportError
    code = main(["drive", "--quick", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(
        'error: drive needs the CarRacing simulator: pip install "gymnasium[box2d]==1.4.0" '
        "(gymnasium, Box2D, pygame-ce)"
    )
    assert not (tmp_path / "d").exists()  # nothing was started
