"""Latency of ``POST /api/predict`` under load: a real ``threefigures serve`` process on
loopback, 20 concurrent clients sending 2,000 drawings as the page sends them (56×56 grey
bytes, base64 in JSON; ``--form pixels`` sends nested arrays of values in [0, 1] instead).
Prints p50/p90/p99/max, throughput and the number of errors; the target is p99 ≤ 50 ms with
0 errors (printed, not asserted).

    python benchmarks/bench_web.py                         # trains the demo network first
    python benchmarks/bench_web.py --store runs/threefigures.db --run latest

The server runs in its own process so that the client's CPU time (httpx, asyncio) does not
share a GIL with it; on a 2-core machine the two still share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

# run as a script, benchmarks/ is on sys.path: the server plumbing is bench_web_load's
from bench_web_load import free_port, start_server

PAD = 280  # the page's drawing pad, in canvas pixels
SEND = 56  # the side the page downsamples it to

#: A few digits as the page's users draw them: strokes in fractions of the pad's side.
DRAWINGS = [
    [[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]],  # 7
    [[(0.35, 0.15), (0.25, 0.55), (0.75, 0.55)], [(0.62, 0.25), (0.62, 0.88)]],  # 4
    [[(0.5, 0.15), (0.5, 0.85)]],  # 1
    [[(0.28, 0.3), (0.4, 0.17), (0.6, 0.17), (0.7, 0.32), (0.62, 0.5), (0.28, 0.82), (0.75, 0.82)]],
    [[(0.3, 0.2), (0.6, 0.17), (0.68, 0.32), (0.45, 0.48), (0.7, 0.62), (0.62, 0.8), (0.3, 0.8)]],
    [[(0.5, 0.15), (0.32, 0.3), (0.3, 0.65), (0.5, 0.85), (0.68, 0.65), (0.7, 0.3), (0.5, 0.15)]],
]


def drawing_body(strokes: list[list[tuple[float, float]]], form: str = "gray") -> bytes:
    """The JSON the page POSTs for these strokes: white ink, 56×56, as base64 grey bytes
    (``form="gray"``, what app.js sends) or as nested arrays of values with two decimals
    (``form="pixels"``, the other form the API takes)."""
    pad = Image.new("L", (PAD, PAD), 0)
    draw = ImageDraw.Draw(pad)
    for points in strokes:
        xy = [(x * PAD, y * PAD) for x, y in points]
        draw.line(xy, fill=255, width=PAD // 11, joint="curve")
    small = pad.resize((SEND, SEND), Image.Resampling.BOX)
    if form == "gray":
        data = base64.b64encode(small.tobytes()).decode()
        gray = {"width": SEND, "height": SEND, "data": data}
        return json.dumps({"gray": gray}, separators=(",", ":")).encode()
    rows = np.round(np.asarray(small, dtype=np.float64) / 255, 2).tolist()
    rows = [[int(v) if v.is_integer() else v for v in row] for row in rows]  # as JSON.stringify
    return json.dumps({"pixels": rows}, separators=(",", ":")).encode()


def train_demo(folder: Path) -> Path:
    """The Figure 1 MLP with the demo's defaults (784 → 256 → 10, digits, 3 epochs)."""
    from threefigures.config import RunConfig
    from threefigures.runner import train_run
    from threefigures.runs.store import Store

    store = Store(folder / "runs" / "threefigures.db")
    started = time.perf_counter()
    outcome = train_run(RunConfig(), store=store)
    assert outcome is not None
    print(
        f"trained the demo network in {time.perf_counter() - started:.1f} s "
        f"(test accuracy {100 * outcome.test.accuracy:.2f}%)"
    )
    return store.path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children, e.g. uvicorn's workers (Linux
    /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(k) for k in children.read_text().split()]
    except OSError:
        kids = []
    return own + sum(cpu_seconds(k) for k in kids)


async def load(
    url: str, bodies: list[bytes], requests: int, concurrency: int
) -> tuple[list[float], list[float], list[str], float]:
    """``requests`` POSTs from ``concurrency`` clients, each sending as soon as it has its
    answer. Returns latencies (s), the server's own compute times (ms), errors, wall time."""
    latencies: list[float] = []
    compute: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/predict", content=bodies[i % len(bodies)], headers=headers
                    )
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                else:
                    compute.append(float(response.json()["compute_ms"]))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, compute, errors, time.perf_counter() - started


_COMPUTE = re.compile(rb'"compute_ms":([0-9.eE+-]+)')


async def load_raw(
    url: str, bodies: list[bytes], requests: int, concurrency: int
) -> tuple[list[float], list[float], list[str], float]:
    """:func:`load` with a lean client: HTTP/1.1 keep-alive over asyncio streams (uvloop when
    installed), a few lines of parsing per answer. httpx spends ~2–4 ms of CPU per request
    here, which on 2 cores is taken from the server being measured; this client ~0.3 ms."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    compute: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    requests_bytes = [
        (
            f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in counter:
                started = time.perf_counter()
                writer.write(requests_bytes[i % len(requests_bytes)])
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                    payload = await reader.readexactly(length)
                except (OSError, asyncio.IncompleteReadError, AttributeError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                latencies.append(time.perf_counter() - started)
                status = int(head.split(b" ", 2)[1])
                found = _COMPUTE.search(payload)
                if status != 200 or found is None:
                    errors.append(f"HTTP {status}: {payload[:200]!r}")
                else:
                    compute.append(float(found.group(1)))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, compute, errors, time.perf_counter() - started


def machine_check() -> float:
    """Milliseconds for a fixed piece of Python and NumPy work like a request's (best of 5).

    This machine's speed drifts by a third or more over an hour (shared host): printed beside
    the latencies so runs can be compared."""
    from threefigures.data.preprocess import preprocess_array

    drawing = np.zeros((56, 56), dtype=np.float32)
    drawing[10:46, 25:31] = 1.0
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(50):
            preprocess_array(drawing, name="check")
            json.loads(json.dumps({"pixels": drawing.tolist()}))
        best = min(best, (time.perf_counter() - started) * 1000 / 50)
    return best


def run_loop(coro: Any) -> Any:
    """asyncio.run, on uvloop when it is installed (the client's own overhead is smaller)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="runs store (default: train the demo)")
    parser.add_argument("--run", default="latest", help="run id or latest")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=100, help="requests not counted")
    parser.add_argument("--single", type=int, default=300, help="requests from one client first")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: raw asyncio sockets (default, ~0.3 ms CPU per request) or httpx",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--form",
        choices=("gray", "pixels"),
        default="gray",
        help="drawing as base64 bytes (default: what the page sends) or as nested arrays",
    )
    args = parser.parse_args()
    send = load_raw if args.client == "raw" else load

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or train_demo(Path(tmp))
        port = free_port()
        server = start_server(
            store, port, extra=["--run", args.run, "--workers", str(args.workers)]
        )
        try:
            url = f"http://127.0.0.1:{port}"
            bodies = [drawing_body(d, args.form) for d in DRAWINGS]
            run_loop(send(url, bodies, args.warmup, args.concurrency))
            single, _c, single_errors, _w = run_loop(send(url, bodies, args.single, 1))
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            latencies, compute, errors, wall = run_loop(
                send(url, bodies, args.requests, args.concurrency)
            )
            server_cpu = cpu_seconds(server.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
            errors += single_errors
        finally:
            server.terminate()
            server.wait(timeout=30)

    ms = np.asarray(latencies) * 1000
    fast = [m for m in ("httptools", "uvloop") if importlib.util.find_spec(m) is not None]
    print(f"uvicorn with {' + '.join(fast) or 'h11 + asyncio (no httptools/uvloop installed)'}")
    print(f"load generator: {args.client} client in one process")
    print(f"machine check: {machine_check():.2f} ms per reference request-sized job")
    print(
        f"POST /api/predict · {args.requests} requests · {args.concurrency} concurrent clients · "
        f"{len(bodies[0]):,}-byte drawings ({args.form}) · loopback · {os.cpu_count()} CPUs · "
        f"{args.workers} server process{'es' if args.workers > 1 else ''}"
    )
    if len(ms):
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        print(
            f"latency  p50 {p50:.1f} ms   p90 {p90:.1f} ms   p99 {p99:.1f} ms   "
            f"max {ms.max():.1f} ms   (target p99 ≤ 50 ms)"
        )
        print(f"server compute per request: median {np.median(compute):.2f} ms")
    n = max(1, len(latencies))
    print(
        f"CPU per request: server {1000 * server_cpu / n:.2f} ms, "
        f"this client {1000 * client_cpu / n:.2f} ms (they share the machine's cores)"
    )
    if single:
        one = np.asarray(single) * 1000
        print(
            f"one client alone ({len(one)} requests): p50 {np.percentile(one, 50):.1f} ms   "
            f"p99 {np.percentile(one, 99):.1f} ms"
        )
    print(f"throughput {len(ms) / wall:.0f} requests/s over {wall:.1f} s")
    print(f"errors {len(errors)}")
    for line in errors[:5]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
