"""gymnasium's CarRacing (Box2D) behind a small wrapper, for scripted and learned drivers.

What a driver may use: the camera frame (96×96 RGB, drawn by the simulator), and, for the
scripted drivers and the measurements, the simulator's own state: the track's waypoints, the
car's position, heading and speed, the tiles visited and whether any wheel is on the road.

Drawing the frame is nearly all of a step's cost (measured here: 64 steps/s with it, 5,300
without, on 2 CPU cores): pygame transforms ~700 road and grass polygons in Python on every
step. Drivers that never look at the picture (the expert, the constant and the random driver)
therefore run with ``camera=False``, which skips the drawing and nothing else — the physics,
the tiles and the rewards are the same.

No torch here: the collection workers import this module only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from threefigures.errors import ThreeFiguresError

# pygame opens no window with the dummy video driver; it must be set before pygame is
# imported (by gymnasium's car_racing module), and a user's own choice is kept.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

#: How to install the simulator, in the one-line error when it is missing.
INSTALL = 'pip install "gymnasium[box2d]==1.4.0" (gymnasium, Box2D, pygame-ce)'

#: The camera frame's size (CarRacing's STATE_W × STATE_H) and the dashboard's first row:
#: the bottom fifth-of-an-eighth (5/40) of the frame is the black instrument strip.
FRAME_SIZE = 96
DASHBOARD_ROW = 84

#: Half the road's width in world units (CarRacing's TRACK_WIDTH = 40 / SCALE).
ROAD_HALF_WIDTH = 40 / 6.0

#: |x| or |y| beyond this is off the map (CarRacing's PLAYFIELD = 2000 / SCALE).
PLAYFIELD = 2000 / 6.0


class SimulatorMissingError(ThreeFiguresError):
    """gymnasium, Box2D or pygame-ce is not installed (or fails to import)."""


def load_car_racing() -> Any:
    """The ``CarRacing`` class, or a one-line :class:`SimulatorMissingError` naming the
    packages to install (gymnasium raises its own ``DependencyNotInstalled``, not an
    ``ImportError``, when Box2D or pygame is missing)."""
    try:
        import gymnasium  # noqa: F401
        from gymnasium.error import DependencyNotInstalled
    except ImportError as exc:
        raise SimulatorMissingError(_missing(exc)) from exc
    try:
        from gymnasium.envs.box2d.car_racing import CarRacing
    except (ImportError, DependencyNotInstalled) as exc:
        raise SimulatorMissingError(_missing(exc.__cause__ or exc)) from exc
    return CarRacing


def _missing(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())  # one line, whatever the package wrote
    return f"drive needs the CarRacing simulator: {INSTALL}; import failed: {detail}"


@dataclass(frozen=True)
class CarState:
    """The car as the simulator knows it. ``heading``: the direction the car's nose points,
    radians counter-clockwise from +x; ``speed`` in world units per second."""

    x: float
    y: float
    heading: float
    speed: float


def _no_frame(mode: str) -> None:
    """Stands in for CarRacing's ``_render`` when no driver looks: no frame, no cost."""
    return None


class Simulator:
    """One CarRacing environment, reused across tracks (``reset(seed)`` builds a new one).

    ``step`` ignores the environment's own termination: every driver drives the same number
    of steps, and the caller decides when a car that left the map is done.
    """

    def __init__(self, camera: bool = True) -> None:
        car_racing = load_car_racing()
        self.env: Any = car_racing(render_mode="rgb_array")
        self.camera = camera
        if not camera:
            # An instance attribute shadows the method: step() then stores None as the
            # observation instead of drawing 700 polygons.
            self.env._render = _no_frame
        self.track = np.zeros((0, 2))
        self.seed: int | None = None

    def reset(self, seed: int) -> np.ndarray | None:
        """A new track from ``seed`` (the same seed, the same track) and the first frame."""
        frame, _info = self.env.reset(seed=int(seed))
        self.seed = int(seed)
        # track entries are (alpha, beta, x, y): the centre line's waypoints, ~3.5 units apart
        self.track = np.asarray([(t[2], t[3]) for t in self.env.track], dtype=np.float64)
        return None if frame is None else np.asarray(frame)

    def step(self, action: np.ndarray, look: bool = True) -> np.ndarray | None:
        """Apply (steer ∈ [−1, 1] (+ is right), gas ∈ [0, 1], brake ∈ [0, 1]) for 1/50 s and
        return the new frame; ``look=False`` skips drawing it this once (``None``)."""
        clipped = np.clip(np.asarray(action, dtype=np.float64), [-1.0, 0.0, 0.0], 1.0)
        if self.camera and not look:
            self.env._render = _no_frame
            try:
                frame, *_ = self.env.step(clipped)
            finally:
                del self.env._render  # the class's drawing method is back
        else:
            frame, *_ = self.env.step(clipped)
        return None if frame is None else np.asarray(frame)

    def state(self) -> CarState:
        hull = self.env.car.hull
        vx, vy = hull.linearVelocity
        # Box2D's body angle 0 points the car's nose (its local +y axis) along world +y.
        return CarState(
            x=float(hull.position[0]),
            y=float(hull.position[1]),
            heading=float(hull.angle) + math.pi / 2,
            speed=float(math.hypot(vx, vy)),
        )

    @property
    def on_road(self) -> bool:
        """Whether any wheel touches a road tile (CarRacing tracks each wheel's contacts)."""
        return any(len(wheel.tiles) > 0 for wheel in self.env.car.wheels)

    @property
    def tiles_visited(self) -> int:
        return int(self.env.tile_visited_count)

    @property
    def tiles(self) -> int:
        return len(self.env.track)

    @property
    def off_map(self) -> bool:
        """Beyond the playfield: CarRacing ends the episode there (no tile lies beyond)."""
        state = self.state()
        return abs(state.x) > PLAYFIELD or abs(state.y) > PLAYFIELD

    def close(self) -> None:
        self.env.close()
