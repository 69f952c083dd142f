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
    log_offset: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(Event(len(self.events), name, data))

    @property
    def done(self) -> bool:
        events = self.events
        return bool(events) and events[-1].name in FINAL_EVENTS

    def since(self, index: int) -> tuple[list[Event], int]:
        """The events from ``index`` on, and the index after them. Of the weights pictures
        among them only the newest is sent (each is ~100 kB; a late subscriber needs only
        the current one)."""
        events = self.events[index:]
        following = index + len(events)
        pictures = [i for i, e in enumerate(events) if e.name == "weights"]
        if len(pictures) > 1:
            drop = set(pictures[:-1])
            events = [e for i, e in enumerate(events) if i not in drop]
        return events, following


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
        self._closed = False

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
            "model_layers": {
                name: ",".join(str(n) for n in default_config(name).layers) for name in PAGE_MODELS
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
        self.check_limits(config)
        return plan_run(config)

    def check_limits(self, config: Any) -> None:
        """What the page may train: an allowed dataset found on this machine, a page model,
        and sizes within the caps (a resumed run's stored config is held to them too)."""
        s = self.settings
        data = config.data.name
        available = self.available_datasets()
        if data not in available:
            missing = " (not installed on this server)" if data in s.train_datasets else ""
            raise ConfigError(
                f"--data {data} cannot be trained from the page{missing}; choose one of "
                f"{', '.join(available)}"
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
            (len(m.channels), s.train_max_layers, "the number of --channels blocks"),
            (max(m.channels), s.train_max_channels, "--channels"),
            (m.kernel_size, MAX_KERNEL, "--kernel-size"),
            (m.hidden_size, s.train_max_units, "--hidden-size"),
            (m.num_layers, s.train_max_layers, "--num-layers"),
        ]
        for value, cap, what in caps:
            if value > cap:
                raise ConfigError(f"{what} is capped at {cap} on this server, got {value}")
        parameters = _parameter_count(config)
        if parameters > s.train_max_parameters:
            raise ConfigError(
                f"this network has {parameters:,} parameters; the page trains at most "
                f"{s.train_max_parameters:,} on this server"
            )

    # --- jobs ------------------------------------------------------------------------------

    def _claim(self) -> None:
        """Refuse while another training runs or starts, or the server is closing (call
        with the lock held)."""
        why = self.why_disabled()
        if why is not None:
            raise TrainError(why, 409)
        if self._closed:
            raise TrainError("the server is shutting down", 409)
        active = self._active
        if active is not None and not active.done:
            raise TrainError(
                f"run {active.run_id} is training; stop it or wait for it to finish "
                "(one training at a time)",
                409,
            )

    def _acquire(self) -> None:
        # A start loads its data while it holds the lock: a second request is refused at
        # once rather than queued behind it (it would hold a worker thread meanwhile).
        if not self._lock.acquire(blocking=False):
            raise TrainError("a training is starting; wait for it, then try again", 409)

    def start(self, body: Any) -> RunRecord:
        """Check the options, write the run's folder and row, start training it."""
        from threefigures.runner import open_run

        self._acquire()
        try:
            self._claim()
            config, data = self.check_options(body)
            self._claim()  # the server may have begun to close while the data loaded
            record = open_run(self.store, config, data)
            self._launch(record, resumed=False)
        finally:
            self._lock.release()
        return record

    def resume(self, run_id: str) -> RunRecord:
        """Go on training an interrupted (or failed) run from its last finished epoch,
        within the page's limits."""
        from threefigures.errors import CheckpointError
        from threefigures.runs.folder import read_run_config

        self._acquire()
        try:
            self._claim()
            record = self.store.resolve(run_id)
            if record.status == "finished":
                raise TrainError(f"run {record.id} already finished", 409)
            if record.status == "running":
                raise TrainError(
                    f"run {record.id} is marked running but no training of this server holds "
                    f"it (another process, or one that was killed?); from a shell: "
                    f"`threefigures train --resume {record.id}`",
                    409,
                )
            if not record.run_dir.is_dir():
                raise TrainError(f"run {record.id}: its folder is missing", 409)
            try:
                config, _classes = read_run_config(record.run_dir)
            except CheckpointError as exc:
                raise TrainError(str(exc), 409) from None
            self.check_limits(config)
            self._launch(record, resumed=True)
        finally:
            self._lock.release()
        return record

    def stop(self, run_id: str) -> None:
        """Ctrl-C for the run's training: it saves its last finished epoch and ends."""
        job = self.jobs.get(run_id)
        if job is None or job.done or job.process is None:
            raise TrainError(f"run {run_id} is not training", 409)
        if job.stopping:  # a second SIGINT would interrupt at once, even mid-save
            return
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
        try:
            with open(job.log_path, "a", encoding="utf-8") as log:
                job.log_offset = log.tell()  # this attempt's messages start here
                job.process = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    # its own session: a Ctrl-C in the server's terminal reaches the server
                    # only, whose shutdown then stops the training once, cleanly
                    start_new_session=True,
                )
        except OSError as exc:
            if not resumed:  # a resumed run keeps the status and epochs it had
                self.store.set_status(record.id, "failed", error=f"could not start: {exc}")
            raise TrainError(f"could not start the training process: {exc}", 409) from None
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
        try:
            self._relay(job)
        except Exception as exc:  # never leave subscribers (and the next start) waiting
            if not job.done:
                job.add("error", {"run": job.run_id, "message": f"{type(exc).__name__}: {exc}"})

    def _relay(self, job: TrainingJob) -> None:
        process = job.process
        assert process is not None and process.stdout is not None
        with process.stdout:
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
            if record.status == "running":
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
        last = _last_line(job.log_path, job.log_offset)
        message = f"the training process ended unexpectedly (exit status {code})" + (
            f": {last}" if last else ""
        )
        if record.status == "running":
            self.store.set_status(job.run_id, "failed", error=message)
        job.add("error", {"run": job.run_id, "message": message})

    def shutdown(self) -> None:
        """Stop a running training (it saves itself and is marked interrupted); one that
        does not end within ``train_stop_seconds`` is killed."""
        with self._lock:  # a start in progress finishes first (or sees the flag and refuses)
            self._closed = True
        job = self._active
        if job is None or job.done or job.process is None:
            return
        job.shutting_down = True
        if job.process.poll() is None:
            if not job.stopping:  # one SIGINT only: a second interrupts at once
                job.process.send_signal(signal.SIGINT)
            try:
                job.process.wait(timeout=self.settings.train_stop_seconds)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
        if job.reader is not None:  # it marks the run and writes the last event
            job.reader.join(timeout=5)


def _last_line(path: Path | None, offset: int = 0) -> str:
    """The last non-empty line this attempt wrote to the child's log (its error, when it
    crashed; nothing for a process killed outright)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = text.strip().splitlines()
    return lines[-1][:300] if lines else ""


def _parameter_count(config: Any) -> int:
    """The network's parameters, counted without allocating them (on the meta device)."""
    import torch

    from threefigures.models import create_model

    with torch.device("meta"):
        model = create_model(config.model.name, config.model)
    return sum(p.numel() for p in model.parameters())


#: The largest CNN kernel the page may ask for.
MAX_KERNEL = 9


#: The models the page offers (the ones ``threefigures train`` takes on images).
PAGE_MODELS = ("perceptron", "mlp", "cnn", "rnn")
