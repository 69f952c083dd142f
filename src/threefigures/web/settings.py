"""Every knob of the web app in one frozen object, checked once at start-up."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from threefigures.errors import ConfigError

MIB = 1024 * 1024
#: Where ``threefigures serve --workers N`` hands the settings to its worker processes.
SETTINGS_ENV = "THREEFIGURES_WEB_SETTINGS"
MAX_WORKERS = 32

#: Attribution methods the page may ask for. Saliency is the default because it is one
#: backward pass: measured on the 2-core CPU, ~2 ms per request for the Figure 1 MLP
#: against ~7.5 ms for 32-step integrated gradients (3 ms vs 22 ms for the default CNN).
WEB_METHODS = ("saliency", "integrated-gradients")


@dataclass(frozen=True)
class Settings:
    """``store``: the runs store (None: ``$THREEFIGURES_STORE`` or ./runs/threefigures.db).
    ``run``: the run that answers when a request names none (None: the latest finished).
    ``max_upload_bytes``: largest image upload; ``max_json_bytes``: largest JSON body.
    ``model_cache_size``: loaded runs kept in memory. ``torch_threads``: intra-op threads
    set by :func:`threefigures.web.server.run_server` (1: each request's tensors are tiny,
    so more threads only contend with the concurrent requests). ``method``: attribution.
    ``workers``: server processes, each with its own models (for many users on a machine
    with spare cores; on the 2-core development machine two helped only when it ran slow,
    see the README's web benchmark). ``max_concurrent_uploads``: uploads decoded at the same
    time in one process, the rest wait their turn. A small PNG can hold up to Pillow's
    limit of ~89 M pixels and then take ~400 MB while it is decoded: eight at once took a
    server from 0.8 to 3.8 GB before this limit, 1.6 GB with it (the README's web section).
    """

    store: Path | None = None
    run: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 5 * MIB
    max_json_bytes: int = 1 * MIB
    model_cache_size: int = 4
    torch_threads: int | None = 1
    method: str = "saliency"
    workers: int = 1
    max_concurrent_uploads: int = 2
    # --- training from the page (web/training.py) ---
    train_enabled: bool = True
    train_datasets: tuple[str, ...] = ("digits", "sklearn-digits", "fashion-mnist")
    train_max_epochs: int = 50
    train_max_units: int = 2048
    train_max_layers: int = 4
    train_max_channels: int = 128
    train_max_batch_size: int = 4096
    train_max_parameters: int = 20_000_000
    train_weights_every: float = 2.0
    train_threads: int | None = None
    train_nice: int = 10
    train_stop_seconds: float = 15.0

    def to_json(self) -> str:
        """These settings as JSON (for worker processes: see :data:`SETTINGS_ENV`)."""
        values = asdict(self)
        values["store"] = None if self.store is None else str(self.store)
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings :meth:`to_json` wrote (unknown keys are a ConfigError)."""
        try:
            values: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{SETTINGS_ENV} is not valid JSON ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known) if isinstance(values, dict) else ["(not a dict)"]
        if unknown:
            raise ConfigError(f"{SETTINGS_ENV} has unknown settings: {', '.join(unknown)}")
        if values.get("store") is not None:
            values["store"] = Path(values["store"])
        if isinstance(values.get("train_datasets"), list):
            values["train_datasets"] = tuple(values["train_datasets"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{SETTINGS_ENV}: {exc}") from None

    def validate(self) -> Settings:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port}")
        if self.max_upload_bytes < 1:
            raise ConfigError(
                f"--max-upload-mb must be positive, got {self.max_upload_bytes / MIB:g} MiB"
            )
        if self.max_json_bytes < 1024:
            raise ConfigError(f"max_json_bytes must be at least 1024, got {self.max_json_bytes}")
        if self.model_cache_size < 1:
            raise ConfigError(f"model_cache_size must be at least 1, got {self.model_cache_size}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"torch_threads must be at least 1, got {self.torch_threads}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"--workers must be between 1 and {MAX_WORKERS}, got {self.workers}")
        if self.max_concurrent_uploads < 1:
            raise ConfigError(
                f"--max-concurrent-uploads must be at least 1, got {self.max_concurrent_uploads}"
            )
        if self.method not in WEB_METHODS:
            raise ConfigError(f"method must be one of {WEB_METHODS}, got {self.method!r}")
        if not self.host:
            raise ConfigError("--host must not be empty")
        caps = {
            "train_max_epochs": self.train_max_epochs,
            "train_max_units": self.train_max_units,
            "train_max_layers": self.train_max_layers,
            "train_max_channels": self.train_max_channels,
            "train_max_batch_size": self.train_max_batch_size,
            "train_max_parameters": self.train_max_parameters,
        }
        for name, value in caps.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if not self.train_weights_every > 0:
            raise ConfigError(f"train_weights_every must be > 0, got {self.train_weights_every}")
        if self.train_threads is not None and self.train_threads < 1:
            raise ConfigError(f"train_threads must be at least 1, got {self.train_threads}")
        if not 0 <= self.train_nice <= 19:
            raise ConfigError(f"train_nice must be between 0 and 19, got {self.train_nice}")
        if not self.train_stop_seconds > 0:
            raise ConfigError(f"train_stop_seconds must be > 0, got {self.train_stop_seconds}")
        return self
