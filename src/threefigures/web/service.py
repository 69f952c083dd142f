"""What the web routes do, without FastAPI: list runs, find their files, answer drawings.

Routes in :mod:`threefigures.web.app` only parse HTTP and call this. Errors are
:class:`threefigures.errors.ThreeFiguresError` kinds (the app maps each kind to a status)
or :class:`WebError`, which carries its own status.

Loaded models are kept in a small LRU keyed by run id and the weights file's mtime (a
resumed run reloads). Each entry has a lock: the layer view reads activations with forward
hooks on the shared modules, so two requests on the same model must not interleave.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson
import torch
from torch import nn

from threefigures.config import RunConfig
from threefigures.data.preprocess import (
    MNIST_SIZE,
    Preprocessed,
    preprocess_array,
    preprocess_bytes,
)
from threefigures.errors import CheckpointError, RunNotFoundError, ThreeFiguresError
from threefigures.runs.folder import LIVE_WEIGHTS_FILE, WEIGHTS_FILE, load_model_from_folder
from threefigures.runs.store import RunRecord, Store
from threefigures.web.schemas import (
    MAX_SIDE,
    MIN_SIDE,
    EpochRow,
    GrayImage,
    Health,
    PixelsRequest,
    RunDetail,
    RunHistory,
    RunSummary,
)
from threefigures.web.settings import Settings

#: Figures a run folder may hold besides those in the store's artifacts table.
KNOWN_FIGURES = ("figure1", "figure2", "figure3", "confusion")
_FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: A layer with more values than this is left out of the response (keeps it compact).
MAX_LAYER_VALUES = 32_768
TOP_K = 3
#: Seconds a resolved run reference is reused by predictions.
RESOLVE_TTL = 2.0


class WebError(ThreeFiguresError):
    """A request the service cannot answer, with the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


#: A prediction as the API sends it: :class:`PredictResponse`'s fields by their JSON names,
#: arrays still NumPy (float64, C-contiguous). :func:`to_json` writes it.
Answer = dict[str, Any]


def to_json(answer: Answer) -> bytes:
    """An answer as JSON bytes, NumPy arrays written as nested lists by orjson (NaN → null,
    as pydantic writes it). Tests check the bytes against :class:`PredictResponse`."""
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass
class Job:
    """One input waiting for its answer: preprocessed, where it came from, when it arrived."""

    pre: Preprocessed
    source: str
    started: float


@dataclass
class LoadedRun:
    model: nn.Module
    record: RunRecord
    config: RunConfig
    classes: list[str]
    lock: threading.Lock


def pixels_to_array(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """A drawing's rows → a float32 (H, W) array, or a 422 saying what is wrong with it."""
    if not MIN_SIDE <= len(rows) <= MAX_SIDE:
        raise WebError(
            f"pixels must have {MIN_SIDE} to {MAX_SIDE} rows, got {len(rows)}", status=422
        )
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise WebError(
                f"pixels row {i} has {len(row)} values but row 0 has {width}: "
                "every row must be the same length",
                status=422,
            )
    if not MIN_SIDE <= width <= MAX_SIDE:
        raise WebError(
            f"pixels rows must have {MIN_SIDE} to {MAX_SIDE} values, got {width}", status=422
        )
    values = np.asarray(rows, dtype=np.float64)  # as parsed: 1e41 stays 1e41, not float32 inf
    if np.isnan(values).any():
        raise WebError("pixels hold NaN values", status=422)
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:  # ±inf included
        raise WebError(
            f"pixel values must lie in [0, 1], got values from {low:g} to {high:g}", status=422
        )
    return values.astype(np.float32)


def gray_to_array(gray: GrayImage) -> np.ndarray:
    """A ``gray`` drawing's base64 bytes → a float32 (H, W) array in [0, 1], or a 422."""
    try:
        raw = base64.b64decode(gray.data, validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII (a 500 once)
        raise WebError("gray.data is not valid base64", status=422) from None
    if len(raw) != gray.width * gray.height:
        raise WebError(
            f"gray.data holds {len(raw):,} bytes; width × height is "
            f"{gray.width} × {gray.height} = {gray.width * gray.height:,}",
            status=422,
        )
    # (H*W,) bytes → (H, W) grey values, the same scale the nested-array form uses
    values = np.frombuffer(raw, dtype=np.uint8).reshape(gray.height, gray.width)
    return values.astype(np.float32) / np.float32(255.0)


def drawing_to_array(body: PixelsRequest) -> np.ndarray:
    """The drawing in a request, whichever form it came in, as float32 (H, W) in [0, 1]."""
    if body.gray is not None:
        return gray_to_array(body.gray)
    assert body.pixels is not None  # PixelsRequest holds exactly one of the two
    return pixels_to_array(body.pixels)


def _safe_name(filename: str | None) -> str:
    """An upload's file name fit for an error message: base name, printable, short."""
    base = re.split(r"[\\/]", filename or "")[-1]
    clean = "".join(ch for ch in base if ch.isprintable())[:80]
    return clean or "upload"


def describe_model(config: dict[str, Any], model_name: str) -> str:
    """A run's model in a few characters, e.g. "mlp [256]" or "cnn [16, 32] + [128]"."""
    model = config.get("model", {}) if isinstance(config, dict) else {}
    layers = list(model.get("layers", []))
    if model_name == "cnn":
        return f"cnn {list(model.get('channels', []))} + {layers}"
    if model_name == "rnn":
        return f"{model.get('cell', 'rnn')} {model.get('hidden_size', '?')}"
    if model_name == "mlp":
        return f"mlp {layers}"
    return model_name


def _is_image_config(config: dict[str, Any]) -> bool:
    model = config.get("model", {}) if isinstance(config, dict) else {}
    shape = list(model.get("input_shape", []))
    return int(model.get("vocab_size", 0) or 0) == 0 and shape == [1, MNIST_SIZE, MNIST_SIZE]


def _is_text_config(config: dict[str, Any]) -> bool:
    """A run that reads token ids and answers one class per text (not a name generator)."""
    model = config.get("model", {}) if isinstance(config, dict) else {}
    return int(model.get("vocab_size", 0) or 0) > 0 and not model.get("sequence_output", False)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


class WebService:
    """One per app: the store, the settings and the model cache."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.store)
        self._cache: OrderedDict[tuple[str, int], LoadedRun] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._resolved: dict[str, tuple[float, RunRecord]] = {}

    # --- runs ------------------------------------------------------------------------------

    def resolve(self, ref: str | None) -> RunRecord:
        return self.store.resolve(ref or self.settings.run or "latest")

    def _resolve_recent(self, ref: str | None) -> RunRecord:
        """:meth:`resolve`, remembered for RESOLVE_TTL seconds: a prediction then costs no
        SQLite round trip (~1 ms), and a newly finished run still answers `latest` soon."""
        key = ref or self.settings.run or "latest"
        now = time.monotonic()
        hit = self._resolved.get(key)
        if hit is not None and now - hit[0] < RESOLVE_TTL:
            return hit[1]
        record = self.resolve(key)
        self._resolved[key] = (now, record)
        return record

    def health(self) -> Health:
        try:
            default: str | None = self.resolve(None).id
        except RunNotFoundError:
            default = None
        return Health(
            runs=len(self.store.list_runs()),
            default_run=default,
            max_upload_bytes=self.settings.max_upload_bytes,
            max_json_bytes=self.settings.max_json_bytes,
            method=self.settings.method,  # type: ignore[arg-type]  # validated in Settings
        )

    def list_runs(self) -> list[RunSummary]:
        return [self._summary(r) for r in self.store.list_runs(limit=500)]

    def run_detail(self, ref: str) -> RunDetail:
        record = self.resolve(ref)
        summary = self._summary(record)
        classes = record.info.get("classes", [])
        return RunDetail(
            **summary.model_dump(),
            updated_at=record.updated_at,
            error=record.error,
            run_dir=str(record.run_dir),
            classes=[str(c) for c in classes] if isinstance(classes, list) else [],
            config=record.config,
            info=record.info,
            metrics=[EpochRow(**m) for m in self._metrics(record.id)],
        )

    def history(self, ref: str) -> RunHistory:
        """Figure 2's numbers of one run, as the store recorded them."""
        from threefigures.runs.lifecycle import history_from_store

        record = self.resolve(ref)
        h = history_from_store(self.store, record.id)
        return RunHistory(
            run=record.id,
            batch_epoch=h.batch_epoch,
            batch_loss=h.batch_loss,
            epoch=h.epoch,
            epoch_loss=h.epoch_loss,
            val_loss=h.val_loss,
            val_accuracy=h.val_accuracy,
        )

    def _metrics(self, run_id: str) -> list[dict[str, Any]]:
        keys = ("epoch", "train_loss", "val_loss", "val_accuracy", "seconds")
        return [{k: m[k] for k in keys} for m in self.store.metrics(run_id)]

    def _summary(self, record: RunRecord) -> RunSummary:
        base = f"/api/runs/{quote(record.id, safe='')}"
        figures = self.figures(record)
        return RunSummary(
            id=record.id,
            created_at=record.created_at,
            status=record.status,
            data_name=record.data_name,
            model_name=record.model_name,
            model=describe_model(record.config, record.model_name),
            epochs_planned=record.epochs_planned,
            epochs_done=record.epochs_done,
            test_accuracy=record.test_accuracy,
            seconds=record.seconds,
            device=record.device,
            files_present=(record.run_dir / WEIGHTS_FILE).is_file(),
            image_model=_is_image_config(record.config),
            text_model=_is_text_config(record.config),
            url=base,
            figures={name: f"{base}/figures/{name}.png" for name in figures},
            report=f"{base}/report" if self._report(record) is not None else None,
        )

    def figures(self, record: RunRecord) -> dict[str, Path]:
        """Name → PNG for the figures this run has: the store's PNG artifacts and the known
        names in its folder, only files that exist inside the run's folder."""
        folder = record.run_dir
        found: dict[str, Path] = {}
        candidates: list[tuple[str, Path]] = [(n, folder / f"{n}.png") for n in KNOWN_FIGURES]
        candidates += [(kind, p) for kind, p in self.store.artifacts(record.id).items()]
        inside_dir = folder / "inside"
        if inside_dir.is_dir():
            candidates += [(p.stem, p) for p in sorted(inside_dir.glob("inside-*.png"))]
        for name, path in candidates:
            if (
                name not in found
                and _FIGURE_NAME.match(name)
                and path.suffix == ".png"
                and path.is_file()
                and _inside(path, folder)
            ):
                found[name] = path
        return found

    def figure_path(self, ref: str, name: str) -> Path:
        record = self.resolve(ref)
        stem = name.removesuffix(".png")
        path = self.figures(record).get(stem)
        if path is None:
            missing = "" if record.run_dir.is_dir() else " (its folder is missing)"
            raise WebError(f"run {record.id} has no figure {name!r}{missing}", status=404)
        return path

    def _report(self, record: RunRecord) -> Path | None:
        folder = record.run_dir
        for path in (self.store.artifacts(record.id).get("report"), folder / "report.html"):
            if (
                path is not None
                and path.suffix == ".html"
                and path.is_file()
                and _inside(path, folder)
            ):
                return path
        return None

    def report_path(self, ref: str) -> Path:
        record = self.resolve(ref)
        path = self._report(record)
        if path is None:
            missing = "" if record.run_dir.is_dir() else " (its folder is missing)"
            raise WebError(f"run {record.id} has no report.html{missing}", status=404)
        return path

    # --- models ----------------------------------------------------------------------------

    def loaded(self, ref: str | None) -> LoadedRun:
        """The run's model, from the cache or loaded now (409 when it cannot answer)."""

        record = self._resolve_recent(ref)
        if not _is_image_config(record.config):
            raise WebError(
                f"run {record.id} ({describe_model(record.config, record.model_name)} on "
                f"{record.data_name}) does not classify 28×28 images: pick an image run",
                status=409,
            )
        return self._load(record)

    def _load(self, record: RunRecord) -> LoadedRun:
        # A run training from the page answers with its weights as they are now: the live
        # snapshot its training process saves every few seconds (web/live.py).
        weights_file = WEIGHTS_FILE
        if record.status == "running" and os.path.exists(
            os.path.join(record.run_dir, LIVE_WEIGHTS_FILE)
        ):
            weights_file = LIVE_WEIGHTS_FILE
        try:  # checked on every request (a deleted run answers 409 at once); os.path, not
            # pathlib: a third of the cost, at a request per stroke
            stamp = os.stat(os.path.join(record.run_dir, weights_file)).st_mtime_ns
        except OSError:
            self._evict(record.id)
            if record.status == "running":
                raise WebError(
                    f"run {record.id} is training and has no weights to answer with yet: "
                    "try again in a few seconds",
                    status=409,
                ) from None
            raise WebError(
                f"run {record.id}: its weights are missing ({record.run_dir / WEIGHTS_FILE}; "
                "folder deleted or moved?)",
                status=409,
            ) from None
        key = (record.id, stamp)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            self._evict(record.id, locked=True)
            try:
                model, config, classes = load_model_from_folder(
                    record.run_dir, weights_file=weights_file
                )
            except CheckpointError:
                if weights_file == WEIGHTS_FILE:
                    raise
                # the snapshot was replaced (or removed as training ended) while read
                raise WebError(
                    f"run {record.id} is training and its weights changed while being read: "
                    "try again",
                    status=409,
                ) from None
            model.requires_grad_(False)  # gradients are only ever taken w.r.t. the input
            entry = LoadedRun(model, record, config, classes, threading.Lock())
            self._cache[key] = entry
            while len(self._cache) > self.settings.model_cache_size:
                self._cache.popitem(last=False)
            return entry

    def _evict(self, run_id: str, *, locked: bool = False) -> None:
        if not locked:
            with self._cache_lock:
                self._evict(run_id, locked=True)
            return
        for key in [k for k in self._cache if k[0] == run_id]:
            del self._cache[key]

    def warm(self) -> None:
        """Load the default run and answer one drawing, so the first user waits for nothing."""
        frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
        frame[6:22, 12:16] = 1.0
        self.predict_pixels(frame.tolist(), run=None, method=None)

    # --- text runs -------------------------------------------------------------------------

    def text_run(self, ref: str | None) -> RunRecord:
        """A run that classifies text: ``ref``, or the newest finished one (409 otherwise)."""
        if ref is not None and ref != "latest":
            record = self.resolve(ref)
            if not _is_text_config(record.config):
                raise WebError(
                    f"run {record.id} ({describe_model(record.config, record.model_name)} on "
                    f"{record.data_name}) does not classify text: pick a text run",
                    status=409,
                )
            return record
        for record in self.store.list_runs(limit=500):
            if record.status == "finished" and _is_text_config(record.config):
                return record
        raise WebError(
            "no finished text run: train one with `threefigures train --data drug-reviews "
            "--model minilm`",
            status=409,
        )

    def predict_text(self, text: str, *, run: str | None, method: str) -> Answer:
        """The class of a text, each token's attribution and, for a transformer, the
        attention every token receives per layer and head."""
        from threefigures.errors import DataError
        from threefigures.explain.attribution import attribute
        from threefigures.outputs.text import check_text, encode_text

        started = time.perf_counter()
        loaded = self._load(self.text_run(run))
        try:
            encoded = encode_text(check_text(text), loaded.config)
        except DataError as exc:
            raise WebError(str(exc), status=422) from None
        x = torch.tensor([encoded.ids])  # (1, T)
        lengths = torch.tensor([len(encoded.ids)])
        with loaded.lock:
            attr = attribute(loaded.model, x, method=method, lengths=lengths)
            maps = getattr(loaded.model, "attention_maps", None)
            attention = maps(x, lengths)[:, 0].float().numpy() if callable(maps) else None
        probs = attr.probabilities[0].astype(np.float64)
        probs = probs / probs.sum()
        classes = _class_names(loaded.classes, len(probs))
        index = int(np.argmax(probs))
        order = np.argsort(-probs, kind="stable")[:TOP_K]
        scores = attr.maps[0][: len(encoded.ids)].astype(np.float64)
        # scaled over the text's own tokens: [CLS]/[SEP] are not part of what was written
        # (draw_token_attribution leaves them out of its colour scale too)
        words = [i for i, t in enumerate(encoded.tokens) if t not in ("[CLS]", "[SEP]")]
        scale = float(np.abs(scores[words]).max()) if words else 0.0
        scale = scale or 1.0
        answer: Answer = {
            "run": loaded.record.id,
            "class": classes[index],
            "index": index,
            "probability": round(float(probs[index]), 6),
            "classes": classes,
            "probabilities": np.round(probs, 6),
            "top": [
                {"class": classes[j], "index": int(j), "probability": round(float(probs[j]), 6)}
                for j in order
            ],
            "method": method,
            "tokens": [
                {"token": t, "attribution": round(float(v) / scale, 4)}
                for t, v in zip(encoded.tokens, scores, strict=True)
            ],
            "attention": None,
            "notes": encoded.notes,
        }
        if attention is not None:
            layers, heads = attention.shape[:2]
            received = attention.mean(axis=2)  # (layers, heads, T): mean over the queries
            answer["attention"] = {
                "layers": int(layers),
                "heads": int(heads),
                "received": np.round(received.reshape(layers * heads, -1), 4),
                "per_layer": np.round(received.mean(axis=1), 4),
            }
        answer["compute_ms"] = round(1000 * (time.perf_counter() - started), 2)
        return answer

    # --- predictions -----------------------------------------------------------------------

    def predict_pixels(
        self, pixels: Sequence[Sequence[float]], *, run: str | None, method: str | None
    ) -> Answer:
        started = time.perf_counter()
        gray = pixels_to_array(pixels)
        loaded = self.loaded(run)
        pre = preprocess_array(gray, name="drawing")
        return self._answer(loaded, pre, method, "drawing", started)

    def predict_upload(
        self, data: bytes, *, filename: str | None, run: str | None, method: str | None
    ) -> Answer:
        started = time.perf_counter()
        loaded = self.loaded(run)
        pre = preprocess_bytes(data, name=_safe_name(filename))
        return self._answer(loaded, pre, method, "upload", started)

    def _answer(
        self,
        loaded: LoadedRun,
        pre: Preprocessed,
        method: str | None,
        source: str,
        started: float,
    ) -> Answer:
        return self.answer_many(loaded, [Job(pre, source, started)], method)[0]

    @staticmethod
    def batches_exactly(loaded: LoadedRun) -> bool:
        """Whether a batch answers each drawing exactly as it would be answered alone.

        True for the dense networks (MLP, perceptron). Not for a CNN: oneDNN picks its
        convolution kernel by batch size, the last bits of the maps change, max-pooling then
        picks other winners among near-ties on flat background, and the saliency map
        changes visibly (hundreds of pixels by over 0.01 in a review's check). Not for the
        RNN either: its answers were not checked. Those models answer one drawing a call.
        """
        from threefigures.models import Network

        return isinstance(loaded.model, Network) and loaded.model.batch_invariant

    def answer_many(
        self, loaded: LoadedRun, jobs: Sequence[Job], method: str | None
    ) -> list[Answer]:
        """Answer several preprocessed inputs for one run with one batch: one pass for the
        layer view and one attribution (forward and backward) for all of them.

        The model is in eval mode, so no example's output or gradient depends on the others
        in the batch in exact arithmetic; for the models where :meth:`batches_exactly` holds
        the floating-point answers match too (tested).
        """
        from threefigures.explain.attribution import attribute
        from threefigures.explain.internals import layer_activations

        method = method or self.settings.method
        images = np.stack([np.ascontiguousarray(job.pre.image) for job in jobs])
        x = torch.from_numpy(images).reshape(len(jobs), 1, MNIST_SIZE, MNIST_SIZE)  # (B,1,H,W)
        with loaded.lock:
            acts = layer_activations(loaded.model, x)
            # the logits just read choose the targets: no second forward pass for them
            attr = attribute(loaded.model, x, method=method, outputs=dict(acts).get("output"))
        probs = attr.probabilities.astype(np.float64)  # (B, K)
        probs = probs / probs.sum(axis=1, keepdims=True)
        classes = _class_names(loaded.classes, probs.shape[1])
        amaps = attr.maps.astype(np.float64)  # (B, H, W)
        scales = np.abs(amaps).reshape(len(jobs), -1).max(axis=1)  # (B,)
        normalised = amaps / np.where(scales > 0, scales, 1.0)[:, None, None]
        layers = self._activations(loaded.model, acts)  # per layer: (name, shape, (B, n))
        # Rounded once for the whole batch, then sliced: each answer's arrays stay NumPy and
        # are written by orjson in C (to_json). Building pydantic models and lists of ~1,900
        # Python floats per answer was two thirds of a batch's cost on the event loop.
        rounded_probs = np.round(probs, 6)  # (B, K)
        rounded_inputs = np.round(images.astype(np.float64), 3)  # (B, H, W)
        rounded_maps = np.round(normalised, 3)  # (B, H, W)
        rounded_layers = [(n, shape, np.round(v, 4)) for n, shape, v in layers]  # (B, n) each
        answers: list[Answer] = []
        for i, job in enumerate(jobs):
            p = probs[i]
            index = int(np.argmax(p))
            order = np.argsort(-p, kind="stable")[:TOP_K]
            answers.append(
                {
                    "run": loaded.record.id,
                    "class": classes[index],
                    "index": index,
                    "probability": round(float(p[index]), 6),
                    "classes": classes,
                    "probabilities": rounded_probs[i],
                    "top": [
                        {
                            "class": classes[j],
                            "index": int(j),
                            "probability": round(float(p[j]), 6),
                        }
                        for j in order
                    ],
                    "input": rounded_inputs[i],
                    "activations": [
                        {"name": name, "shape": shape, "values": values[i]}
                        for name, shape, values in rounded_layers
                    ],
                    "attribution": {
                        "method": method,
                        "target": int(attr.targets[i]),
                        "map": rounded_maps[i],
                        "scale": float(scales[i]),
                    },
                    "inverted": bool(job.pre.inverted),
                    "notes": list(job.pre.notes),
                    "source": job.source,
                    "source_size": [int(v) for v in job.pre.source_size],
                    "compute_ms": round(1000 * (time.perf_counter() - job.started), 2),
                }
            )
        return answers

    @staticmethod
    def _activations(
        model: nn.Module, acts: list[tuple[str, torch.Tensor]]
    ) -> list[tuple[str, list[int], np.ndarray]]:
        """Hidden layers only (the input and logits are sent as such): every dense layer, a
        CNN's first convolution's maps, an RNN's states; nothing over MAX_LAYER_VALUES.
        Each as (name, one example's shape, values (B, n) in float64)."""
        out: list[tuple[str, list[int], np.ndarray]] = []
        seen_maps = False
        for name, tensor in acts:
            if name in ("input", "output"):
                continue
            values = tensor.detach().float().cpu().numpy()  # (B, ...)
            shape = list(values.shape[1:])
            if len(shape) == 3:  # (C, H, W) maps: a CNN's; only its first convolution's
                if seen_maps:
                    continue
                seen_maps = True
            if values[0].size > MAX_LAYER_VALUES:
                continue
            out.append((name, shape, values.reshape(len(values), -1).astype(np.float64)))
        return out


def _class_names(classes: list[str], n_outputs: int) -> list[str]:
    """The run's class names, or indices when they do not match the outputs (a BCE model
    with one output is read as two classes by the attribution code)."""
    if len(classes) == n_outputs:
        return [str(c) for c in classes]
    return [str(i) for i in range(n_outputs)]
