"""Which pixels turned the wheel: Captum's saliency on the network's steering output.

SmoothGrad (Smilkov et al. 2017) over Captum's ``Saliency``: |∂steer/∂pixel| averaged over
copies of the view with Gaussian noise added, which keeps the map's structure and drops the
pixel-to-pixel speckle a single gradient has in a small ReLU network. Both are Captum's
(``NoiseTunnel`` around ``Saliency``); nothing is re-derived here. The model stays in eval
mode and only the input gets gradients.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from threefigures.applications.driving.training import as_inputs

#: SmoothGrad's samples per view and the noise's standard deviation (pixels are in [0, 1]).
SAMPLES = 16
NOISE = 0.1


def steering_saliency(model: nn.Module, views: torch.Tensor, seed: int = 0) -> np.ndarray:
    """(K, H, W) maps ≥ 0 for uint8 views (K, H, W): SmoothGrad saliency of output 0 (steer)."""
    from captum.attr import NoiseTunnel, Saliency

    model.eval()
    torch.manual_seed(seed)  # SmoothGrad's noise
    inputs = as_inputs(views).requires_grad_(True)  # (K, 1, H, W)
    tunnel = NoiseTunnel(Saliency(model))
    maps = tunnel.attribute(
        inputs, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=NOISE, target=0, abs=True
    )
    return maps.detach().squeeze(1).cpu().numpy()  # (K, 1, H, W) → (K, H, W)
