"""The JSON the web API speaks: pydantic models, so /openapi.json describes it exactly.

Every error body is :class:`ErrorBody`, ``{"error": "one line"}``, whatever its status.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["saliency", "integrated-gradients"]


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong, in one line.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    runs: int = Field(description="Runs in the store.")
    default_run: str | None = Field(
        description="The run that answers requests naming none (null: no usable run yet)."
    )
    max_upload_bytes: int
    max_json_bytes: int
    method: Method = Field(description="The attribution method used unless a request asks.")


class RunSummary(BaseModel):
    id: str
    created_at: str
    status: str
    data_name: str
    model_name: str
    model: str = Field(description='Short description, e.g. "mlp [256]".')
    epochs_planned: int
    epochs_done: int
    test_accuracy: float | None
    seconds: float | None
    device: str | None
    files_present: bool = Field(description="False when the run's folder or weights are gone.")
    image_model: bool = Field(description="True when the run classifies 28×28 images.")
    text_model: bool = Field(False, description="True when the run classifies texts (--text).")
    url: str
    figures: dict[str, str] = Field(description="Figure name → URL of its PNG.")
    report: str | None = Field(description="URL of report.html, if the run has one.")


class EpochRow(BaseModel):
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


class RunDetail(RunSummary):
    updated_at: str
    error: str | None
    run_dir: str
    classes: list[str]
    config: dict[str, Any]
    info: dict[str, Any]
    metrics: list[EpochRow]


#: Sides a drawing may have (rows and columns). The page sends 56×56.
MIN_SIDE = 8
MAX_SIDE = 256


class GrayImage(BaseModel):
    """A drawing as bytes: what the page sends (a quarter of the JSON, ~0.3 ms less to read
    than the same drawing as nested arrays)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    width: int = Field(ge=MIN_SIDE, le=MAX_SIDE)
    height: int = Field(ge=MIN_SIDE, le=MAX_SIDE)
    data: str = Field(
        description=(
            "Base64 of width×height bytes, row by row: 0 black field … 255 white ink "
            "(value / 255 is the grey value)."
        ),
        max_length=4 * (MAX_SIDE * MAX_SIDE // 3 + 1),
    )


class PixelsRequest(BaseModel):
    """A drawing, white ink on black: ``pixels`` (nested arrays) or ``gray`` (bytes)."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    pixels: list[list[float]] | None = Field(
        default=None,
        description=(
            "Rows of grey values in [0, 1], ink bright on a black field; every row the same "
            "length; 8 to 256 rows and columns (28×28 works; the page sends 56×56 as "
            "`gray`). It is centred the way MNIST was made before the network sees it."
        ),
    )
    gray: GrayImage | None = Field(
        default=None, description="The same drawing as base64 bytes (instead of `pixels`)."
    )
    run: str | None = Field(default=None, description="Run id or `latest`; default the server's.")
    method: Method | None = Field(default=None, description="Attribution method.")

    @model_validator(mode="after")
    def _one_drawing(self) -> PixelsRequest:
        if (self.pixels is None) == (self.gray is None):
            raise ValueError(
                "send the drawing either as pixels (rows of grey values in [0, 1]) or as "
                "gray ({width, height, data: base64 bytes}), exactly one of them"
            )
        return self


class TopClass(BaseModel):
    class_: str = Field(alias="class")
    index: int
    probability: float


class Activation(BaseModel):
    name: str = Field(description='Layer name, e.g. "hidden 1" or "conv1".')
    shape: list[int] = Field(description="(units,), (channels, H, W) or (steps, units).")
    values: list[float] = Field(description="The layer's output, flattened in C order.")


class AttributionMap(BaseModel):
    method: Method
    target: int = Field(description="The class index explained (the prediction).")
    map: list[list[float]] = Field(
        description="28×28 attribution divided by its largest absolute value: in [-1, 1]."
    )
    scale: float = Field(description="That largest absolute value (0: a flat map).")


class PredictResponse(BaseModel):
    run: str
    class_: str = Field(alias="class")
    index: int
    probability: float
    classes: list[str]
    probabilities: list[float] = Field(description="One per class; they sum to 1.")
    top: list[TopClass]
    input: list[list[float]] = Field(description="The 28×28 image the network saw, in [0, 1].")
    activations: list[Activation] = Field(
        description=(
            "Hidden layers, input to output: every dense hidden layer; for a CNN the first "
            "convolution's feature maps and the dense head; for an RNN its states."
        )
    )
    attribution: AttributionMap
    inverted: bool = Field(description="True when dark ink on light paper was inverted.")
    notes: list[str]
    source: Literal["drawing", "upload"]
    source_size: list[int] = Field(
        description=(
            "(width, height) of the image as decoded, after any EXIF rotation: a drawing's "
            "own size; a large JPEG is decoded at a reduced size (longest side at least "
            "1024 pixels), so a 4000×3000 photo reports 2000×1500."
        )
    )
    compute_ms: float = Field(
        description=(
            "Milliseconds from the request's body being read to its answer being ready: "
            "preprocessing, waiting for its batch, forward pass and attribution."
        )
    )


# --- text runs ------------------------------------------------------------------------------

#: Longest text the page may send (characters); the model reads at most its own token budget.
MAX_TEXT_CHARS = 20_000


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS, description="The text to classify.")
    run: str | None = Field(
        None, description="A text run's id or `latest` (default: latest text run)."
    )
    method: Literal["saliency", "integrated-gradients"] = Field(
        "saliency", description="Per-token attribution (saliency: one backward pass)."
    )


class TokenScore(BaseModel):
    token: str
    attribution: float = Field(
        description="Divided by the largest absolute value among the text's own tokens "
        "([CLS]/[SEP] excluded, so theirs may lie outside [-1, 1])."
    )


class TextAttention(BaseModel):
    layers: int
    heads: int
    received: list[list[float]] = Field(
        description="Per layer and head (layer-major), the attention each token receives: "
        "the mean over the tokens of their attention to it."
    )
    per_layer: list[list[float]] = Field(description="The same, averaged over each layer's heads.")


class TextPredictResponse(BaseModel):
    run: str
    class_: str = Field(alias="class")
    index: int
    probability: float
    classes: list[str]
    probabilities: list[float]
    top: list[TopClass]
    method: Method
    tokens: list[TokenScore] = Field(description="The tokens the network read, in order.")
    attention: TextAttention | None = Field(description="A transformer's attention; else null.")
    notes: list[str] = Field(description="e.g. that the text was cut to the model's length.")
    compute_ms: float


# --- training from the page ------------------------------------------------------------------


class TrainRequest(BaseModel):
    """``threefigures train``'s options by their Python names (``batch_size``; ``batch-size``
    is read too), e.g. ``{"model": "cnn", "channels": "16,32", "epochs": 2}``. Left out:
    the CLI's defaults. The server's caps (``GET /api/train/options``) answer 422 past them."""

    model_config = ConfigDict(extra="allow")

    data: str | None = Field(None, description="digits, sklearn-digits or fashion-mnist.")
    model: str | None = Field(None, description="perceptron, mlp, cnn or rnn.")
    layers: str | list[int] | None = Field(None, description='Hidden sizes, "512,128".')
    channels: str | list[int] | None = Field(None, description='CNN channels, "16,32".')
    activation: str | None = None
    dropout: float | None = None
    augment: str | list[str] | None = Field(None, description="flip, rotate, brightness, shift.")
    optimizer: str | None = None
    lr: float | None = None
    batch_size: int | None = None
    epochs: int | None = None


class TrainStarted(BaseModel):
    run: str = Field(description="The new run's id (or the resumed run's).")
    events: str = Field(description="Its server-sent events: GET this URL.")


class TrainStopping(BaseModel):
    run: str
    stopping: bool = True


class TrainOptions(BaseModel):
    defaults: dict[str, Any] = Field(description="The form's defaults: the article's network.")
    choices: dict[str, list[str]] = Field(description="Allowed values of the choice options.")
    model_layers: dict[str, str] = Field(
        description="Each model's own default layers (the CNN's head: \"128\")."
    )
    limits: dict[str, int] = Field(description="Caps: epochs, units, layers, channels, batch.")
    active: str | None = Field(description="The run training now, if any.")
    enabled: bool
    why_disabled: str | None


class RunHistory(BaseModel):
    """Figure 2's numbers for one run, batch by batch and epoch by epoch."""

    run: str
    batch_epoch: list[float]
    batch_loss: list[float]
    epoch: list[int]
    epoch_loss: list[float]
    val_loss: list[float | None]
    val_accuracy: list[float | None]
