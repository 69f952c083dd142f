"""Batched data augmentation on the device: flip, rotate, brightness and shift.

:func:`augment_batch` takes a float batch ``(B, C, H, W)`` in [0, 1] — the slices that
:func:`threefigures.training.fit` feeds the model — and returns an augmented copy. Every
random parameter is drawn *per sample* as a ``(B,)`` tensor, and everything is done with
whole-batch tensor ops: no Python loop over samples, and nothing comes back from the
device (with a seeded CPU generator, the (B, 5) draw goes to it once per batch).

Why not ``torchvision.transforms.v2``: given a batched tensor, its random transforms
(``RandomRotation``, ``RandomAffine``, ``ColorJitter``, ``RandomHorizontalFlip``) draw ONE
parameter set and apply it to the whole batch, so every image in a batch is rotated by
the same angle, shifted by the same amount and flipped or not together. Per-sample
parameters would need a per-sample Python loop (or a DataLoader with per-sample
transforms), which is exactly the per-step overhead ``training.py`` avoids.

Rotation and shift are combined into one affine matrix per sample and applied with a
single sampling grid + ``grid_sample`` (bilinear, zero padding: 0 is "no ink", so what
moves in from outside the image is empty background). When that resample runs anyway the
flip joins the same matrix; without rotate or shift the resample is skipped entirely and a
flip is ``torch.where`` over an exact mirror. The sampling grid is the one
``F.affine_grid(theta, x.shape, align_corners=False)`` gives, built with broadcast
arithmetic because ``F.affine_grid`` is slow on the CPU (see :func:`affine_grid`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from threefigures.config import AUGMENTATIONS, TrainConfig, unknown_augmentation

__all__ = [
    "AUGMENTATIONS",
    "AugmentConfig",
    "affine_grid",
    "affine_theta",
    "augment_batch",
    "augment_in_chunks",
    "warp",
]

# Columns of the one uniform draw per call: the same seed gives the same parameter for an
# op whichever other ops are on, and a call always consumes the same amount of randomness.
_FLIP, _ANGLE, _BRIGHT, _SHIFT_X, _SHIFT_Y = range(5)
_N_DRAWS = 5


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply and how strong they are.

    Strengths are ranges, drawn uniformly and independently for every sample:
    ``rotate_deg`` the angle in ±degrees (positive is counter-clockwise as displayed),
    ``brightness`` the factor 1 ± b (the result is clamped to [0, 1]), ``shift`` the
    translation in ± fractions of the image size along each axis, and ``flip_p`` the
    probability of a horizontal mirror.
    """

    ops: tuple[str, ...]  # subset of ("flip", "rotate", "brightness", "shift")
    # the defaults are TrainConfig's (one copy of each strength)
    rotate_deg: float = TrainConfig.rotate_deg  # angle ~ U(-deg, +deg) per sample
    brightness: float = TrainConfig.brightness  # factor ~ U(1-b, 1+b), clamped to [0, 1]
    shift: float = TrainConfig.shift  # translation ~ U(-s, +s) × image size, per axis
    flip_p: float = 0.5  # horizontal flip probability per sample

    def __post_init__(self) -> None:
        unknown = unknown_augmentation(self.ops)
        if unknown:
            raise ValueError(unknown)
        checks = (
            ("rotate_deg", self.rotate_deg, 0.0, 180.0),
            ("brightness", self.brightness, 0.0, 1.0),
            ("shift", self.shift, 0.0, 0.5),
            ("flip_p", self.flip_p, 0.0, 1.0),
        )
        for name, value, lo, hi in checks:
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value}")

    @classmethod
    def from_train_config(cls, config: TrainConfig) -> AugmentConfig:
        """The augmentation a :class:`~threefigures.config.TrainConfig` asks for."""
        return cls(
            ops=tuple(config.augment),
            rotate_deg=config.rotate_deg,
            brightness=config.brightness,
            shift=config.shift,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.ops)

    def describe(self) -> str:
        """A short human label, e.g. ``"flip p=0.5 · rotate ±15° · shift ±10%"``."""
        parts = []
        for op in AUGMENTATIONS:  # canonical order, the order they are applied in
            if op not in self.ops:
                continue
            if op == "flip":
                parts.append(f"flip p={self.flip_p:g}")
            elif op == "rotate":
                parts.append(f"rotate ±{self.rotate_deg:g}°")
            elif op == "brightness":
                parts.append(f"brightness ×{1 - self.brightness:g}–{1 + self.brightness:g}")
            else:
                parts.append(f"shift ±{100 * self.shift:g}%")
        return " · ".join(parts) if parts else "no augmentation"


def affine_theta(
    angle_deg: torch.Tensor,
    shift: torch.Tensor,
    height: int,
    width: int,
    mirror: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample ``(B, 2, 3)`` matrices for :func:`torch.nn.functional.affine_grid`.

    Args:
        angle_deg: ``(B,)`` rotation angles in degrees, positive is counter-clockwise as the
            image is displayed (row 0 at the top), about the image centre.
        shift: ``(B, 2)`` translations ``(dx, dy)`` in fractions of the image width and
            height; positive moves the content right and down.
        height, width: The image size; the rotation is done in pixel units, so it is a
            true rotation also for non-square images.
        mirror: Optional ``(B,)`` bool: mirror these samples horizontally first.

    ``affine_grid`` maps each *output* location to the *input* location it samples, so the
    matrix is the inverse of "(mirror,) rotate, then translate": ``q = M R⁻¹ (p - t)``,
    written in the normalised [-1, 1] coordinates that ``affine_grid`` uses. Sampling the
    mirror image at ``q`` is sampling the image at ``(-q_x, q_y)``: ``M`` negates row 0.
    """
    rad = angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    aspect = height / width  # pixel → normalised units: x scales by 2/W, y by 2/H
    cos_x, sin_x = cos, -aspect * sin  # row 0, the x coordinate sampled
    if mirror is not None:
        sign = 1.0 - 2.0 * mirror.to(cos.dtype)  # -1 where mirrored
        cos_x, sin_x = cos_x * sign, sin_x * sign
    inv = torch.stack((cos_x, sin_x, sin / aspect, cos), dim=-1).view(-1, 2, 2)
    t = (2.0 * shift).to(inv.dtype).unsqueeze(-1)  # (B, 2, 1): the image spans 2 units
    return torch.cat((inv, -(inv @ t)), dim=-1)  # (B, 2, 3)


def affine_grid(theta: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``F.affine_grid(theta, size, align_corners=False)`` for 4-D ``size``, computed with
    broadcast multiply-adds.

    The same sampling grid (B, H, W, 2) — the tests check it against ``F.affine_grid`` —
    but several times faster on the CPU for MNIST-sized batches: there ``F.affine_grid``
    does a batched matrix product with an inner size of 3 (``(B, H·W, 3) @ (B, 3, 2)``),
    which alone cost about half a training step of the Figure 1 MLP and pushed augmentation
    past its overhead budget (see ``benchmarks/bench_augment.py``). Here the x and y parts
    are small (B, 2, 1, W) and (B, 2, H, 1) tensors and one broadcast add makes the grid.
    """
    _n, _c, height, width = size
    # pixel centres in normalised coordinates, as align_corners=False places them
    xs = (torch.arange(width, device=theta.device, dtype=theta.dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=theta.device, dtype=theta.dtype) * 2 + 1) / height - 1
    t = theta[..., None, None]  # (B, 2, 3, 1, 1): row k of theta gives coordinate k
    along_x = t[:, :, 0] * xs  # (B, 2, 1, W)
    along_y = torch.addcmul(t[:, :, 2], t[:, :, 1], ys[:, None])  # (B, 2, H, 1)
    # One broadcast add with the W axis innermost (an innermost axis of 2 would be several
    # times slower), then a view as (B, H, W, 2): the (x, y) each output pixel samples.
    return (along_x + along_y).permute(0, 2, 3, 1)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` (B, C, H, W) with per-sample affine ``theta`` (B, 2, 3): bilinear, zeros
    outside the image, ``align_corners=False`` (the conventions of ``F.affine_grid``)."""
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = affine_grid(theta, x.shape)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_batch(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Return an augmented copy of the float batch ``x`` (B, C, H, W) in [0, 1].

    Applied in this order, each with its own per-sample parameters: horizontal flip,
    rotation and shift (one resample, the flip joining it when it runs), brightness, then a
    clamp to [0, 1]. ``x`` is never modified; the result has its shape, dtype and device.

    Args:
        x: The batch, on any device.
        cfg: Which ops and how strong.
        generator: A seeded CPU generator for reproducible draws (they are made on the CPU
            and moved to ``x``'s device); ``None`` draws from the global RNG of ``x``'s device.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch needs a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"augment_batch needs a float batch in [0, 1], got dtype {x.dtype}")
    ops = set(cfg.ops)
    n = x.shape[0]
    if not ops or n == 0:
        return x.clone()

    # One (B, 5) uniform draw in float32 for every parameter of every sample.
    if generator is None:
        u = torch.rand(n, _N_DRAWS, device=x.device)
    else:
        u = torch.rand(n, _N_DRAWS, generator=generator, device=generator.device)
        u = u.to(x.device, non_blocking=True)

    # Every parameter in one op: (u - 0.5) × 2·strength is U(-strength, +strength), and a
    # strength of 0 for an op that is off. Column _FLIP stays unused: flips compare u itself.
    spans = [
        0.0,
        cfg.rotate_deg if "rotate" in ops else 0.0,
        cfg.brightness if "brightness" in ops else 0.0,
        cfg.shift if "shift" in ops else 0.0,
        cfg.shift if "shift" in ops else 0.0,
    ]
    params = (u - 0.5) * torch.tensor(spans, device=u.device).mul_(2.0)  # (B, 5)

    flip = "flip" in ops and cfg.flip_p > 0
    mirror = u[:, _FLIP] < cfg.flip_p if flip else None  # (B,) bool
    out = x
    if "rotate" in ops or "shift" in ops:
        # Mirror, rotation and shift as one matrix per sample: one resample for all three.
        theta = affine_theta(
            params[:, _ANGLE], params[:, _SHIFT_X:], x.shape[-2], x.shape[-1], mirror
        )
        out = warp(x, theta)
    elif mirror is not None:
        out = torch.where(mirror[:, None, None, None], x.flip(-1), x)  # exact, no resample

    if "brightness" in ops:
        factor = (1.0 + params[:, _BRIGHT]).to(x.dtype)[:, None, None, None]
        # in place only on a tensor made here, never on x
        out = out.mul_(factor) if out is not x else out * factor
        out = out.clamp_(0.0, 1.0)

    return out if out is not x else x.clone()


#: Images augmented per call by :func:`augment_in_chunks`: large enough that the per-call
#: overhead is spread thin, small enough that the temporaries stay in cache-sized blocks.
AUGMENT_CHUNK = 4096


def augment_in_chunks(
    x: torch.Tensor,
    cfg: AugmentConfig,
    *,
    chunk: int = AUGMENT_CHUNK,
    out: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`augment_batch` over ``x`` (N, C, H, W), ``chunk`` images per call, into ``out``
    (a new tensor when None; ``out`` may be ``x`` itself to augment it in place).

    :func:`threefigures.training.fit` augments each epoch's shuffled copy of the training
    set this way before slicing batches from it, rather than each batch of 128 as it is
    used: the same per-sample random parameters, drawn in fewer, larger calls. On the
    2-core CPU that took augmentation's share of a Figure 1 MLP epoch from ~66% to ~40%
    (``benchmarks/bench_augment.py``).
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    target = torch.empty_like(x) if out is None else out
    if target.shape != x.shape:
        raise ValueError(f"out has shape {tuple(target.shape)}, x has {tuple(x.shape)}")
    for lo in range(0, x.shape[0], chunk):
        target[lo : lo + chunk] = augment_batch(x[lo : lo + chunk], cfg, generator)
    return target
