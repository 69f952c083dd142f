"""The driving figures (figures.drive): numpy in, a PNG out, bad shapes refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from threefigures.figures.drive import (
    draw_drive_frames,
    draw_drive_paths,
    draw_drive_saliency,
    draw_drive_scores,
)


def _png(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_frames_saliency_paths_and_scores_are_drawn(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 96, 96, 3), dtype=np.uint8)
    expert, network = [-0.5, 0, 0.2, 1], [-0.4, 0.1, 0.2, 0.9]
    draw_drive_frames(frames, expert, network, [50, 75, 100, 125], tmp_path / "frames.png")
    width, height = _png(tmp_path / "frames.png")
    assert width > 2 * height  # a strip

    views = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    maps = rng.random((3, 48, 48))
    draw_drive_saliency(views, maps, [-0.3, 0, 0.3], [-0.2, 0, 0.4], tmp_path / "saliency.png")
    _png(tmp_path / "saliency.png")

    angle = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    track = 100 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    paths = {"network": track[:60] * 1.02, "random": np.zeros((0, 2))}
    on_road = {"network": np.arange(60) < 50, "random": np.zeros(0, bool)}
    draw_drive_paths([track], [paths], [on_road], 6.7, tmp_path / "paths.png", titles=["t"])
    _png(tmp_path / "paths.png")

    tiles, offroad = [[0.9, 0.8], [0.85, 0.9]], [[0.0, 0.1], [0.0, 0.0]]
    draw_drive_scores(["network", "expert"], tiles, offroad, tmp_path / "scores.png")
    _png(tmp_path / "scores.png")


def test_mismatched_inputs_are_refused(tmp_path) -> None:
    frames = np.zeros((2, 96, 96, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="same length"):
        draw_drive_frames(frames, [0.0], [0.0, 0.1], [1, 2], tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"\(K, H, W\)"):
        draw_drive_saliency(
            np.zeros((2, 48, 48)), np.zeros((2, 24, 24)), [0, 0], [0, 0], tmp_path / "s.png"
        )
    with pytest.raises(ValueError, match="same length"):
        draw_drive_scores(["a", "b"], [[0.5]], [[0.1], [0.2]], tmp_path / "x.png")
    assert not list(tmp_path.iterdir())
