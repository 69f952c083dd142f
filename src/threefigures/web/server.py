"""Running the app under uvicorn: in the foreground for ``threefigures serve``, or in a
background thread on a socket of its own (tests, benchmarks, screenshots)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

from threefigures.web.settings import Settings


def _set_threads(settings: Settings) -> None:
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)


def run_server(settings: Settings) -> None:
    """Serve until Ctrl-C. Binds ``settings.host`` (127.0.0.1 unless told otherwise)."""
    import uvicorn

    from threefigures.web.app import create_app

    settings = settings.validate()
    _set_threads(settings)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


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
        config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False)
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
