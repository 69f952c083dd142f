"""Do drawings stay fast while the page trains a network? A real ``threefigures serve``
process on loopback; one client sends drawings one after another (as a user drawing does)
first with the server idle, then while a training started by ``POST /api/train`` runs in
its child process. Prints p50/p90/p99 of ``/api/predict`` in both phases, their ratio, and
the training's own speed from its batch events (printed, not asserted).

    python benchmarks/bench_web_train.py [--requests 400] [--data fashion-mnist]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

# run as a script, benchmarks/ is on sys.path
from bench_web import DRAWINGS, drawing_body, train_demo
from bench_web_load import free_port, start_server
from machine import machine_line


def latencies(url: str, run: str, n: int) -> np.ndarray:
    """Milliseconds of ``n`` drawings sent one after another."""
    bodies = [drawing_body(d) for d in DRAWINGS]
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n):
            started = time.perf_counter()
            response = client.post(
                f"/api/predict?run={run}",
                content=bodies[i % len(bodies)],
                headers={"content-type": "application/json"},
            )
            out.append(1000 * (time.perf_counter() - started))
            assert response.status_code == 200, response.text
    return np.asarray(out)


def row(name: str, ms: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"{name:<28} {p50:>7.2f} {p90:>7.2f} {p99:>7.2f} {ms.max():>8.2f}"


class Watch:
    """Reads a training's events in a thread: its batch speeds and when it ended."""

    def __init__(self, url: str, events: str) -> None:
        self.speeds: list[float] = []
        self.batches = 0
        self.ended = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(url + events,), daemon=True)
        self.thread.start()

    def _read(self, url: str) -> None:
        name = None
        with httpx.stream("GET", url, timeout=None) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data: dict[str, Any] = json.loads(line[6:])
                    if name == "batch":
                        self.batches += 1
                        self.started.set()
                        if data.get("examples_per_second"):
                            self.speeds.append(float(data["examples_per_second"]))
                    if name in ("end", "error"):
                        self.ended.set()
                        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        store = train_demo(Path(tmp))
        port = free_port()
        server = start_server(store, port)
        url = f"http://127.0.0.1:{port}"
        try:
            run = httpx.get(f"{url}/health").json()["default_run"]
            latencies(url, run, 50)  # warm up
            idle = latencies(url, run, args.requests)
            body = {"data": args.data, "model": "mlp", "epochs": args.epochs}
            started = httpx.post(f"{url}/api/train", json=body, timeout=120).json()
            watch = Watch(url, started["events"])
            if not watch.started.wait(120):
                raise SystemExit("the training sent no batch event within 120 s")
            busy = latencies(url, run, args.requests)
            training_still = not watch.ended.is_set()
            httpx.post(f"{url}/api/train/{started['run']}/stop")
            watch.ended.wait(60)
        finally:
            server.terminate()
            server.wait(30)
    print(f"{args.requests} drawings one after another; training {body}")
    print(f"{'phase':<28} {'p50 ms':>7} {'p90':>7} {'p99':>7} {'max':>8}")
    print(row("idle", idle))
    print(row("while training", busy))
    print(
        f"p99 while training / idle: {np.percentile(busy, 99) / np.percentile(idle, 99):.2f}×"
        + ("" if training_still else "  (the training ended before the last drawing)")
    )
    if watch.speeds:
        print(
            f"training meanwhile: {np.median(watch.speeds):,.0f} examples/s (median of "
            f"{len(watch.speeds)} batch events)"
        )


if __name__ == "__main__":
    main()
