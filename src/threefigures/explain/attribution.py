"""Which parts of the input made the network answer as it did: attribution with Captum.

Four methods, all computed by Captum (nothing here re-derives them):

- ``saliency``: |∂score/∂pixel| (Simonyan et al. 2013), one backward pass;
- ``integrated-gradients``: the path integral of gradients from a black image (or, for names,
  from all-padding) to the input (Sundararajan et al. 2017); its attributions add up to
  score(input) − score(baseline), and Captum reports how far off that sum is (``delta``);
- ``gradcam``: the last (or a chosen) convolution's maps weighted by their mean gradient,
  ReLU'd and upsampled to the input (Selvaraju et al. 2017) — convolutional networks only;
- ``occlusion``: how much the score drops when a 4×4 patch (or one character) is blanked.

Images give one map per input (B, H, W); names give one score per character (B, T), zero on
padding. For names, gradients are taken at the embedding layer and summed over its width
(``saliency`` is then gradient × embedding, ``integrated-gradients`` the layer integrated
gradients from the padding embedding, which is zero).

Recurrent networks: cuDNN only implements the RNN backward pass in training mode (captum
issues #328 and #564). Switching the model to training mode would switch dropout on and
change the answer being explained, so instead cuDNN is disabled for the duration of the
attribution and PyTorch's own RNN kernels, which have an eval-mode backward, run. The model
stays in eval mode throughout and its outputs are unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from threefigures.errors import ThreeFiguresError

METHODS = ("saliency", "integrated-gradients", "gradcam", "occlusion")

#: Occlusion patch and stride for images (pixels), a trade-off of detail against passes.
OCCLUSION_WINDOW = 4
OCCLUSION_STRIDE = 2


class ExplainError(ThreeFiguresError):
    """An attribution that cannot be made (wrong method for the model, bad target)."""


@dataclass
class Attribution:
    """Attribution maps for a batch.

    ``maps``: (B, H, W) for images (channels summed), (B, T) for token sequences (zero on
    padding). ``targets``: the class explained per example (the prediction unless asked).
    ``probabilities``: (B, classes) the model's own probabilities (a single sigmoid output
    appears as two classes [not, yes]). ``delta``: integrated gradients' completeness error
    per example (sum of attributions minus the score difference), else ``None``.
    """

    method: str
    maps: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray
    delta: np.ndarray | None = None


class ClassScores(nn.Module):
    """The model seen as "input → one score per class (B, K ≥ 2)", the form Captum wants.

    - A single sigmoid output z (BCE) becomes [−z/2, z/2]: its softmax is exactly
      [1 − σ(z), σ(z)], so class 0 ("not") can be explained too.
    - A next-character model (B, T, V) is read at each sequence's last real step: the
      prediction of the character that follows the input.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        config = getattr(model, "config", None)
        self.sequence_output = bool(getattr(config, "sequence_output", False))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out = self.model(x) if lengths is None else self.model(x, lengths)
        return self.from_outputs(out, lengths)

    def from_outputs(self, out: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The class scores (B, K) for the model's own outputs ``out``."""
        if self.sequence_output:  # (B, T, V): the step after the last real character
            last = (
                torch.full((out.shape[0],), out.shape[1] - 1, device=out.device)
                if lengths is None
                else lengths.to(out.device).long() - 1
            )
            out = out[torch.arange(out.shape[0], device=out.device), last]  # (B, V)
        if out.shape[-1] == 1:
            out = torch.cat([-out / 2, out / 2], dim=-1)  # (B, 2)
        return out


def is_token_model(model: nn.Module) -> bool:
    from threefigures.models import Network

    return isinstance(model, Network) and model.reads_tokens


def has_rnn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.RNNBase) for m in model.modules())


@contextlib.contextmanager
def rnn_backward_in_eval(model: nn.Module) -> Iterator[None]:
    """Let gradients flow through a recurrent layer in eval mode, on CPU and CUDA alike.

    cuDNN's RNN has no eval-mode backward; PyTorch's native kernels do. Disable cuDNN for
    the block when the model holds an RNN (a no-op on the CPU, where cuDNN is not used).
    """
    if has_rnn(model):
        with torch.backends.cudnn.flags(enabled=False):
            yield
    else:
        yield


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The model's convolutions by block name ("conv1", "conv2", …)."""
    from threefigures.models import Network

    return model.conv_layers() if isinstance(model, Network) else {}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    method: str = "saliency",
    target: int | None = None,
    lengths: torch.Tensor | None = None,
    layer: str | None = None,
    steps: int = 32,
    outputs: torch.Tensor | None = None,
) -> Attribution:
    """Attribute the model's class score to its input.

    ``inputs``: images (B, C, H, W) as floats in [0, 1] (uint8 (B, H, W) is accepted and
    scaled), or token ids (B, T) with ``lengths`` (B,). ``target``: the class to explain
    for every example; default each example's own prediction. ``layer``: Grad-CAM's
    convolution ("conv1", …; default the last). ``steps``: integrated gradients' steps.
    The model is put in eval mode and left there; no parameter gradient is touched.
    ``outputs``: the model's outputs for these inputs in eval mode when the caller already
    has them (e.g. :func:`~threefigures.explain.internals.layer_activations`' "output"): they
    choose the targets and give the probabilities, saving a forward pass.
    """
    if method not in METHODS:
        raise ExplainError(f"unknown attribution method {method!r}; choose one of {METHODS}")
    model.eval()
    device = _device(model)
    tokens = is_token_model(model)
    x = prepare_inputs(inputs, tokens, device)
    if lengths is not None:
        lengths = lengths.to(device=device, dtype=torch.int64)
    scores = ClassScores(model).eval()
    with torch.no_grad():
        if outputs is None:
            logits = scores(x, lengths)  # (B, K)
        else:
            logits = scores.from_outputs(outputs.to(device), lengths)  # (B, K)
    classes = logits.shape[-1]
    probabilities = torch.softmax(logits.float(), dim=-1)
    if target is None:
        targets = probabilities.argmax(dim=-1)
    else:
        if not 0 <= target < classes:
            raise ExplainError(f"target class {target} is out of range: 0 to {classes - 1}")
        targets = torch.full((x.shape[0],), target, dtype=torch.int64, device=device)
    extra = None if lengths is None else (lengths,)
    delta: torch.Tensor | None = None
    with rnn_backward_in_eval(model):
        if tokens:
            attr, delta = _attribute_tokens(model, scores, x, targets, extra, method, steps)
            maps = attr  # (B, T)
            if lengths is not None:
                steps_idx = torch.arange(maps.shape[1], device=maps.device)
                maps = maps.masked_fill(steps_idx[None, :] >= lengths[:, None], 0.0)
        else:
            attr, delta = _attribute_images(model, scores, x, targets, method, steps, layer)
            maps = attr.sum(dim=1)  # (B, C, H, W) → (B, H, W)
    return Attribution(
        method=method,
        maps=maps.detach().float().cpu().numpy(),
        targets=targets.cpu().numpy(),
        probabilities=probabilities.cpu().numpy(),
        delta=None if delta is None else delta.detach().float().cpu().numpy().reshape(-1),
    )


def prepare_inputs(inputs: torch.Tensor, tokens: bool, device: torch.device) -> torch.Tensor:
    if tokens:
        if inputs.dim() != 2 or inputs.is_floating_point():
            raise ExplainError(f"token input must be (B, T) integer ids, got {inputs.shape}")
        return inputs.to(device=device, dtype=torch.int64)
    if inputs.dtype == torch.uint8:
        inputs = inputs.float().div(255.0)
    if inputs.dim() == 3:
        inputs = inputs.unsqueeze(1)  # (B, H, W) → (B, 1, H, W)
    if inputs.dim() != 4:
        raise ExplainError(f"image input must be (B, C, H, W), got {tuple(inputs.shape)}")
    if not torch.isfinite(inputs).all():
        raise ExplainError("image input holds NaN or infinite values")
    return inputs.to(device=device, dtype=torch.float32)


def _attribute_images(
    model: nn.Module,
    scores: ClassScores,
    x: torch.Tensor,
    targets: torch.Tensor,
    method: str,
    steps: int,
    layer: str | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    from captum.attr import (
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        Occlusion,
        Saliency,
    )

    if method == "saliency":
        x = x.clone().requires_grad_(True)  # Captum would set it itself, with a warning
        return Saliency(scores).attribute(x, target=targets, abs=True), None
    if method == "integrated-gradients":
        attr, delta = IntegratedGradients(scores).attribute(
            x,
            baselines=torch.zeros_like(x),  # a blank (black) image: no ink at all
            target=targets,
            n_steps=steps,
            return_convergence_delta=True,
        )
        return attr, delta
    if method == "occlusion":
        channels = x.shape[1]
        attr = Occlusion(scores).attribute(
            x,
            sliding_window_shapes=(channels, OCCLUSION_WINDOW, OCCLUSION_WINDOW),
            strides=(channels, OCCLUSION_STRIDE, OCCLUSION_STRIDE),
            baselines=0.0,
            target=targets,
            perturbations_per_eval=64,
        )
        return attr, None
    # gradcam
    convs = conv_layers(model)
    if not convs:
        raise ExplainError(
            "gradcam needs a convolutional network (--model cnn); use saliency, "
            "integrated-gradients or occlusion for this model"
        )
    name = layer or list(convs)[-1]
    if name not in convs:
        raise ExplainError(f"no convolution named {name!r}; this model has {', '.join(convs)}")
    cam = LayerGradCam(scores, convs[name]).attribute(x, target=targets, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return cam, None  # (B, 1, H, W)


def _attribute_tokens(
    model: nn.Module,
    scores: ClassScores,
    x: torch.Tensor,
    targets: torch.Tensor,
    extra: tuple[torch.Tensor, ...] | None,
    method: str,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    from captum.attr import FeatureAblation, LayerGradientXActivation, LayerIntegratedGradients

    from threefigures.models import Network

    embedding = model.token_embedding() if isinstance(model, Network) else None
    if embedding is None:
        raise ExplainError(f"{type(model).__name__} has no token embedding to attribute to")
    if method == "gradcam":
        raise ExplainError(
            "gradcam needs convolutional feature maps; for names use saliency, "
            "integrated-gradients or occlusion"
        )
    if method == "saliency":
        attr = LayerGradientXActivation(scores, embedding).attribute(
            x, target=targets, additional_forward_args=extra
        )
        return attr.sum(dim=-1), None  # (B, T, E) → (B, T)
    if method == "integrated-gradients":
        attr, delta = LayerIntegratedGradients(scores, embedding).attribute(
            x,
            baselines=torch.zeros_like(x),  # all padding: the zero embedding
            target=targets,
            additional_forward_args=extra,
            n_steps=steps,
            return_convergence_delta=True,
        )
        return attr.sum(dim=-1), delta  # (B, T, E) → (B, T)
    # occlusion: blank one character at a time (replace it by padding, the zero embedding)
    attr = FeatureAblation(scores).attribute(
        x, baselines=0, target=targets, additional_forward_args=extra, perturbations_per_eval=16
    )
    return attr.float(), None


def attribute_features(
    model: nn.Module,
    rows: torch.Tensor,
    *,
    target: int | None = None,
    steps: int = 64,
) -> Attribution:
    """Integrated gradients over a table's features: (B, F) standardised rows → (B, F).

    The baseline is the all-zero row, which after standardisation is the average training
    case, so each attribution says how far that feature moved the class score away from
    the average case's; they add up to score(row) − score(average case) (Captum's ``delta``
    is how far off that sum is).
    """
    from captum.attr import IntegratedGradients

    if rows.dim() != 2 or not rows.is_floating_point():
        raise ExplainError(f"feature rows must be (B, F) floats, got {tuple(rows.shape)}")
    if not torch.isfinite(rows).all():
        raise ExplainError("feature rows hold NaN or infinite values")
    model.eval()
    device = _device(model)
    x = rows.to(device=device, dtype=torch.float32)
    scores = ClassScores(model).eval()
    with torch.no_grad():
        probabilities = torch.softmax(scores(x).float(), dim=-1)  # (B, K)
    if target is None:
        targets = probabilities.argmax(dim=-1)
    else:
        if not 0 <= target < probabilities.shape[1]:
            raise ExplainError(
                f"target class {target} is out of range: 0 to {probabilities.shape[1] - 1}"
            )
        targets = torch.full((x.shape[0],), target, dtype=torch.int64, device=device)
    attr, delta = IntegratedGradients(scores).attribute(
        x,
        baselines=torch.zeros_like(x),
        target=targets,
        n_steps=steps,
        return_convergence_delta=True,
    )
    return Attribution(
        method="integrated-gradients",
        maps=attr.detach().float().cpu().numpy(),
        targets=targets.cpu().numpy(),
        probabilities=probabilities.cpu().numpy(),
        delta=delta.detach().float().cpu().numpy().reshape(-1),
    )
