"""Running the app under uvicorn: in the foreground for ``threefigures serve``, or in a
background thread on a socket of its own (tests, benchmarks, screenshots)."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from threefigures.errors import ConfigError, ThreeFiguresError
from threefigures.web.settings import SETTINGS_ENV, Settings

#: The exit status with which a uvicorn worker says it could not start (uvicorn.config's
#: STARTUP_FAILURE): the parent then stops instead of starting another worker.
STARTUP_FAILURE = 3
#: Seconds Ctrl-C waits for open requests before closing them: an event stream of a
#: training lasts as long as the training, and only after the streams close does the app's
#: shutdown stop the training (saved and marked interrupted).
GRACEFUL_SECONDS = 3

if TYPE_CHECKING:
    from fastapi import FastAPI


def _set_threads(settings: Settings) -> None:
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)


def exposure_warning(host: str, *, train: bool = True) -> str | None:
    """The line printed when the server is bound to ``host``: None for a loopback address
    (the default 127.0.0.1), a warning for anything another machine could reach."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return None
    try:
        if ipaddress.ip_address(name).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to a public interface
    where = " (every network interface)" if name in ("0.0.0.0", "::") else ""
    return (
        f"warning: --host {host}{where} serves the page beyond this machine: anyone who can "
        "reach it can use the page, run the models, "
        + ("start trainings on this machine, " if train else "")
        + "and read every run's configuration, figures and reports (there is no login). Use "
        "--host 127.0.0.1 (the default) to keep it on this machine"
        + (", or --no-train to keep the page from training." if train else ".")
    )


def run_server(settings: Settings) -> None:
    """Serve until Ctrl-C. Binds ``settings.host`` (127.0.0.1 unless told otherwise), and
    warns on stderr when that is not a loopback address."""
    import uvicorn

    from threefigures.web.app import create_app

    settings = settings.validate()
    warning = exposure_warning(settings.host, train=settings.train_enabled)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    if settings.workers > 1:
        # uvicorn starts each worker process fresh and has it build the app from an import
        # string; the settings travel in the environment. A store that cannot be opened is
        # reported here, once, before any worker starts.
        from threefigures.runs.store import Store

        Store(settings.store)
        os.environ[SETTINGS_ENV] = settings.to_json()
        try:
            uvicorn.run(
                "threefigures.web.server:app_from_environment",
                factory=True,
                workers=settings.workers,
                host=settings.host,
                port=settings.port,
                log_level="info",
                access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
            )
        finally:
            os.environ.pop(SETTINGS_ENV, None)
        return
    _set_threads(settings)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


def app_from_environment() -> FastAPI:
    """A worker process's app, from the settings :func:`run_server` put in the environment.

    If the app cannot be built, the worker says why in one line and exits with uvicorn's
    start-up failure status, which stops the parent: any other exit would have it start
    replacement workers that fail the same way, forever.
    """
    from threefigures.web.app import create_app

    try:
        text = os.environ.get(SETTINGS_ENV)
        if text is None:
            raise ConfigError(f"{SETTINGS_ENV} is not set: start workers with `threefigures serve`")
        settings = Settings.from_json(text).validate()
        _set_threads(settings)
        return create_app(settings)
    except Exception as exc:  # any failure here would repeat in every replacement worker
        detail = str(exc) if isinstance(exc, ThreeFiguresError) else f"{type(exc).__name__}: {exc}"
        print(f"error: {detail}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)


class BackgroundServer:
    """The app served by uvicorn in a daemon thread on a free loopback port.

    The socket is bound before the thread starts, so ``url`` is right from the start and no
    other process can take the port in between. Use as a context manager.
    """

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1") -> None:
        import uvicorn

        from threefigures.web.app import create_app

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
