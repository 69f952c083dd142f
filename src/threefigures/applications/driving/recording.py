"""The expert drives seeded tracks while its camera frames and actions are recorded.

Each step keeps the frame the car saw, the action the expert *would* take there (the label)
and the action actually *executed* (the label plus held steering noise, see
``expert.SteeringNoise``), so the recordings hold drifts off the racing line and the labels
that steer back.

Frames are stored small: :func:`camera_view` turns CarRacing's 96×96 RGB frame into a 48×48
grey image (uint8), ~2.3 kB per frame, so 10,000 frames are 23 MB in memory. Only every
second step is recorded by default (``every``), and the frames in between are never drawn:
at 50 steps per second neighbouring frames are near copies, while drawing one is nearly all
of a step's cost, so the same time buys twice as many tracks.

Tracks are independent, so they are recorded in worker processes when asked (``workers``):
the simulator is single-threaded and drawing the frame is the whole cost. Workers run this
module only (no torch). The result does not depend on the number of workers: each track's
noise is seeded by its own seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from threefigures.applications.driving.expert import ExpertConfig, PurePursuit, SteeringNoise
from threefigures.applications.driving.simulator import DASHBOARD_ROW, FRAME_SIZE, Simulator
from threefigures.errors import ThreeFiguresError

#: The network's input: a VIEW × VIEW grey image (the camera frame averaged over 2×2 blocks).
VIEW = FRAME_SIZE // 2

#: Dashboard columns (of 96) that stay visible: the speed bar (x 12–14) and the four wheels'
#: spin bars (x 17–26). The rest of the strip is blacked out: the reward counter, and above
#: all the steering indicator, which shows the wheel's current angle — a network that can
#: read it learns to repeat the last action instead of looking at the road (the "copycat"
#: failure of behaviour cloning; de Haan et al. 2019, "Causal confusion in imitation").
DASHBOARD_KEEP = (11, 28)

#: The labels' columns: what the network predicts.
ACTIONS = ("steer", "gas")


def camera_view(frame: np.ndarray) -> np.ndarray:
    """CarRacing's (96, 96, 3) uint8 frame → the network's (48, 48) uint8 grey view.

    Grey is the brightest channel (HSV's value): the road (~105) stays apart from the grass
    (≥ 200), and the blue wheel-spin bars stay bright (a luminance mix would make them ~30).
    """
    if frame.shape != (FRAME_SIZE, FRAME_SIZE, 3):
        raise ValueError(f"expected a (96, 96, 3) camera frame, got {frame.shape}")
    value = frame.max(axis=2).astype(np.float32)  # (96, 96)
    lo, hi = DASHBOARD_KEEP
    value[DASHBOARD_ROW:, :lo] = 0.0
    value[DASHBOARD_ROW:, hi:] = 0.0
    pooled = value.reshape(VIEW, 2, VIEW, 2).mean(axis=(1, 3))  # (48, 48)
    return np.round(pooled).astype(np.uint8)


@dataclass(frozen=True)
class RecordConfig:
    """How the expert drives while it is recorded."""

    steps: int = 1000  # per track (50 steps = 1 s of simulated time)
    every: int = 2  # record one step in `every`: the frames between are never drawn
    noise: float = 0.6  # steering offset amplitude (steer is in [−1, 1])
    noise_share: float = 0.5  # share of the drive's segments that are noisy
    expert: ExpertConfig = field(default_factory=ExpertConfig)


@dataclass
class Demonstrations:
    """Recorded drives. ``frames`` (N, 48, 48) uint8 camera views; ``labels`` (N, 2) float32
    the expert's (steer, gas) for each frame; ``executed`` (N, 2) float32 what was driven;
    ``speed`` (N,) float32 the car's speed; ``track`` (N,) int64 the seed of each frame's
    track."""

    frames: np.ndarray
    labels: np.ndarray
    executed: np.ndarray
    speed: np.ndarray
    track: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    @staticmethod
    def concat(parts: Sequence[Demonstrations]) -> Demonstrations:
        return Demonstrations(
            frames=np.concatenate([p.frames for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            executed=np.concatenate([p.executed for p in parts]),
            speed=np.concatenate([p.speed for p in parts]),
            track=np.concatenate([p.track for p in parts]),
        )

    def select(self, mask: np.ndarray) -> Demonstrations:
        return Demonstrations(
            frames=self.frames[mask],
            labels=self.labels[mask],
            executed=self.executed[mask],
            speed=self.speed[mask],
            track=self.track[mask],
        )


def record_track(seed: int, config: RecordConfig) -> Demonstrations:
    """Drive track ``seed`` for ``config.steps`` steps with the (noisy) expert, recording
    every ``config.every``-th step: ``config.steps // config.every`` frames (rounded up)."""
    if config.steps < 1 or config.every < 1:
        raise ValueError("steps and every must be ≥ 1")
    sim = Simulator(camera=True)
    kept = -(-config.steps // config.every)  # ceil: steps 0, every, 2·every, ...
    frames = np.empty((kept, VIEW, VIEW), dtype=np.uint8)
    labels = np.empty((kept, 2), dtype=np.float32)
    executed = np.empty((kept, 2), dtype=np.float32)
    speed = np.empty(kept, dtype=np.float32)
    try:
        frame = sim.reset(seed)
        expert = PurePursuit(sim.track, config.expert)
        # The noise's own stream, seeded by the track: the same drive for any worker count.
        noise = SteeringNoise(np.random.default_rng([seed, 1]), config.noise, config.noise_share)
        for t in range(config.steps):
            state = sim.state()
            label = expert.act(state)
            action = label.copy()
            action[0] = np.clip(label[0] + noise(), -1.0, 1.0)
            if t % config.every == 0:
                assert frame is not None  # drawn for this step
                i = t // config.every
                frames[i] = camera_view(frame)
                labels[i] = label[:2]
                executed[i] = action[:2]
                speed[i] = state.speed
            # draw the next frame only if it will be recorded: drawing is the whole cost
            frame = sim.step(action, look=(t + 1) % config.every == 0)
    finally:
        sim.close()
    return Demonstrations(frames, labels, executed, speed, np.full(kept, seed, dtype=np.int64))


def collect(
    seeds: Sequence[int],
    config: RecordConfig,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Demonstrations:
    """Record every track in ``seeds`` (in that order in the result), ``workers`` at a time."""
    say = progress or (lambda _msg: None)
    seeds = [int(s) for s in seeds]
    if workers <= 1 or len(seeds) <= 1:
        parts: list[Demonstrations] = []
        for k, seed in enumerate(seeds, 1):
            parts.append(record_track(seed, config))
            say(f"recorded track {k}/{len(seeds)} (seed {seed}, {config.steps} frames)")
        return Demonstrations.concat(parts)
    return _collect_in_workers(seeds, config, min(workers, len(seeds)), say)


def _collect_in_workers(
    seeds: list[int], config: RecordConfig, workers: int, say: Callable[[str], None]
) -> Demonstrations:
    """Record in ``workers`` child processes, each running this module on its share of seeds.

    Plain ``python -m`` children rather than multiprocessing: ``spawn`` would re-run the
    caller's main script in each worker (a script without an ``if __name__ == "__main__"``
    guard would start over), and ``fork`` after torch is imported is unsafe. Each child
    writes one ``.npz`` per track (arrays only, no pickle) into a temporary folder.
    """
    job = {"config": asdict(config)}
    with tempfile.TemporaryDirectory(prefix="threefigures-drive-") as tmp:
        folder = Path(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        logs = []
        try:
            for i in range(workers):
                log = open(folder / f"worker{i}.log", "wb")  # noqa: SIM115 (closed below)
                logs.append(log)
                proc = subprocess.Popen(
                    [sys.executable, "-m", __name__, str(folder)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({**job, "seeds": seeds[i::workers]}).encode())
                proc.stdin.close()
                procs.append(proc)
            done: set[int] = set()
            while len(done) < len(seeds):
                for seed in seeds:
                    if seed not in done and (folder / f"{seed}.npz").exists():
                        done.add(seed)
                        say(f"recorded track {len(done)}/{len(seeds)} (seed {seed})")
                failed = [p for p in procs if p.poll() not in (None, 0)]
                if failed:
                    i = procs.index(failed[0])
                    text = (folder / f"worker{i}.log").read_text(errors="replace").strip()
                    last = text.splitlines()[-1] if text else f"exit code {failed[0].returncode}"
                    raise ThreeFiguresError(f"a recording worker failed: {last}")
                if len(done) < len(seeds):
                    time.sleep(0.2)
            for proc in procs:
                proc.wait()
            return Demonstrations.concat([_load(folder / f"{seed}.npz") for seed in seeds])
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.close()


def _save(path: Path, demos: Demonstrations) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **{f.name: getattr(demos, f.name) for f in fields(demos)})
    os.replace(tmp, path)  # the parent sees a track's file only once it is complete


def _load(path: Path) -> Demonstrations:
    with np.load(path, allow_pickle=False) as arrays:
        return Demonstrations(**{f.name: arrays[f.name] for f in fields(Demonstrations)})


def _worker(folder: Path, job: dict[str, Any]) -> None:
    raw = dict(job["config"])
    config = RecordConfig(**{**raw, "expert": ExpertConfig(**raw["expert"])})
    for seed in job["seeds"]:
        _save(folder / f"{seed}.npz", record_track(int(seed), config))


if __name__ == "__main__":  # a collection worker: python -m ... FOLDER, the job on stdin
    _worker(Path(sys.argv[1]), json.loads(sys.stdin.read()))
