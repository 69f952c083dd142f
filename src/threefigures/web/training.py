"""Training from the web page: one run at a time per server, in a child process.

``POST /api/train`` checks the options as ``threefigures train`` does (same defaults, same
one-line errors), then the page's caps; the run's folder and "running" row are written
here, and a child process (:mod:`threefigures.web.live`) trains it and reports events on
its standard output. A reader thread appends them to the job's list; each subscriber of
``GET /api/train/{id}/events`` reads that list from the start (a late one first gets what
it missed), so nothing is lost and nobody waits on anybody.

Why a process, not a thread: training holds the GIL for its Python loop, so the event
loop answering drawings would stall behind it; a process of its own also keeps a crash
(or a kill) from taking the server down, and Stop is simply Ctrl-C (SIGINT) for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threefigures.errors import ConfigError, RunNotFoundError
from threefigures.runs.folder import TRAIN_LOG
from threefigures.runs.store import RunRecord, Store
from threefigures.web.settings import Settings

#: Events that end a job's stream.
FINAL_EVENTS = ("end", "error")
#: Options the page may not set: the server decides where data and runs live.
SERVER_ONLY = ("data_dir", "out", "store", "resume")


class TrainError(ConfigError):
    """A training request the server cannot take, with its HTTP status (409 or 404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Event:
    id: int
    name: str
    data: dict[str, Any]

    def sse(self) -> bytes:
        """The event as server-sent-events text."""
        payload = json.dumps(self.data, allow_nan=False, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.name}\ndata: {payload}\n\n".encode()


@dataclass
class TrainingJob:
    """One child process training one run, and every event it sent."""

    run_id: str
    process: subprocess.Popen[str] | None = None
    events: list[Event] = field(default_factory=list)
    stopping: bool = False
    shutting_down: bool = False
    reader: threading.Thread | None = None
    log_path: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(Event(len(self.events), name, data))

    @property
    def done(self) -> bool:
        events = self.events
        return bool(events) and events[-1].name in FINAL_EVENTS

    def since(self, index: int) -> list[Event]:
        return self.events[index:]


def _describe(record: RunRecord) -> str:
    from threefigures.web.service import describe_model

    return describe_model(record.config, record.model_name)


class TrainingManager:
    """Starts, watches, stops and resumes the page's trainings (see the module docstring)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._active: TrainingJob | None = None

    # --- what the page may ask for ---------------------------------------------------------

    def why_disabled(self) -> str | None:
        if not self.settings.train_enabled:
            return "training from the page is turned off on this server"
        if self.settings.workers > 1:
            return (
                "training from the page needs a single server process: "
                "start it with `threefigures serve --workers 1`"
            )
        return None

    def available_datasets(self) -> list[str]:
        """The allowed datasets found on this machine (Fashion-MNIST only where installed)."""
        from threefigures.data.sources import cache_dir, fashion_dir

        found = []
        for name in self.settings.train_datasets:
            if name == "fashion-mnist":
                local = fashion_dir()
                cached = cache_dir()
                if not (
                    (local.is_dir() and any(local.glob("*idx3*")))
                    or any(cached.glob("fashion-mnist*"))
                ):
                    continue
            found.append(name)
        return found

    def options(self) -> dict[str, Any]:
        """Defaults, choices and caps for the page's form, and the training running now."""
        from threefigures.config import (
            ACTIVATIONS,
            AUGMENTATIONS,
            OPTIMIZERS,
            DataConfig,
            ModelConfig,
            TrainConfig,
        )
        from threefigures.models import default_config, list_models

        s = self.settings
        model = default_config(ModelConfig.name)
        active = self._active
        return {
            "defaults": {
                "data": DataConfig.name,
                "model": model.name,
                "layers": ",".join(str(n) for n in model.layers),
                "channels": ",".join(str(n) for n in model.channels),
                "activation": model.activation,
                "dropout": model.dropout,
                "augment": list(TrainConfig.augment),
                "optimizer": TrainConfig.optimizer,
                "lr": TrainConfig.lr,
                "batch_size": TrainConfig.batch_size,
                "epochs": TrainConfig.epochs,
            },
            "choices": {
                "data": self.available_datasets(),
                "model": [m.name for m in list_models() if m.name in PAGE_MODELS],
                "activation": list(ACTIVATIONS),
                "optimizer": list(OPTIMIZERS),
                "augment": list(AUGMENTATIONS),
            },
            "limits": {
                "epochs": s.train_max_epochs,
                "units": s.train_max_units,
                "layers": s.train_max_layers,
                "channels": s.train_max_channels,
                "batch_size": s.train_max_batch_size,
            },
            "active": active.run_id if active is not None and not active.done else None,
            "enabled": self.why_disabled() is None,
            "why_disabled": self.why_disabled(),
        }

    def check_options(self, body: Any) -> Any:
        """The request's options → a planned :class:`RunConfig` and its data, or a
        ConfigError naming what is wrong (the CLI's message, or the page's cap)."""
        from threefigures.runner import plan_run
        from threefigures.runs.options import flag, run_config_from_options

        if not isinstance(body, dict):
            raise ConfigError("the body must be a JSON object of training options")
        for name in body:
            if str(name).replace("-", "_") in SERVER_ONLY:
                raise ConfigError(f"{flag(str(name))} cannot be set from the page")
        config = run_config_from_options(body)
        s = self.settings
        data = config.data.name
        if data not in s.train_datasets:
            raise ConfigError(
                f"--data {data} cannot be trained from the page; choose one of "
                f"{', '.join(s.train_datasets)}"
            )
        if config.model.name not in PAGE_MODELS:
            raise ConfigError(
                f"--model {config.model.name} cannot be trained from the page; choose one of "
                f"{', '.join(PAGE_MODELS)}"
            )
        m, t = config.model, config.train
        caps = [
            (t.epochs, s.train_max_epochs, "--epochs"),
            (t.batch_size, s.train_max_batch_size, "--batch-size"),
            (len(m.layers), s.train_max_layers, "the number of --layers"),
            (max(m.layers), s.train_max_units, "--layers (units per layer)"),
            (max(m.channels), s.train_max_channels, "--channels"),
            (m.hidden_size, s.train_max_units, "--hidden-size"),
        ]
        for value, cap, what in caps:
            if value > cap:
                raise ConfigError(f"{what} is capped at {cap} on this server, got {value}")
        return plan_run(config)

    # --- jobs ------------------------------------------------------------------------------

    def _claim(self) -> None:
        """Refuse while another training runs (call with the lock held)."""
        why = self.why_disabled()
        if why is not None:
            raise TrainError(why, 409)
        active = self._active
        if active is not None and not active.done:
            raise TrainError(
                f"run {active.run_id} is training; stop it or wait for it to finish "
                "(one training at a time)",
                409,
            )

    def start(self, body: Any) -> RunRecord:
        """Check the options, write the run's folder and row, start training it."""
        from threefigures.runner import open_run

        with self._lock:
            self._claim()
            config, data = self.check_options(body)
            record = open_run(self.store, config, data)
            self._launch(record, resumed=False)
        return record

    def resume(self, run_id: str) -> RunRecord:
        """Go on training an interrupted (or failed) run from its last finished epoch."""
        with self._lock:
            self._claim()
            record = self.store.resolve(run_id)
            if record.status == "finished":
                raise TrainError(f"run {record.id} already finished", 409)
            if record.status == "running":
                raise TrainError(
                    f"run {record.id} is marked running but no training of this server "
                    "holds it (another process?)",
                    409,
                )
            if not record.run_dir.is_dir():
                raise TrainError(f"run {record.id}: its folder is missing", 409)
            self._launch(record, resumed=True)
        return record

    def stop(self, run_id: str) -> None:
        """Ctrl-C for the run's training: it saves its last finished epoch and ends."""
        job = self.jobs.get(run_id)
        if job is None or job.done or job.process is None:
            raise TrainError(f"run {run_id} is not training", 409)
        job.stopping = True
        job.process.send_signal(signal.SIGINT)

    def job(self, run_id: str) -> TrainingJob:
        job = self.jobs.get(run_id)
        if job is None:
            self.store.get(run_id)  # 404 for an unknown run
            raise RunNotFoundError(
                f"run {run_id} was not trained from this page since the server started; "
                "its figures and report are on the Runs page"
            )
        return job

    def _launch(self, record: RunRecord, *, resumed: bool) -> None:
        job = TrainingJob(record.id)
        job.add(
            "start",
            {
                "run": record.id,
                "epochs": record.epochs_planned,
                "epochs_done": record.epochs_done if resumed else 0,
                "model": _describe(record),
                "data": record.data_name,
                "resumed": resumed,
            },
        )
        if resumed:
            self._replay(job, record)
        threads = self.settings.train_threads or max(1, (os.cpu_count() or 2) - 1)
        command = [
            sys.executable,
            "-m",
            "threefigures.web.live",
            record.id,
            "--store",
            str(self.store.path),
            "--weights-every",
            str(self.settings.train_weights_every),
            "--threads",
            str(threads),
            "--nice",
            str(self.settings.train_nice),
        ]
        # the child's own messages (warnings, a traceback) go to a log in the run's folder
        job.log_path = record.run_dir / TRAIN_LOG
        with open(job.log_path, "a", encoding="utf-8") as log:
            job.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        self.jobs[record.id] = job
        self._active = job
        job.reader = threading.Thread(target=self._read, args=(job,), daemon=True)
        job.reader.start()

    def _replay(self, job: TrainingJob, record: RunRecord) -> None:
        """A resumed run's finished epochs first, so its curve starts where it left off."""
        from threefigures.runs.lifecycle import history_from_store

        history = history_from_store(self.store, record.id)
        keep = [i for i, p in enumerate(history.batch_epoch) if p <= record.epochs_done]
        if keep:
            job.add(
                "batch",
                {
                    "epoch": record.epochs_done,
                    "step": None,
                    "steps": None,
                    "positions": [history.batch_epoch[i] for i in keep],
                    "losses": [history.batch_loss[i] for i in keep],
                    "examples_per_second": None,
                    "seconds_left": None,
                    "replayed": True,
                },
            )
        for i, epoch in enumerate(history.epoch):
            if epoch <= record.epochs_done:
                job.add(
                    "epoch",
                    {
                        "epoch": epoch,
                        "epochs": record.epochs_planned,
                        "train_loss": history.epoch_loss[i],
                        "val_loss": history.val_loss[i],
                        "val_accuracy": history.val_accuracy[i],
                        "seconds": history.epoch_seconds[i],
                        "replayed": True,
                    },
                )

    def _read(self, job: TrainingJob) -> None:
        """Relay the child's events; if it dies without a last word, say so and mark the
        run (interrupted when it was being stopped, failed otherwise)."""
        process = job.process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
                job.add(str(message["event"]), dict(message["data"]))
            except (ValueError, KeyError, TypeError):
                continue  # not an event (the child's stdout carries nothing else)
        code = process.wait()
        if job.done:
            return
        record = self.store.get(job.run_id)
        if job.stopping or job.shutting_down:
            self.store.set_status(job.run_id, "interrupted", error="stopped before it saved")
            job.add(
                "end",
                {
                    "run": job.run_id,
                    "status": "interrupted",
                    "epochs_done": record.epochs_done,
                    "test_accuracy": None,
                    "message": f"stopped: run {job.run_id} keeps {record.epochs_done} "
                    "finished epoch(s); Resume continues it",
                },
            )
            return
        last = _last_line(job.log_path)
        message = f"the training process ended unexpectedly (exit status {code})" + (
            f": {last}" if last else ""
        )
        if record.status == "running":
            self.store.set_status(job.run_id, "failed", error=message)
        job.add("error", {"run": job.run_id, "message": message})

    def shutdown(self) -> None:
        """Stop a running training (it saves itself and is marked interrupted); one that
        does not end within ``train_stop_seconds`` is killed."""
        job = self._active
        if job is None or job.done or job.process is None:
            return
        job.shutting_down = True
        if job.process.poll() is None:
            job.process.send_signal(signal.SIGINT)
            try:
                job.process.wait(timeout=self.settings.train_stop_seconds)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
        if job.reader is not None:  # it marks the run and writes the last event
            job.reader.join(timeout=5)


def _last_line(path: Path | None) -> str:
    """The last non-empty line of the child's log (its error, when it crashed)."""
    if path is None:
        return ""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


#: The models the page offers (the ones ``threefigures train`` takes on images).
PAGE_MODELS = ("perceptron", "mlp", "cnn", "rnn")
