"""Closed-loop evaluation: each driver drives the same unseen tracks for the same number of
steps, and the simulator measures how it went.

- **tiles share**: the share of the track's tiles the car touched (CarRacing counts a tile
  the first time any wheel touches it); a full lap is 1.0, if the step budget allows one;
- **off-road share**: the share of the step budget with no wheel on a road tile. A car that
  leaves the map (where CarRacing ends an episode) is stopped there, and its remaining steps
  count as off road;
- **steer error**: the mean |steer − the expert's steer| along the driver's own path (the
  expert is asked at every state the driver reached, as DAgger's labeller would be).

Drivers: the network (looks at the camera), the expert (pure pursuit on the map), a constant
action (the training labels' mean: what a network that ignored the picture would learn) and a
random one (uniform steer and gas at every step, seeded per track).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from threefigures.applications.driving.expert import ExpertConfig, PurePursuit
from threefigures.applications.driving.recording import camera_view
from threefigures.applications.driving.simulator import CarState, Simulator
from threefigures.applications.driving.training import as_inputs


class Driver(Protocol):
    """Anything that drives: ``start`` once per track, then ``act`` at every step."""

    name: str
    camera: bool  # whether it looks at the frame (the simulator then draws it)

    def start(self, sim: Simulator) -> None: ...

    def act(self, frame: np.ndarray | None, state: CarState) -> np.ndarray: ...


class ExpertDriver:
    """Pure pursuit with the simulator's map: the teacher, and the upper reference."""

    name = "expert"
    camera = False

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()
        self.pursuit: PurePursuit | None = None

    def start(self, sim: Simulator) -> None:
        self.pursuit = PurePursuit(sim.track, self.config)

    def act(self, frame: np.ndarray | None, state: CarState) -> np.ndarray:
        assert self.pursuit is not None, "start() first"
        return self.pursuit.act(state)


class ConstantDriver:
    """The same (steer, gas, brake) at every step, whatever it sees."""

    name = "constant"
    camera = False

    def __init__(self, steer: float, gas: float) -> None:
        self.action = np.array([steer, gas, 0.0])

    def start(self, sim: Simulator) -> None:
        pass

    def act(self, frame: np.ndarray | None, state: CarState) -> np.ndarray:
        return self.action.copy()


class RandomDriver:
    """Steer uniform in [−1, 1] and gas uniform in [0, 1] at every step, seeded per track."""

    name = "random"
    camera = False

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def start(self, sim: Simulator) -> None:
        self.rng = np.random.default_rng([self.seed, sim.seed or 0])

    def act(self, frame: np.ndarray | None, state: CarState) -> np.ndarray:
        return np.array([self.rng.uniform(-1.0, 1.0), self.rng.uniform(0.0, 1.0), 0.0])


class NetworkDriver:
    """The trained network: camera frame → 48×48 view → (steer, gas); no brake."""

    name = "network"
    camera = True

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def start(self, sim: Simulator) -> None:
        self.model.eval()

    def act(self, frame: np.ndarray | None, state: CarState) -> np.ndarray:
        assert frame is not None, "the network driver needs the camera"
        view = torch.from_numpy(camera_view(frame))[None]  # (1, 48, 48)
        with torch.no_grad():
            steer, gas = self.model(as_inputs(view))[0, :2].tolist()
        return np.array([steer, gas, 0.0])


@dataclass
class Episode:
    """One driver on one track. Per step (``t`` < steps driven): ``path`` (t, 2) the car's
    position, ``on_road`` (t,) after the step, ``actions`` (t, 3) as driven, ``expert_steer``
    (t,) what the expert would have steered there, ``speed`` (t,) in world units per second.
    ``frames``: camera frames (96, 96, 3) at the steps in ``frame_steps`` (kept when asked)."""

    driver: str
    seed: int
    steps: int
    tiles: int
    tiles_visited: int
    offroad_steps: int
    left_map: bool
    seconds: float
    track: np.ndarray
    path: np.ndarray
    on_road: np.ndarray
    actions: np.ndarray
    expert_steer: np.ndarray
    speed: np.ndarray
    frame_steps: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)

    @property
    def tiles_share(self) -> float:
        return self.tiles_visited / self.tiles

    @property
    def offroad_share(self) -> float:
        return self.offroad_steps / self.steps

    @property
    def steer_error(self) -> float:
        if len(self.actions) == 0:
            return 0.0
        return float(np.abs(self.actions[:, 0].clip(-1, 1) - self.expert_steer).mean())


def drive_episode(
    sim: Simulator,
    driver: Driver,
    seed: int,
    steps: int,
    keep_frames_every: int = 0,
) -> Episode:
    """``driver`` drives track ``seed`` for ``steps`` steps (or until it leaves the map)."""
    start = time.perf_counter()
    frame = sim.reset(seed)
    driver.start(sim)
    shadow = PurePursuit(sim.track)  # the expert's opinion at every state reached
    path = np.zeros((steps, 2))
    on_road = np.zeros(steps, dtype=bool)
    actions = np.zeros((steps, 3))
    expert_steer = np.zeros(steps)
    speed = np.zeros(steps)
    frame_steps: list[int] = []
    frames: list[np.ndarray] = []
    driven = 0
    left_map = False
    for t in range(steps):
        state = sim.state()
        action = np.asarray(driver.act(frame, state), dtype=np.float64)
        expert_steer[t] = shadow.act(state)[0]
        if keep_frames_every and frame is not None and t % keep_frames_every == 0:
            frame_steps.append(t)
            frames.append(frame)
        path[t] = (state.x, state.y)
        speed[t] = state.speed
        actions[t] = action
        frame = sim.step(action)
        on_road[t] = sim.on_road
        driven = t + 1
        if sim.off_map:
            left_map = True
            break
    return Episode(
        driver=driver.name,
        seed=seed,
        steps=steps,
        tiles=sim.tiles,
        tiles_visited=sim.tiles_visited,
        # the steps never driven after leaving the map count as off road
        offroad_steps=int((~on_road[:driven]).sum()) + (steps - driven),
        left_map=left_map,
        seconds=time.perf_counter() - start,
        track=sim.track.copy(),
        path=path[:driven],
        on_road=on_road[:driven],
        actions=actions[:driven],
        expert_steer=expert_steer[:driven],
        speed=speed[:driven],
        frame_steps=frame_steps,
        frames=frames,
    )


def evaluate_drivers(
    drivers: Sequence[Driver],
    seeds: Sequence[int],
    steps: int,
    keep_frames_every: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Episode]]:
    """Every driver on every track in ``seeds``; frames are kept for camera drivers only."""
    say = progress or (lambda _msg: None)
    sims = {True: Simulator(camera=True), False: Simulator(camera=False)}
    out: dict[str, list[Episode]] = {}
    try:
        for driver in drivers:
            episodes = out.setdefault(driver.name, [])
            for seed in seeds:
                keep = keep_frames_every if driver.camera else 0
                episode = drive_episode(sims[driver.camera], driver, seed, steps, keep)
                episodes.append(episode)
                say(
                    f"{driver.name} on track {seed}: tiles {100 * episode.tiles_share:.1f}%, "
                    f"off road {100 * episode.offroad_share:.1f}% ({episode.seconds:.1f} s)"
                )
    finally:
        for sim in sims.values():
            sim.close()
    return out


def summarise(episodes: Sequence[Episode]) -> dict[str, float | int | list[float]]:
    """A driver's numbers over its episodes: means and the per-track values."""
    tiles = [e.tiles_share for e in episodes]
    offroad = [e.offroad_share for e in episodes]
    return {
        "tiles_share": float(np.mean(tiles)),
        "offroad_share": float(np.mean(offroad)),
        "steer_error": float(np.mean([e.steer_error for e in episodes])),
        "mean_speed": float(np.mean([e.speed.mean() if len(e.speed) else 0.0 for e in episodes])),
        "left_map": int(sum(e.left_map for e in episodes)),
        "tiles_share_per_track": [round(v, 4) for v in tiles],
        "offroad_share_per_track": [round(v, 4) for v in offroad],
        "seconds": float(sum(e.seconds for e in episodes)),
    }
