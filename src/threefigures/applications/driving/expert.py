"""The scripted expert: pure pursuit on the track's waypoints, and the noise that makes it
show the network how to recover.

Pure pursuit (Coulter 1992) aims the car at a point a fixed distance ahead on the path: here
the waypoint ``lookahead`` places after the nearest one (waypoints are ~3.5 world units
apart, so 6 ahead is ~21 units, about three car lengths). The steering is proportional to the
angle between the car's nose and that point; the gas holds a target speed. It reads the
simulator's geometry, never the picture — that is the point: the network has to learn from
pictures what the expert computes from the map.

Behaviour cloning from perfect drives alone fails in a known way: the network never sees the
car off the racing line, so its first small mistake leads to states it has no labels for and
errors compound (Ross & Bagnell 2010). :class:`SteeringNoise` perturbs the steering that is
*executed* while the *label* stays what the expert would do (Laskey et al. 2017, DART; the
corrective labels of DAgger, Ross et al. 2011): the recorded drives then contain drifts and
the expert's way back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from threefigures.applications.driving.simulator import CarState
from threefigures.errors import ConfigError


@dataclass(frozen=True)
class ExpertConfig:
    """Pure pursuit's settings: steer = −``steer_gain`` × heading error (radians), clipped to
    [−1, 1]; gas = ``gas_gain`` × (``target_speed`` − speed), clipped to [0, 1]."""

    lookahead: int = 6
    steer_gain: float = 2.0
    target_speed: float = 40.0
    gas_gain: float = 0.1

    def validate(self) -> None:
        if self.lookahead < 1:
            raise ConfigError(f"lookahead must be ≥ 1 waypoint, got {self.lookahead}")
        if self.steer_gain <= 0 or self.gas_gain <= 0 or self.target_speed <= 0:
            raise ConfigError("steer_gain, gas_gain and target_speed must be > 0")


class PurePursuit:
    """The expert for one track: ``act(state)`` → (steer, gas, brake).

    The nearest waypoint is searched in a window around the last one, so where the track
    passes close to itself the expert does not jump to the other stretch.
    """

    #: waypoints behind / ahead of the last nearest one that the search looks at
    WINDOW = (10, 40)

    def __init__(self, track: np.ndarray, config: ExpertConfig | None = None) -> None:
        self.track = np.asarray(track, dtype=np.float64)  # (n, 2) centre-line waypoints
        self.config = config or ExpertConfig()
        self.config.validate()
        self.nearest: int | None = None

    def _nearest(self, x: float, y: float) -> int:
        n = len(self.track)
        if self.nearest is None:
            candidates = np.arange(n)
        else:
            back, ahead = self.WINDOW
            candidates = np.arange(self.nearest - back, self.nearest + ahead) % n
        points = self.track[candidates]  # (k, 2)
        dist = np.hypot(points[:, 0] - x, points[:, 1] - y)
        self.nearest = int(candidates[int(np.argmin(dist))])
        return self.nearest

    def act(self, state: CarState) -> np.ndarray:
        config = self.config
        i = self._nearest(state.x, state.y)
        tx, ty = self.track[(i + config.lookahead) % len(self.track)]
        error = math.atan2(ty - state.y, tx - state.x) - state.heading
        error = (error + math.pi) % (2 * math.pi) - math.pi  # wrapped to [−π, π)
        # A target to the left (positive error) needs a left turn, which is negative steer.
        steer = float(np.clip(-config.steer_gain * error, -1.0, 1.0))
        gas = float(np.clip(config.gas_gain * (config.target_speed - state.speed), 0.0, 1.0))
        return np.array([steer, gas, 0.0])


class SteeringNoise:
    """A piecewise-constant offset added to the executed steering.

    The drive is cut into segments of ``min_len``..``max_len`` steps; each segment is noisy
    with probability ``share``, with an offset drawn uniformly from [−``amplitude``,
    ``amplitude``]. Held offsets, not white noise: the steering wheel turns slowly in Box2D,
    so per-step noise would average out before the car drifted anywhere.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        amplitude: float,
        share: float = 0.5,
        min_len: int = 10,
        max_len: int = 30,
    ) -> None:
        if amplitude < 0 or not 0.0 <= share <= 1.0 or not 1 <= min_len <= max_len:
            raise ConfigError("noise: amplitude ≥ 0, share in [0, 1], 1 ≤ min_len ≤ max_len")
        self.rng = rng
        self.amplitude = amplitude
        self.share = share
        self.min_len = min_len
        self.max_len = max_len
        self.left = 0
        self.offset = 0.0

    def __call__(self) -> float:
        if self.amplitude == 0.0:
            return 0.0
        if self.left == 0:
            self.left = int(self.rng.integers(self.min_len, self.max_len + 1))
            noisy = self.rng.random() < self.share
            self.offset = float(self.rng.uniform(-self.amplitude, self.amplitude)) if noisy else 0.0
        self.left -= 1
        return self.offset
