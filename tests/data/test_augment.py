"""Tests for threefigures.data.augment and the augmentation preview figure (CPU, fast)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from threefigures.config import TrainConfig
from threefigures.data.augment import (
    AugmentConfig,
    affine_grid,
    affine_theta,
    augment_batch,
    augment_in_chunks,
    warp,
)
from threefigures.figures.augment import draw_augment_preview

ALL = ("flip", "rotate", "brightness", "shift")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blob(size: int = 28, sigma: float = 3.0, cy: float | None = None, cx: float | None = None):
    """A Gaussian blob (1, 1, H, W) in [0, 1], centred on the image centre by default."""
    c = (size - 1) / 2.0
    cy = c if cy is None else cy
    cx = c if cx is None else cx
    ys = torch.arange(size, dtype=torch.float32)[:, None]
    xs = torch.arange(size, dtype=torch.float32)[None, :]
    img = torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))
    return img[None, None]


def _bar(height: int = 28, width: int = 28, length: int = 14, thick: int = 2) -> torch.Tensor:
    """A centred horizontal bar (1, 1, H, W)."""
    x = torch.zeros(1, 1, height, width)
    top, left = (height - thick) // 2, (width - length) // 2
    x[..., top : top + thick, left : left + length] = 1.0
    return x


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-sample mass, centre (cy, cx) and second moments (vyy, vxx, vxy) of (B, 1, H, W)."""
    img = x[:, 0].double()
    h, w = img.shape[-2:]
    ys = torch.arange(h, dtype=torch.float64)[:, None]
    xs = torch.arange(w, dtype=torch.float64)[None, :]
    mass = img.sum(dim=(-2, -1))
    cy = (img * ys).sum(dim=(-2, -1)) / mass
    cx = (img * xs).sum(dim=(-2, -1)) / mass
    dy = ys - cy[:, None, None]
    dx = xs - cx[:, None, None]
    vyy = (img * dy**2).sum(dim=(-2, -1)) / mass
    vxx = (img * dx**2).sum(dim=(-2, -1)) / mass
    vxy = (img * dx * dy).sum(dim=(-2, -1)) / mass
    return mass, cy, cx, vyy, vxx, vxy


def _orientation_deg(x: torch.Tensor) -> torch.Tensor:
    """Main-axis angle per sample, counter-clockwise as displayed (y grows downwards)."""
    _mass, _cy, _cx, vyy, vxx, vxy = _moments(x)
    return -0.5 * torch.rad2deg(torch.atan2(2 * vxy, vxx - vyy))


# ---------------------------------------------------------------- flip


def test_flip_always_is_an_exact_mirror():
    x = torch.rand(8, 1, 28, 28, generator=_gen(1))
    out = augment_batch(x, AugmentConfig(ops=("flip",), flip_p=1.0), _gen())
    assert torch.equal(out, x.flip(-1))


def test_flip_never_leaves_the_batch_unchanged():
    x = torch.rand(8, 1, 28, 28, generator=_gen(1))
    out = augment_batch(x, AugmentConfig(ops=("flip",), flip_p=0.0), _gen())
    assert torch.equal(out, x)
    assert out is not x


def test_flip_half_of_a_large_batch_each_sample_exact():
    x = torch.rand(256, 1, 12, 12, generator=_gen(1))
    out = augment_batch(x, AugmentConfig(ops=("flip",)), _gen(3))
    same = (out == x).flatten(1).all(dim=1)
    mirrored = (out == x.flip(-1)).flatten(1).all(dim=1)
    assert bool((same ^ mirrored).all()), "every sample is either untouched or mirrored"
    assert 0.35 * 256 < int(mirrored.sum()) < 0.65 * 256


def test_flip_mirrors_all_channels_of_a_sample_together():
    x = torch.rand(64, 3, 10, 10, generator=_gen(1))
    out = augment_batch(x, AugmentConfig(ops=("flip",)), _gen(2))
    mirrored = (out == x.flip(-1)).flatten(2).all(dim=2)  # (B, C)
    same = (out == x).flatten(2).all(dim=2)
    assert bool((mirrored.all(dim=1) | same.all(dim=1)).all())


def test_flip_folded_into_the_resample_is_still_a_mirror():
    x = torch.rand(16, 1, 28, 28, generator=_gen(1))
    cfg = AugmentConfig(ops=("flip", "rotate", "shift"), flip_p=1.0, rotate_deg=0.0, shift=0.0)
    out = augment_batch(x, cfg, _gen())
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_mirror_in_theta_equals_flip_then_warp():
    x = torch.rand(8, 3, 20, 24, generator=_gen(1))
    angle = torch.rand(8, generator=_gen(2)) * 60 - 30
    shift = torch.rand(8, 2, generator=_gen(3)) * 0.2 - 0.1
    mirror = torch.arange(8) % 2 == 0
    got = warp(x, affine_theta(angle, shift, 20, 24, mirror))
    flipped = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    want = warp(flipped, affine_theta(angle, shift, 20, 24))
    assert torch.allclose(got, want, atol=1e-5)


# ---------------------------------------------------------------- rotation


def test_rotation_keeps_ink_mass():
    x = _blob().expand(64, 1, 28, 28)
    out = augment_batch(x, AugmentConfig(ops=("rotate",), rotate_deg=15.0), _gen())
    mass_in = float(x[0].sum())
    mass_out = out.sum(dim=(1, 2, 3))
    assert torch.allclose(mass_out, torch.full_like(mass_out, mass_in), rtol=0.03)


def test_rotation_turns_a_horizontal_bar_within_the_range():
    x = _bar().expand(64, 1, 28, 28)
    assert float(_orientation_deg(x).abs().max()) < 1e-6
    out = augment_batch(x, AugmentConfig(ops=("rotate",), rotate_deg=15.0), _gen())
    angles = _orientation_deg(out)
    assert float(angles.abs().max()) > 8.0, "the bar should no longer be horizontal"
    assert float(angles.abs().max()) < 15.0 + 1.5
    assert float(angles.std()) > 4.0, "angles are drawn per sample"


@pytest.mark.parametrize("size", [(5, 1, 28, 28), (3, 3, 20, 40), (2, 1, 7, 5)])
def test_affine_grid_matches_torch(size):
    n, _c, h, w = size
    angle = torch.rand(n, generator=_gen(1)) * 360 - 180
    shift = torch.rand(n, 2, generator=_gen(2)) - 0.5
    theta = affine_theta(angle, shift, h, w)
    want = torch.nn.functional.affine_grid(theta, list(size), align_corners=False)
    got = affine_grid(theta, size)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("angle", [30.0, -30.0])
def test_rotation_angle_sign_is_counter_clockwise(angle):
    x = _bar(length=16)
    theta = affine_theta(torch.tensor([angle]), torch.zeros(1, 2), 28, 28)
    measured = float(_orientation_deg(warp(x, theta))[0])
    assert measured == pytest.approx(angle, abs=1.5)


def test_rotation_by_90_matches_rot90():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 6:22, 10:14] = 1.0  # a vertical stroke...
    x[..., 6:10, 14:22] = 0.6  # ...with a foot to the right at the top: no symmetry
    x[..., 15, 5:10] = 0.3
    theta = affine_theta(torch.tensor([90.0]), torch.zeros(1, 2), 28, 28)
    out = warp(x, theta)
    want = torch.rot90(x, 1, dims=(-2, -1))  # counter-clockwise as displayed
    assert torch.allclose(out[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], atol=1e-3)
    assert not torch.allclose(out, torch.rot90(x, -1, dims=(-2, -1)), atol=0.1)


def test_rotation_is_a_true_rotation_on_non_square_images():
    x = _bar(height=20, width=40, length=12)
    theta = affine_theta(torch.tensor([90.0]), torch.zeros(1, 2), 20, 40)
    out = warp(x, theta)
    _m, _cy, _cx, vyy, vxx, _vxy = _moments(out)
    _m0, _cy0, _cx0, vyy0, vxx0, _vxy0 = _moments(x)
    # a 90° turn swaps the spreads along x and y, in pixel units
    assert float(vyy[0]) == pytest.approx(float(vxx0[0]), rel=0.05)
    assert float(vxx[0]) == pytest.approx(float(vyy0[0]), rel=0.1)


# ---------------------------------------------------------------- brightness


def test_brightness_stays_in_range_and_factor_within_bounds():
    b = 0.2
    x = torch.full((128, 1, 8, 8), 0.5)
    out = augment_batch(x, AugmentConfig(ops=("brightness",), brightness=b), _gen())
    factor = out / 0.5
    assert float(factor.min()) >= 1 - b - 1e-6
    assert float(factor.max()) <= 1 + b + 1e-6
    per_sample = factor.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample)), "one factor each"
    assert float(per_sample[:, 0].std()) > 0.05, "factors differ across the batch"

    bright = torch.rand(128, 3, 8, 8, generator=_gen(5))
    out = augment_batch(bright, AugmentConfig(ops=("brightness",), brightness=1.0), _gen())
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0
    assert float(out.max()) == 1.0, "factors above 1 clamp bright pixels"


# ---------------------------------------------------------------- shift


def test_shift_moves_centre_of_mass_within_bound():
    size, s = 28, 0.1
    x = _blob(size, sigma=2.0).expand(64, 1, size, size)
    out = augment_batch(x, AugmentConfig(ops=("shift",), shift=s), _gen())
    _m0, cy0, cx0, *_ = _moments(x)
    _m, cy, cx, *_ = _moments(out)
    dy, dx = (cy - cy0).abs(), (cx - cx0).abs()
    assert float(dy.max()) <= s * size + 0.05
    assert float(dx.max()) <= s * size + 0.05
    assert float(torch.maximum(dx, dy).max()) > 1.0, "at least one sample moves"
    assert float(dx.std()) > 0.3 and float(dy.std()) > 0.3, "shifts are drawn per sample, per axis"


def test_shift_and_rotation_combined_in_one_resample():
    x = _blob(sigma=2.0).expand(32, 1, 28, 28)
    out = augment_batch(x, AugmentConfig(ops=("rotate", "shift")), _gen())
    mass0 = float(x[0].sum())
    mass, cy, cx, *_ = _moments(out)
    assert torch.allclose(mass, torch.full_like(mass, mass0), rtol=0.03)
    assert float((cx - 13.5).abs().max()) <= 2.8 + 0.05
    assert float((cy - 13.5).abs().max()) <= 2.8 + 0.05


# ---------------------------------------------------------------- batch-level properties


@pytest.mark.parametrize("op", ALL)
def test_parameters_are_drawn_per_sample(op):
    x = (_blob(sigma=3.0, cy=10.0, cx=8.0) * 0.8).expand(32, 1, 28, 28)  # off-centre: asymmetric
    out = augment_batch(x, AugmentConfig(ops=(op,)), _gen())
    distinct = {tuple(row.tolist()) for row in out.flatten(1).round(decimals=5)}
    assert len(distinct) > 1, f"{op}: every sample got the same parameters"


def test_seeded_generator_is_deterministic_and_seeds_differ():
    x = torch.rand(16, 1, 28, 28, generator=_gen(9))
    cfg = AugmentConfig(ops=ALL)
    a = augment_batch(x, cfg, _gen(1))
    b = augment_batch(x, cfg, _gen(1))
    c = augment_batch(x, cfg, _gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_global_rng_when_no_generator():
    x = torch.rand(16, 1, 28, 28, generator=_gen(9))
    cfg = AugmentConfig(ops=ALL)
    torch.manual_seed(4)
    a = augment_batch(x, cfg)
    torch.manual_seed(4)
    b = augment_batch(x, cfg)
    assert torch.equal(a, b)


def test_input_is_not_modified():
    x = torch.rand(16, 1, 28, 28, generator=_gen(9))
    before = x.clone()
    for ops in [ALL, ("flip",), ("brightness",), ("rotate",), ()]:
        augment_batch(x, AugmentConfig(ops=ops), _gen())
    assert torch.equal(x, before)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_device_preserved(channels, dtype):
    x = torch.rand(5, channels, 20, 24, generator=_gen(9)).to(dtype)
    out = augment_batch(x, AugmentConfig(ops=ALL), _gen())
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert out.device == x.device
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_views_and_non_contiguous_batches():
    big = torch.rand(64, 1, 28, 28, generator=_gen(9))
    view = big[10:42]  # a slice, as training.py takes its batches
    out = augment_batch(view, AugmentConfig(ops=ALL), _gen())
    assert out.shape == view.shape
    transposed = big.transpose(-1, -2)
    out = augment_batch(transposed, AugmentConfig(ops=("flip",), flip_p=1.0), _gen())
    assert torch.equal(out, transposed.flip(-1))


def test_empty_ops_and_empty_batch_return_an_equal_copy():
    x = torch.rand(4, 1, 8, 8, generator=_gen(9))
    out = augment_batch(x, AugmentConfig(ops=()), _gen())
    assert torch.equal(out, x) and out is not x
    out[0, 0, 0, 0] = 5.0
    assert float(x[0, 0, 0, 0]) != 5.0
    empty = torch.zeros(0, 1, 8, 8)
    assert augment_batch(empty, AugmentConfig(ops=ALL), _gen()).shape == empty.shape


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        augment_batch(torch.rand(8, 8), AugmentConfig(ops=ALL))
    with pytest.raises(ValueError, match="float"):
        augment_batch(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), AugmentConfig(ops=ALL))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_with_cpu_generator():
    x = torch.rand(32, 1, 28, 28, generator=_gen(9))
    cfg = AugmentConfig(ops=ALL)
    on_gpu = augment_batch(x.cuda(), cfg, _gen(1))
    assert on_gpu.device.type == "cuda"
    on_cpu = augment_batch(x, cfg, _gen(1))
    assert torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-4)
    assert augment_batch(x.cuda(), cfg).device.type == "cuda"


# ---------------------------------------------------------------- config and parsing


def test_augment_config_validation_and_helpers():
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentConfig(ops=("zoom",))
    with pytest.raises(ValueError, match="flip_p"):
        AugmentConfig(ops=("flip",), flip_p=1.5)
    with pytest.raises(ValueError, match="rotate_deg"):
        AugmentConfig(ops=("rotate",), rotate_deg=math.nan)
    train = TrainConfig(augment=("flip", "shift"), rotate_deg=10.0, brightness=0.3, shift=0.05)
    cfg = AugmentConfig.from_train_config(train)
    assert cfg == AugmentConfig(ops=("flip", "shift"), rotate_deg=10.0, brightness=0.3, shift=0.05)
    assert cfg.enabled and not AugmentConfig(ops=()).enabled
    assert cfg.describe() == "flip p=0.5 · shift ±5%"
    assert AugmentConfig(ops=()).describe() == "no augmentation"


# ---------------------------------------------------------------- preview figure


def test_draw_augment_preview_writes_a_png(tmp_path: Path):
    x = torch.zeros(6, 1, 28, 28)
    for i in range(6):
        x[i, 0, 6 + i : 22, 8 : 12 + i] = 1.0
    cfg = AugmentConfig(ops=ALL)
    gen = _gen()
    copies = torch.stack([augment_batch(x, cfg, gen)[:, 0] for _ in range(3)])
    path = draw_augment_preview(
        x[:, 0].numpy(), copies.numpy(), tmp_path / "aug" / "preview.png", ops_label=cfg.describe()
    )
    assert path == tmp_path / "aug" / "preview.png"
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert 500 <= width <= 2000 and 500 <= height <= 2000
    assert height > width * 0.5
    assert pixels.std() > 5.0, "looks blank"
    assert pixels.mean() > 128, "dark ink on white"
    assert not list(path.parent.glob(".*.tmp")), "no stray temporary files"


def test_draw_augment_preview_rejects_bad_shapes(tmp_path: Path):
    orig = np.zeros((4, 28, 28))
    with pytest.raises(ValueError, match=r"\(K, N, H, W\)"):
        draw_augment_preview(orig, np.zeros((2, 3, 28, 28)), tmp_path / "a.png", ops_label="x")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        draw_augment_preview(
            np.zeros((28, 28)), np.zeros((1, 28, 28)), tmp_path / "b.png", ops_label="x"
        )
    with pytest.raises(ValueError, match="no images"):
        draw_augment_preview(orig, np.zeros((0, 4, 28, 28)), tmp_path / "c.png", ops_label="x")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        draw_augment_preview(orig + 2, np.zeros((1, 4, 28, 28)), tmp_path / "d.png", ops_label="x")
    assert not list(tmp_path.iterdir())


def test_augment_in_chunks_is_augment_batch_chunk_by_chunk() -> None:
    x = _blob().repeat(10, 1, 1, 1)  # (10, 1, 28, 28): identical images
    cfg = AugmentConfig(ops=("flip", "rotate", "brightness", "shift"))
    got = augment_in_chunks(x, cfg, chunk=4, generator=_gen(5))
    gen = _gen(5)
    want = torch.cat([augment_batch(x[lo : lo + 4], cfg, gen) for lo in (0, 4, 8)])
    assert torch.equal(got, want)
    assert torch.equal(x, _blob().repeat(10, 1, 1, 1))  # the input is left alone
    # every image got its own parameters, across chunk boundaries too
    flat = got.reshape(10, -1)
    assert all(not torch.equal(flat[i], flat[j]) for i in range(10) for j in range(i))


def test_augment_in_chunks_in_place() -> None:
    x = _blob().repeat(6, 1, 1, 1)
    cfg = AugmentConfig(ops=("rotate", "brightness"))
    want = augment_in_chunks(x, cfg, chunk=4, generator=_gen(1))
    same = augment_in_chunks(x, cfg, chunk=4, out=x, generator=_gen(1))
    assert same is x and torch.equal(x, want)
    with pytest.raises(ValueError, match="chunk"):
        augment_in_chunks(x, cfg, chunk=0)
    with pytest.raises(ValueError, match="shape"):
        augment_in_chunks(x, cfg, out=x[:3])
