"""``run_drive``: the driving column of Figure 10, from an empty folder to measured numbers.

1. **collect**: the pure-pursuit expert drives seeded training tracks with held steering
   noise; every frame is recorded with the expert's corrective label;
2. **train**: the CNN learns (steer, gas) from the frames alone; the last recorded tracks are
   held out to watch the validation loss;
3. **evaluate**: the network, the expert, a constant and a random driver each drive the same
   tracks, never seen in training (other seeds), for the same number of steps;
4. **explain** and **draw**: frames with both steerings, a saliency map, the paths, the scores;
   ``drive.json`` with every number, ``drive.html``, and the network as safetensors + JSON.

Every number written comes from this run; the seconds of each phase and the machine are in
``drive.json`` too.
"""

from __future__ import annotations

import html
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from threefigures.applications.driving.evaluation import (
    ConstantDriver,
    Driver,
    Episode,
    ExpertDriver,
    NetworkDriver,
    RandomDriver,
    evaluate_drivers,
    summarise,
)
from threefigures.applications.driving.expert import ExpertConfig
from threefigures.applications.driving.model import (
    CONFIG,
    WEIGHTS,
    DriverCNN,
    DriverConfig,
    parameter_count,
    save_driver,
)
from threefigures.applications.driving.recording import (
    ACTIONS,
    VIEW,
    Demonstrations,
    RecordConfig,
    camera_view,
    collect,
)
from threefigures.applications.driving.simulator import ROAD_HALF_WIDTH, load_car_racing
from threefigures.applications.driving.training import FitConfig, fit_driver, predict
from threefigures.errors import ConfigError
from threefigures.runs.checkpoint import atomic_write_text

#: Seeds: training tracks are ``1000·seed + i``, evaluation tracks ``1000·seed + 500 + j``,
#: so the two sets never meet for up to 500 tracks each.
EVAL_OFFSET = 500

#: The files written into the output folder (drive.json's "files" lists them too).
FILES = {
    "json": "drive.json",
    "html": "drive.html",
    "frames": "frames.png",
    "saliency": "saliency.png",
    "paths": "paths.png",
    "scores": "scores.png",
    "weights": WEIGHTS,
    "config": CONFIG,
}

DRIVERS = ("network", "expert", "constant", "random")


@dataclass(frozen=True)
class DriveConfig:
    """Sizes and settings of one driving run. The defaults fit in ~5 minutes on 2 CPU cores;
    :meth:`quick` in well under a minute."""

    seed: int = 0
    train_tracks: int = 9  # recorded tracks the network learns from
    val_tracks: int = 1  # recorded tracks held out for the validation loss
    steps: int = 1000  # steps driven per recorded track (50 per simulated second)
    record_every: int = 2  # one frame recorded per `record_every` steps
    episodes: int = 3  # unseen evaluation tracks, driven by every driver
    eval_steps: int = 1000  # steps per evaluation drive
    noise: float = 0.6  # amplitude of the held steering noise while recording
    noise_share: float = 0.5  # share of the recorded drive that is noisy
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3
    channels: tuple[int, ...] = (16, 32, 32)
    hidden: int = 64
    workers: int = 2  # recording processes (the simulator uses one core each)
    threads: int = 1  # torch threads while training and driving (see run_drive)
    quick: bool = False

    @classmethod
    def quick_config(cls, seed: int = 0) -> DriveConfig:
        """Tiny sizes that exercise every phase (CI runs this)."""
        return cls(
            seed=seed,
            train_tracks=2,
            val_tracks=1,
            steps=600,
            episodes=1,
            eval_steps=300,
            epochs=3,
            batch_size=32,  # 600 training frames: enough optimiser steps in 3 epochs
            quick=True,
        )

    def validate(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"--seed must be ≥ 0, got {self.seed}")
        if not 1 <= self.train_tracks + self.val_tracks <= EVAL_OFFSET or self.train_tracks < 1:
            raise ConfigError(
                f"need 1 to {EVAL_OFFSET} recorded tracks with at least one for training"
            )
        if self.val_tracks < 0:
            raise ConfigError(f"val_tracks must be ≥ 0, got {self.val_tracks}")
        if not 1 <= self.episodes <= EVAL_OFFSET:
            raise ConfigError(f"--episodes must be in 1..{EVAL_OFFSET}, got {self.episodes}")
        if self.steps < 10 or self.eval_steps < 10:
            raise ConfigError("steps and eval_steps must be ≥ 10")
        if not 1 <= self.record_every <= self.steps:
            raise ConfigError(f"record_every must be in 1..steps, got {self.record_every}")
        if self.workers < 1 or self.threads < 1:
            raise ConfigError("workers and threads must be ≥ 1")
        self.fit_config().validate()
        self.driver_config(0.5, 0.25).validate()

    def train_seeds(self) -> list[int]:
        return [1000 * self.seed + i for i in range(self.train_tracks + self.val_tracks)]

    def eval_seeds(self) -> list[int]:
        return [1000 * self.seed + EVAL_OFFSET + j for j in range(self.episodes)]

    def record_config(self) -> RecordConfig:
        return RecordConfig(
            steps=self.steps,
            every=self.record_every,
            noise=self.noise,
            noise_share=self.noise_share,
            expert=EXPERT,
        )

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed)

    def driver_config(self, mean: float, std: float) -> DriverConfig:
        return DriverConfig(
            view=VIEW,
            channels=self.channels,
            hidden=self.hidden,
            outputs=ACTIONS,
            input_mean=mean,
            input_std=std,
        )


#: The expert everywhere: while recording and as the evaluation's reference driver.
EXPERT = ExpertConfig()


@dataclass
class DriveResult:
    """What ``run_drive`` measured (``summary`` is drive.json's content) and wrote."""

    config: DriveConfig
    summary: dict[str, Any]
    files: dict[str, Path]
    model: DriverCNN
    episodes: dict[str, list[Episode]] = field(repr=False, default_factory=dict)

    def scores(self) -> dict[str, tuple[float, float]]:
        """driver → (tiles share, off-road share), means over the evaluation tracks."""
        drivers = self.summary["drivers"]
        return {k: (v["tiles_share"], v["offroad_share"]) for k, v in drivers.items()}


def run_drive(
    config: DriveConfig,
    out: Path,
    progress: Callable[[str], None] | None = None,
) -> DriveResult:
    """Collect, train, evaluate, explain and draw; write everything into ``out``.

    torch runs on ``config.threads`` threads (1 by default) for the call. The network is small
    and drives one frame at a time; on this project's 2-core machine with other jobs running
    (load ~4), two threads took 53 ms per driving step and 2.4 ms per training frame against
    0.7 ms and 0.37 ms on one, as the threads spun waiting for each other.
    """
    config.validate()
    load_car_racing()  # a missing simulator is a one-line error before any work
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run_drive(config, Path(out), progress or (lambda _msg: None))
    finally:
        torch.set_num_threads(threads)


def _run_drive(config: DriveConfig, out: Path, say: Callable[[str], None]) -> DriveResult:
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds (this process and its workers): load-independent
    load_before = _load_average()
    started = time.perf_counter()
    cpu_started = _cpu_seconds()

    # 1. collect
    tick, cpu_tick = time.perf_counter(), _cpu_seconds()
    seeds = config.train_seeds()
    say(f"collect: the expert drives {len(seeds)} tracks × {config.steps} steps")
    demos = collect(seeds, config.record_config(), workers=config.workers, progress=say)
    seconds["collect"] = time.perf_counter() - tick
    cpu["collect"] = _cpu_seconds() - cpu_tick

    # 2. train
    tick, cpu_tick = time.perf_counter(), _cpu_seconds()
    val_seeds = seeds[config.train_tracks :]
    is_val = np.isin(demos.track, val_seeds)
    train = demos.select(~is_val)
    val = demos.select(is_val)
    views = torch.from_numpy(train.frames)  # (N, 48, 48) uint8
    labels = torch.from_numpy(train.labels)  # (N, 2) float32
    pixels = train.frames.astype(np.float32) / 255.0
    model_config = config.driver_config(float(pixels.mean()), float(pixels.std()) or 1.0)
    del pixels
    torch.manual_seed(config.seed)  # the initial weights
    model = DriverCNN(model_config)
    say(f"train: {len(train)} frames, {parameter_count(model):,} parameters")
    val_pair = (torch.from_numpy(val.frames), torch.from_numpy(val.labels)) if len(val) else None
    history = fit_driver(model, views, labels, config.fit_config(), val=val_pair, progress=say)
    model.eval()
    weights_path, config_path = save_driver(model, out)
    seconds["train"] = time.perf_counter() - tick
    cpu["train"] = _cpu_seconds() - cpu_tick

    # 3. evaluate on unseen tracks
    tick, cpu_tick = time.perf_counter(), _cpu_seconds()
    mean_action = train.labels.mean(axis=0)
    drivers: list[Driver] = [
        NetworkDriver(model),
        ExpertDriver(EXPERT),
        ConstantDriver(steer=float(mean_action[0]), gas=float(mean_action[1])),
        RandomDriver(seed=config.seed),
    ]
    eval_seeds = config.eval_seeds()
    say(f"evaluate: {len(drivers)} drivers × {len(eval_seeds)} unseen tracks")
    keep_every = max(config.eval_steps // 40, 1)
    episodes = evaluate_drivers(
        drivers, eval_seeds, config.eval_steps, keep_frames_every=keep_every, progress=say
    )
    seconds["evaluate"] = time.perf_counter() - tick
    cpu["evaluate"] = _cpu_seconds() - cpu_tick

    # 4. explain and draw
    tick, cpu_tick = time.perf_counter(), _cpu_seconds()
    drawn = _draw(model, episodes, out)
    seconds["figures"] = time.perf_counter() - tick
    cpu["figures"] = _cpu_seconds() - cpu_tick
    seconds["total"] = time.perf_counter() - started
    cpu["total"] = _cpu_seconds() - cpu_started

    summary = _summary(
        config, demos, train, val, model, history, episodes, mean_action, seconds, load_before
    )
    summary["figures"] = drawn
    summary["cpu_seconds"] = {k: round(v, 2) for k, v in cpu.items()}
    files = {key: out / name for key, name in FILES.items()}
    files["weights"], files["config"] = weights_path, config_path
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    write_drive_html(summary, out, files["html"])
    return DriveResult(config, summary, files, model, episodes)


def _draw(model: DriverCNN, episodes: dict[str, list[Episode]], out: Path) -> dict[str, Any]:
    """The four figures; returns what they show (steps, steering values) for drive.json."""
    from threefigures.applications.driving.attribution import steering_saliency
    from threefigures.figures.drive import (
        draw_drive_frames,
        draw_drive_paths,
        draw_drive_saliency,
        draw_drive_scores,
    )

    first = episodes["network"][0]
    frames = np.stack(first.frames)  # (K, 96, 96, 3) every few steps of the first drive
    views = np.stack([camera_view(f) for f in frames])  # (K, 48, 48)
    net_steer = predict(model, torch.from_numpy(views))[:, 0].numpy()
    expert_steer = first.expert_steer[first.frame_steps]
    # CarRacing zooms in during its first simulated second (50 steps): show frames after it
    late = np.array([i for i, step in enumerate(first.frame_steps) if step >= 50] or [0])
    pick = late[np.linspace(0, len(late) - 1, min(6, len(late))).astype(int)]
    draw_drive_frames(
        frames[pick],
        expert_steer[pick].tolist(),
        net_steer[pick].tolist(),
        [first.frame_steps[i] for i in pick],
        out / FILES["frames"],
    )
    # saliency on the sharpest left turn, the straightest moment and the sharpest right turn
    order = late[np.argsort(expert_steer[late])]
    chosen = [int(order[0]), int(order[np.argmin(np.abs(expert_steer[order]))]), int(order[-1])]
    maps = steering_saliency(model, torch.from_numpy(views[chosen]))
    draw_drive_saliency(
        views[chosen],
        maps,
        expert_steer[chosen].tolist(),
        net_steer[chosen].tolist(),
        out / FILES["saliency"],
        method="SmoothGrad saliency",
    )
    shown = min(3, len(episodes["network"]))
    draw_drive_paths(
        [episodes["network"][i].track for i in range(shown)],
        [{d: episodes[d][i].path for d in DRIVERS} for i in range(shown)],
        [{d: episodes[d][i].on_road for d in DRIVERS} for i in range(shown)],
        ROAD_HALF_WIDTH,
        out / FILES["paths"],
        titles=[f"track {episodes['network'][i].seed}" for i in range(shown)],
    )
    draw_drive_scores(
        list(DRIVERS),
        [[e.tiles_share for e in episodes[d]] for d in DRIVERS],
        [[e.offroad_share for e in episodes[d]] for d in DRIVERS],
        out / FILES["scores"],
    )
    return {
        "frames": {
            "track": first.seed,
            "steps": [first.frame_steps[i] for i in pick],
            "expert_steer": [round(float(v), 4) for v in expert_steer[pick]],
            "network_steer": [round(float(v), 4) for v in net_steer[pick]],
        },
        "saliency": {
            "method": "Captum NoiseTunnel(Saliency), SmoothGrad, steering output",
            "track": first.seed,
            "steps": [first.frame_steps[i] for i in chosen],
            "expert_steer": [round(float(v), 4) for v in expert_steer[chosen]],
            "network_steer": [round(float(v), 4) for v in net_steer[chosen]],
        },
    }


def _summary(
    config: DriveConfig,
    demos: Demonstrations,
    train: Demonstrations,
    val: Demonstrations,
    model: DriverCNN,
    history: Any,
    episodes: dict[str, list[Episode]],
    mean_action: np.ndarray,
    seconds: dict[str, float],
    load_before: list[float] | None,
) -> dict[str, Any]:
    drivers = {name: summarise(episodes[name]) for name in DRIVERS}
    drivers["constant"]["action"] = [round(float(v), 4) for v in mean_action]
    noisy = demos.labels[:, 0] != demos.executed[:, 0]
    return {
        "schema": 1,
        "what": "behaviour cloning in gymnasium CarRacing-v3: a CNN steers from camera frames",
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": config.quick,
        "config": asdict(config),
        "expert": asdict(EXPERT),
        "tracks": {
            "train": config.train_seeds()[: config.train_tracks],
            "validation": config.train_seeds()[config.train_tracks :],
            "evaluation": config.eval_seeds(),
        },
        "sizes": {
            "frames_recorded": len(demos),
            "frames_train": len(train),
            "frames_validation": len(val),
            "noisy_share": round(float(noisy.mean()), 4),
            "view": [VIEW, VIEW],
            "parameters": parameter_count(model),
            "eval_steps": config.eval_steps,
            "episodes": config.episodes,
        },
        "model": json.loads(model.config.to_json()),
        "training": {
            "train_loss": [round(v, 5) for v in history.train_loss],
            "val_loss": [round(v, 5) for v in history.val_loss],
            "val_steer_mae": [round(v, 4) for v in history.val_steer_mae],
            "val_gas_mae": [round(v, 4) for v in history.val_gas_mae],
        },
        "drivers": drivers,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "machine": _machine(load_before),
        "files": dict(FILES),
    }


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the recording workers)."""
    try:
        import resource
    except ImportError:  # not on Windows: this process only
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _machine(load_before: list[float] | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("torch", "numpy", "gymnasium", "Box2D", "pygame-ce", "captum", "matplotlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "versions": versions,
    }


def read_drive(folder: Path) -> dict[str, Any]:
    """A finished run's drive.json (for pages that reuse its numbers and pictures)."""
    path = Path(folder) / FILES["json"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no driving results here (run `threefigures drive`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable driving results ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != 1 or "drivers" not in data:
        raise ConfigError(f"{path}: not a drive.json this version writes")
    return data


def table(summary: dict[str, Any]) -> str:
    """The drivers' numbers as a short text table."""
    lines = [f"{'driver':<10}{'tiles':>8}{'off road':>10}{'steer err':>11}{'speed':>8}"]
    for name, s in summary["drivers"].items():
        lines.append(
            f"{name:<10}{100 * s['tiles_share']:>7.1f}%{100 * s['offroad_share']:>9.1f}%"
            f"{s['steer_error']:>11.3f}{s['mean_speed']:>8.1f}"
        )
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1d2330;line-height:1.45}img{max-width:100%;border:1px solid #e3e6ee;border-radius:4px}
table{border-collapse:collapse;font-size:.92rem}th,td{border:1px solid #d5d9e3;
padding:.25rem .6rem;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f2f4f8}.muted{color:#556;font-size:.9rem}
"""


def write_drive_html(summary: dict[str, Any], folder: Path, path: Path) -> Path:
    """A self-contained page: the figures as data URIs, the numbers, the sizes and times."""
    import base64

    def img(name: str, alt: str) -> str:
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{100 * s['tiles_share']:.1f}%</td>"
        f"<td>{100 * s['offroad_share']:.1f}%</td><td>{s['steer_error']:.3f}</td>"
        f"<td>{s['mean_speed']:.1f}</td><td>{s['left_map']}</td></tr>"
        for name, s in summary["drivers"].items()
    )
    sizes = summary["sizes"]
    secs = summary["seconds"]
    machine = summary["machine"]
    lead = (
        "Behaviour cloning in gymnasium's CarRacing: a pure-pursuit expert that reads the "
        f"track's geometry drove {sizes['frames_recorded']:,} recorded steps "
        f"({100 * sizes['noisy_share']:.0f}% with steering noise, labelled with the expert's "
        f"correction); a {sizes['parameters']:,}-parameter CNN learned steering and gas from "
        f"the {sizes['view'][0]}×{sizes['view'][1]} frames alone. Each driver then drove the "
        f"same {sizes['episodes']} unseen track(s) for {sizes['eval_steps']} steps."
    )
    run = (
        f"Seconds: collect {secs['collect']:.1f}, train {secs['train']:.1f}, evaluate "
        f"{secs['evaluate']:.1f}, figures {secs['figures']:.1f}, total {secs['total']:.1f}. "
        f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs, load average "
        f"{machine['load_average_before']} before; {machine['platform']}."
        + (" Quick sizes: a smoke test, not a result." if summary["quick"] else "")
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Driving from pixels — threefigures</title>
<style>{_CSS}</style></head><body>
<h1>Driving from pixels</h1>
<p class="muted">{html.escape(lead)}</p>
<table><thead><tr><th>driver</th><th>tiles visited</th><th>steps off road</th>
<th>|steer − expert|</th><th>mean speed</th><th>left the map</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Scores</h2>{img(FILES["scores"], "scores")}
<h2>What the network saw</h2>{img(FILES["frames"], "frames")}
<h2>Which pixels turned the wheel</h2>{img(FILES["saliency"], "saliency")}
<h2>The paths driven</h2>{img(FILES["paths"], "paths")}
<h2>Run</h2><p class="muted">{html.escape(run)}</p>
</body></html>
"""
    atomic_write_text(path, page)
    return path


def with_sizes(config: DriveConfig, **changes: Any) -> DriveConfig:
    """``config`` with the given fields replaced (``None`` values left alone)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
