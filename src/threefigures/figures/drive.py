"""Figure 10's driving column: camera frames with the expert's and the network's steering,
where the network looked (saliency), the paths driven on unseen tracks, and the scores.

numpy in, PNG out; the driving pipeline (``applications.driving``) computes everything.
Steering is in [−1, 1], positive to the right, as in CarRacing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from ._style import BLUE, GREEN, INK, MUTED, ORANGE, RED, PathLike, figure, save

#: One colour per driver, the same in every panel.
DRIVER_COLORS = {"network": BLUE, "expert": GREEN, "constant": ORANGE, "random": MUTED}
ROAD = "#8a8f98"


def _color(name: str) -> str:
    return DRIVER_COLORS.get(name, INK)


def _steer_bars(ax: Axes, expert: float, network: float) -> None:
    """Two horizontal bars from the centre: the expert's steer (top) and the network's."""
    ax.barh([1, 0], [expert, network], color=[GREEN, BLUE], height=0.7)
    ax.axvline(0.0, color=INK, lw=0.6)
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-0.6, 1.6)
    ax.set_yticks([])
    ax.set_xticks([-1, 0, 1], ["left", "0", "right"])
    ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
    for spine in ("left", "top", "right"):
        ax.spines[spine].set_visible(False)


def draw_drive_frames(
    frames: npt.ArrayLike,
    expert_steer: Sequence[float],
    network_steer: Sequence[float],
    steps: Sequence[int],
    path: PathLike,
    title: str = "What the network saw, and how it steered",
) -> None:
    """A strip of camera frames (K, H, W, 3) uint8, each with two bars under it: the expert's
    steering (green) and the network's (blue) at that moment; ``steps`` label the frames."""
    frames = np.asarray(frames)
    k = len(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (K, H, W, 3) RGB images, got shape {frames.shape}")
    if not k or not len(expert_steer) == len(network_steer) == len(steps) == k:
        raise ValueError("frames, expert_steer, network_steer and steps need the same length > 0")
    with figure(1.55 * k + 0.3, 2.55) as fig:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        for i in range(k):
            left = 0.01 + i / k
            width = 1.0 / k - 0.02
            ax = fig.add_axes((left, 0.33, width, 0.55))
            ax.imshow(frames[i], interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"step {steps[i]}", fontsize=7, color=MUTED, pad=2)
            bars = fig.add_axes((left + 0.1 * width, 0.1, 0.8 * width, 0.18))
            _steer_bars(bars, float(expert_steer[i]), float(network_steer[i]))
        fig.text(0.01, 0.015, "bars: expert (green) · network (blue)", fontsize=7, color=MUTED)
        save(fig, path)


def draw_drive_saliency(
    views: npt.ArrayLike,
    saliency: npt.ArrayLike,
    expert_steer: Sequence[float],
    network_steer: Sequence[float],
    path: PathLike,
    method: str = "saliency",
) -> None:
    """Views (K, H, W) uint8 as the network sees them, and over each its attribution map
    (K, H, W), ≥ 0: which pixels moved the steering output."""
    views_arr = np.asarray(views)
    maps = np.asarray(saliency, dtype=np.float64)
    if views_arr.ndim != 3 or maps.shape != views_arr.shape or not len(views_arr):
        raise ValueError(
            f"views and saliency must both be (K, H, W); got {views_arr.shape}, {maps.shape}"
        )
    k = len(views_arr)
    with figure(2.0 * k + 0.4, 4.6) as fig:
        fig.suptitle(f"Which pixels turned the wheel ({method}, steering output)", fontsize=10)
        fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.08, wspace=0.08, hspace=0.12)
        for i in range(k):
            top = fig.add_subplot(2, k, i + 1)
            top.imshow(views_arr[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            top.set_axis_off()
            top.set_title(
                f"expert {expert_steer[i]:+.2f} · network {network_steer[i]:+.2f}", fontsize=7
            )
            low = fig.add_subplot(2, k, k + i + 1)
            low.imshow(views_arr[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            scale = float(maps[i].max()) or 1.0
            low.imshow(maps[i] / scale, cmap="inferno", alpha=0.65, vmin=0.0, vmax=1.0)
            low.set_axis_off()
        fig.text(
            0.01,
            0.01,
            "top: the 48×48 view the network gets (road; speed bars at the bottom)\n"
            "bottom: attribution, brighter = moved the steering more",
            fontsize=7,
            color=MUTED,
        )
        save(fig, path)


def _road(track: npt.NDArray[np.float64], half_width: float) -> PathPatch:
    """The road as a ring: the closed centre line offset by ±``half_width`` along its normals,
    one edge traced forwards and the other backwards, so the area between them is filled and
    the grass inside the loop is a hole."""
    ahead = np.roll(track, -1, axis=0) - np.roll(track, 1, axis=0)  # (n, 2) tangents
    ahead /= np.linalg.norm(ahead, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-ahead[:, 1], ahead[:, 0]], axis=1)  # (n, 2)
    left = track + half_width * normal
    right = (track - half_width * normal)[::-1]
    n = len(track)
    codes = [MplPath.MOVETO] + [MplPath.LINETO] * (n - 1) + [MplPath.CLOSEPOLY]
    vertices = np.concatenate([left, left[:1], right, right[:1]])  # (2n + 2, 2)
    return PathPatch(MplPath(vertices, codes + codes), fc="#d9dce1", ec=ROAD, lw=0.4, zorder=1)


def draw_drive_paths(
    tracks: Sequence[npt.ArrayLike],
    paths: Sequence[Mapping[str, npt.ArrayLike]],
    on_road: Sequence[Mapping[str, npt.ArrayLike]],
    half_width: float,
    path: PathLike,
    titles: Sequence[str] | None = None,
) -> None:
    """Top-down view of each track (waypoints (n, 2)) with every driver's path (T, 2) on it;
    steps with no wheel on the road (``on_road`` false) are marked with red dots."""
    if not len(tracks) or not len(tracks) == len(paths) == len(on_road):
        raise ValueError("tracks, paths and on_road need the same length > 0")
    k = len(tracks)
    with figure(3.6 * k + 0.2, 4.0) as fig:
        fig.suptitle("The paths driven on tracks never seen in training", fontsize=10)
        for i in range(k):
            ax = fig.add_subplot(1, k, i + 1)
            track = np.asarray(tracks[i], dtype=np.float64)
            ax.add_patch(_road(track, half_width))
            ax.plot(*np.vstack([track, track[:1]]).T, color="white", lw=0.5, ls="--", zorder=2)
            # the network last and on top: it mostly drives where the expert does
            names = sorted(paths[i], key=lambda n: n == "network")
            for name in names:
                xy = np.asarray(paths[i][name], dtype=np.float64)
                if not len(xy):
                    continue
                network = name == "network"
                ax.plot(
                    xy[:, 0],
                    xy[:, 1],
                    color=_color(name),
                    lw=1.1 if network else 2.4,
                    alpha=1.0 if network else 0.55,
                    label=name,
                    zorder=4 if network else 3,
                )
                off = ~np.asarray(on_road[i][name], dtype=bool)
                if off.any():
                    marks = xy[off][::5]  # every fifth off-road step: dots, not a smear
                    ax.scatter(marks[:, 0], marks[:, 1], s=2, color=RED, zorder=5, linewidths=0)
            ax.scatter([track[0, 0]], [track[0, 1]], marker="o", s=18, color=INK, zorder=6)
            # frame the track; a car that drove far off it leaves the picture at its edge
            margin = 4 * half_width
            ax.set_xlim(track[:, 0].min() - margin, track[:, 0].max() + margin)
            ax.set_ylim(track[:, 1].min() - margin, track[:, 1].max() + margin)
            ax.set_aspect("equal")
            ax.set_axis_off()
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
            if i == 0:
                ax.legend(loc="lower left", fontsize=7)
        fig.text(0.01, 0.01, "● start · red dots: off the road", fontsize=7, color=MUTED)
        save(fig, path)


def draw_drive_scores(
    drivers: Sequence[str],
    tiles_share: Sequence[Sequence[float]],
    offroad_share: Sequence[Sequence[float]],
    path: PathLike,
) -> None:
    """Per driver, the mean share of tiles visited and of steps off the road (bars), with
    each evaluation track's value as a dot."""
    if not len(drivers) or not len(drivers) == len(tiles_share) == len(offroad_share):
        raise ValueError("drivers, tiles_share and offroad_share need the same length > 0")
    with figure(7.2, 2.8) as fig:
        panels = (
            ("Track tiles visited (higher is better)", tiles_share),
            ("Steps off the road (lower is better)", offroad_share),
        )
        for j, (title, values) in enumerate(panels):
            ax = fig.add_subplot(1, 2, j + 1)
            x = np.arange(len(drivers))
            means = [100 * float(np.mean(v)) for v in values]
            ax.bar(x, means, color=[_color(d) for d in drivers], width=0.65)
            for i, v in enumerate(values):
                ax.scatter(np.full(len(v), i), 100 * np.asarray(v), s=8, color=INK, zorder=3)
                ax.text(i, means[i] + 2, f"{means[i]:.0f}%", ha="center", fontsize=7)
            ax.set_xticks(x, list(drivers))
            ax.set_ylim(0, 110)
            ax.set_ylabel("%")
            ax.set_title(title)
        fig.tight_layout()
        save(fig, path)
