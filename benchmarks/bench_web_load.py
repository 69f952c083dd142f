"""A bounded load test of the web server with good and bad requests mixed: a real
``threefigures serve`` process on loopback, 20 concurrent clients, 2,000 requests drawn from
32 kinds (drawings, real PNG photos, non-images, truncated and bomb PNGs, ragged arrays,
NaN, strings, nested and invalid JSON, bodies over the limits by Content-Length and while
streaming, unknown runs, path traversal in run ids and figure names, wrong content types).

Prints the count per status code, the number of 5xx, connection errors and answers other
than the kind's expected status, p50/p99 latency overall and per kind, and the server
process's resident memory (VmRSS from /proc/PID/status) at start, after a warm-up (by
default as many requests of the same mix as the load, not counted), and after the load.
Exits 1 when there is any 5xx, any connection error, any unexpected status, or the RSS grew
by 50 MB or more during the load.

Why the gate starts after a warm-up: the first requests load the model, Captum and torch's
autograd, and glibc gives each thread of the server's thread pool (uploads, file routes) its
own malloc arena, which grows to the high-water mark of the requests that thread happened to
serve. Measured on 2 CPUs, RSS after each round of 500 requests: 677, 699, 724, 732, 732,
729, 742, 739 MB (from 602 at start), i.e. it levels off after ~2,000 requests; with
MALLOC_ARENA_MAX=2 in the server's environment: 625, 634, 632, 636, 633, 633, 633, 630 MB.
Neither is a leak; a leak grows with every round.

    python benchmarks/bench_web_load.py                    # trains a small run first
    python benchmarks/bench_web_load.py --store runs/threefigures.db --requests 5000

tests/web/test_web_reliability.py runs a smaller version (300 requests, 10 clients, after 300 of
warm-up, the server with MALLOC_ARENA_MAX=2 so that only a real leak could fail it) through
:func:`start_server`, :func:`build_requests` and :func:`run_load`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

JSON = {"Content-Type": "application/json"}
MAX_RSS_GROWTH_MB = 50.0


@dataclass(frozen=True)
class Req:
    """One kind of request and the status it must get."""

    kind: str
    method: str
    path: str
    expect: int
    content: bytes | Callable[[], AsyncIterator[bytes]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


@dataclass
class LoadResult:
    statuses: Counter[int]
    latencies: dict[str, list[float]]  # kind → seconds
    unexpected: list[str]  # "kind: got S, expected E (error text)"
    errors: list[str]  # no HTTP answer at all
    wall: float

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentiles_ms(self, *qs: float) -> list[float]:
        every = [t for ts in self.latencies.values() for t in ts]
        if not every:
            return [float("nan")] * len(qs)
        return [float(v) for v in np.percentile(np.asarray(every) * 1000, qs)]


# --- bodies -------------------------------------------------------------------------------------


def drawing(side: int, seed: int) -> list[list[float]]:
    """White ink on black, like the page sends: a few random strokes, grey values rounded."""
    rng = random.Random(seed)
    big = 5 * side
    pad = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(pad)
    for _ in range(rng.randint(1, 3)):
        points = [(rng.uniform(0.2, 0.8) * big, rng.uniform(0.15, 0.85) * big) for _ in range(3)]
        draw.line(points, fill=255, width=max(2, big // 11), joint="curve")
    small = np.asarray(pad.resize((side, side), Image.Resampling.BOX), dtype=np.float64) / 255
    out: list[list[float]] = np.round(small, 2).tolist()
    return out


def photo(size: int, seed: int) -> bytes:
    """A PNG like a phone photo of a digit: dark ink on light, slightly noisy paper."""
    rng = np.random.default_rng(seed)
    paper = rng.normal(232, 6, (size, size, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(paper, "RGB")
    d = ImageDraw.Draw(img)
    s = size / 200
    d.line([(50 * s, 50 * s), (150 * s, 50 * s), (80 * s, 160 * s)], fill=(25, 25, 30), width=14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming a huge image (Pillow's decompression-bomb guard)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _body(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _streamed_upload(size: int) -> Callable[[], AsyncIterator[bytes]]:
    """A multipart upload of ``size`` bytes sent chunked, without a Content-Length."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n\x89PNG"
        sent = 0
        while sent < size:
            yield b"\0" * 65536
            sent += 65536
        yield b"\r\n--bnd--\r\n"

    return chunks


def _post(kind: str, expect: int, body: bytes, path: str = "/api/predict") -> Req:
    return Req(kind, "POST", path, expect, body, JSON)


def _upload(kind: str, expect: int, name: str, data: bytes) -> Req:
    return Req(kind, "POST", "/api/predict", expect, files={"file": (name, data, "image/png")})


def build_requests(run_id: str, max_upload: int, max_json: int, seed: int = 0) -> list[Req]:
    """Every kind of request once; valid drawings appear with several bodies."""
    figures = f"/api/runs/{run_id}/figures"
    by_id = f"/api/predict?run={run_id}"
    ig = {"method": "integrated-gradients"}
    good = [_post("drawing-56", 200, _body({"pixels": drawing(56, s)})) for s in range(4)]
    good += [
        _post("drawing-28-ig", 200, _body({"pixels": drawing(28, 9), **ig})),
        _post("drawing-by-id", 200, _body({"pixels": drawing(112, 5)}), by_id),
        _upload("upload-photo", 200, "7.png", photo(200, seed)),
        _upload("upload-big-photo", 200, "p.png", photo(900, seed)),  # ~1.5 MB: spooled to disk
        _upload("traversal-filename", 200, "../../evil.png", photo(120, 3)),
        Req("list-runs", "GET", "/api/runs", 200),
        Req("run-detail", "GET", f"/api/runs/{run_id}", 200),
        Req("figure", "GET", f"{figures}/figure1.png", 200),
        Req("health", "GET", "/health", 200),
    ]
    ragged = drawing(28, 1)
    ragged[5] = ragged[5][:-3]
    strings = [[str(v) for v in row] for row in drawing(28, 2)]
    nan = b'{"pixels":[' + b"[NaN,0,0,0,0,0,0,0]," * 7 + b"[0,0,0,0,0,0,0,1]]}"
    nested = b'{"pixels":' + b"[" * 5000 + b"]" * 5000 + b"}"
    oversized_json = b'{"pixels":[' + b"0," * (max_json // 2) + b"0]}"
    multipart = {"Content-Type": "multipart/form-data; boundary=bnd"}
    stream = _streamed_upload(max_upload + 200_000)
    bad = [
        _upload("not-an-image", 422, "x.png", b"hello, world"),
        _upload("truncated-png", 422, "t.png", photo(200, 1)[:400]),
        _upload("bomb-png", 422, "b.png", png_claiming(40000, 40000)),
        _upload("empty-file", 422, "e.png", b""),
        _upload("oversized-upload", 413, "big.png", b"\x89PNG" + bytes(max_upload + 100_000)),
        Req("streamed-oversized-upload", "POST", "/api/predict", 413, stream, multipart),
        _post("ragged", 422, _body({"pixels": ragged})),
        _post("nan", 422, nan),
        _post("strings", 422, _body({"pixels": strings})),
        _post("blank", 422, _body({"pixels": [[0.0] * 28] * 28})),
        _post("invalid-json", 400, b'{"pixels": [[0.5,'),
        _post("nested-json", 400, nested),
        _post("oversized-json", 413, oversized_json),
        Req("text-plain", "POST", "/api/predict", 415, b"0,0,1", {"Content-Type": "text/plain"}),
        _post("unknown-run", 404, _body({"pixels": drawing(28, 4)}), "/api/predict?run=nope"),
        _post("traversal-run-predict", 404, _body({"pixels": drawing(28, 6)}),
              "/api/predict?run=..%2F..%2Fthreefigures.db"),
        Req("unknown-run-detail", "GET", "/api/runs/no-such-run", 404),
        Req("traversal-run", "GET", "/api/runs/..%2F..%2Fetc%2Fpasswd", 404),
        Req("traversal-run-double", "GET", "/api/runs/%252e%252e%252fetc%252fpasswd", 404),
        Req("traversal-figure", "GET", f"{figures}/..%2F..%2Fconfig.json", 404),
        Req("traversal-figure-abs", "GET", f"{figures}/%2Fetc%2Fpasswd", 404),
        Req("traversal-figure-nul", "GET", f"{figures}/figure1.png%00.json", 404),
    ]  # fmt: skip
    return good + bad


def schedule(kinds: list[Req], n: int, seed: int = 0) -> list[Req]:
    """``n`` requests: every kind at least once, then half valid, half invalid, shuffled."""
    rng = random.Random(seed)
    valid = [r for r in kinds if r.expect == 200]
    invalid = [r for r in kinds if r.expect != 200]
    picks = list(kinds)
    while len(picks) < n:
        picks.append(rng.choice(valid if len(picks) % 2 else invalid))
    picks = picks[:n]
    rng.shuffle(picks)
    return picks


# --- running ----------------------------------------------------------------------------------


async def run_load(url: str, requests: list[Req], concurrency: int) -> LoadResult:
    """Send ``requests`` from ``concurrency`` clients, each sending its next request as soon as
    it has the previous answer."""
    result = LoadResult(Counter(), defaultdict(list), [], [], 0.0)
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:

        async def worker() -> None:
            for req in queue:
                content = req.content() if callable(req.content) else req.content
                started = time.perf_counter()
                try:
                    response = await client.request(
                        req.method, req.path, content=content, headers=req.headers, files=req.files
                    )
                except httpx.HTTPError as exc:
                    result.errors.append(f"{req.kind}: {type(exc).__name__}: {exc}")
                    continue
                result.latencies[req.kind].append(time.perf_counter() - started)
                result.statuses[response.status_code] += 1
                if response.status_code != req.expect:
                    result.unexpected.append(
                        f"{req.kind}: got {response.status_code}, expected {req.expect} "
                        f"({response.text[:160]!r})"
                    )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.wall = time.perf_counter() - started
    return result


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (VmRSS; Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def report(result: LoadResult, rss: tuple[float, float, float], concurrency: int) -> list[str]:
    """The numbers as printable lines; the last line says PASS or FAIL."""
    start, warm, end = rss
    n = sum(result.statuses.values())
    p50, p99 = result.percentiles_ms(50, 99)
    lines = [
        f"{n + len(result.errors)} requests · {concurrency} concurrent clients · "
        f"{result.wall:.1f} s · {n / max(result.wall, 1e-9):.0f} requests/s",
        "status codes: "
        + ", ".join(f"{code} × {count}" for code, count in sorted(result.statuses.items())),
        f"5xx: {result.server_errors}   connection errors: {len(result.errors)}   "
        f"unexpected statuses: {len(result.unexpected)}",
        f"latency p50 {p50:.1f} ms   p99 {p99:.1f} ms",
        f"server RSS: {start:.1f} MB at start, {warm:.1f} MB after the warm-up, {end:.1f} MB "
        f"after the load: grew {end - warm:+.1f} MB during the load "
        f"(limit < {MAX_RSS_GROWTH_MB:.0f} MB; {end - start:+.1f} MB since start)",
        "per kind (n, p50 ms):",
    ]
    for kind, times in sorted(result.latencies.items()):
        lines.append(f"  {kind:28s} {len(times):5d} {1000 * float(np.median(times)):8.1f}")
    lines += [f"  UNEXPECTED {u}" for u in result.unexpected[:10]]
    lines += [f"  ERROR {e}" for e in result.errors[:10]]
    failed = failures(result, rss)
    lines.append("FAIL: " + "; ".join(failed) if failed else "PASS")
    return lines


def failures(result: LoadResult, rss: tuple[float, float, float]) -> list[str]:
    out = []
    if result.server_errors:
        out.append(f"{result.server_errors} answers were 5xx")
    if result.errors:
        out.append(f"{len(result.errors)} requests got no answer")
    if result.unexpected:
        out.append(f"{len(result.unexpected)} answers had an unexpected status")
    if rss[2] - rss[1] >= MAX_RSS_GROWTH_MB:
        out.append(f"server RSS grew {rss[2] - rss[1]:.1f} MB")
    return out


# --- the command --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_small(folder: Path) -> Path:
    """A small real run (sklearn's digits, MLP [64], 2 epochs) through the CLI."""
    store = folder / "threefigures.db"
    cmd = [sys.executable, "-m", "threefigures", "--store", str(store), "train"]
    cmd += ["--data", "sklearn-digits", "--layers", "64", "--epochs", "2", "--quiet"]
    cmd += ["--device", "cpu"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"trained a small run in {time.perf_counter() - started:.1f} s")
    return store


def start_server(
    store: Path, port: int, env: dict[str, str] | None = None, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`threefigures serve` on 127.0.0.1:``port`` (plus ``extra`` options), once it answers
    /health."""
    cmd = [sys.executable, "-m", "threefigures", "serve", "--store", str(store)]
    cmd += ["--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"the server exited ({proc.returncode}):\n{err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def main() -> int:
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="runs store (default: train a small run)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=2000, help="requests not counted")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or train_small(Path(tmp))
        port = free_port()
        server = start_server(store, port)
        try:
            url = f"http://127.0.0.1:{port}"
            health = httpx.get(f"{url}/health").json()
            if health["default_run"] is None:
                raise SystemExit(f"{store} has no finished run to answer with")
            kinds = build_requests(
                health["default_run"], health["max_upload_bytes"], health["max_json_bytes"]
            )
            start = rss_mb(server.pid)
            warmup = asyncio.run(
                run_load(url, schedule(kinds, args.warmup, args.seed + 1), args.concurrency)
            )
            warm = rss_mb(server.pid)
            load = asyncio.run(
                run_load(url, schedule(kinds, args.requests, args.seed), args.concurrency)
            )
            end = rss_mb(server.pid)
            if server.poll() is not None:
                raise SystemExit(f"the server died during the load ({server.returncode})")
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"threefigures serve (pid {server.pid}) on loopback · {os.cpu_count()} CPUs")
    valid = sum(k.expect == 200 for k in kinds)
    print(f"{len({k.kind for k in kinds})} kinds, {len(kinds)} distinct requests ({valid} valid)")
    if warmup.server_errors or warmup.errors:
        print(f"warm-up: {warmup.server_errors} 5xx, {len(warmup.errors)} connection errors")
    lines = report(load, (start, warm, end), args.concurrency)
    print("\n".join(lines))
    bad_warmup = warmup.server_errors > 0 or bool(warmup.errors)
    return 0 if lines[-1] == "PASS" and not bad_warmup else 1


if __name__ == "__main__":
    sys.exit(main())
