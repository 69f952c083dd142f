"""The web app through FastAPI's TestClient: every route, and every kind of bad input as a
clear 4xx ``{"error": ...}`` (never a 500)."""

from __future__ import annotations

import base64
import io
import json
import shutil
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from helpers import make_synthetic, untrained_run
from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.errors import ConfigError
from threefigures.runs.store import Store

fastapi = pytest.importorskip("fastapi")
with warnings.catch_warnings():  # starlette's note that it prefers httpx2: not ours to fix
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

from threefigures.web.app import create_app  # noqa: E402
from threefigures.web.schemas import PredictResponse  # noqa: E402
from threefigures.web.service import to_json  # noqa: E402
from threefigures.web.settings import MIB, Settings  # noqa: E402

SMALL_UPLOAD = 20_000  # bytes: the limit of the `small` app below


@dataclass
class Served:
    store: Store
    run_id: str
    gone_id: str  # a run whose folder was deleted
    names_id: str  # a run of a names (text) model
    client: TestClient
    small: TestClient  # the same store with a 20 kB upload limit


def _fake_run(store: Store, run_id: str, config: dict[str, Any], folder: Path) -> str:
    store.create_run(
        config=config,
        data_name="synthetic",
        model_name=config["model"]["name"],
        epochs=1,
        run_dir=folder,
        run_id=run_id,
    )
    store.set_status(run_id, "interrupted")  # not "finished": `latest` stays the real run
    return run_id


def broken_runs(store: Store, root: Path) -> None:
    """Runs whose files are there but damaged: weights cut short, weights that are a pickle,
    a config.json that is not JSON, one that is JSON of the wrong shape."""
    import pickle

    tiny = ModelConfig(layers=(16,))
    for run_id in ("cut-weights", "pickle-weights", "bad-config", "wrong-config"):
        untrained_run(store, run_id, tiny, root / run_id)
    weights = root / "cut-weights" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (root / "pickle-weights" / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2]}))
    (root / "bad-config" / "config.json").write_text('{"format": 1, "run": {')
    (root / "wrong-config" / "config.json").write_text('["not", "a", "config"]')


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One tiny real run (synthetic blocks, 1 epoch) plus two broken ones, in a tmp store."""
    from threefigures.runner import train_run

    root = tmp_path_factory.mktemp("web")
    store = Store(root / "runs" / "threefigures.db")
    config = RunConfig(model=ModelConfig(layers=(64,)), train=TrainConfig(epochs=1, device="cpu"))
    outcome = train_run(config, store=store, data=make_synthetic(n_train=300, n_test=100))
    assert outcome is not None
    run = outcome.run
    gone = _fake_run(store, "gone-run", run.config, root / "deleted-folder")
    names_config = json.loads(json.dumps(run.config))
    names_config["model"].update(name="rnn", vocab_size=29, input_shape=[1, 1, 12])
    names = _fake_run(store, "names-run", names_config, root / "names-folder")
    broken_runs(store, root)
    with (
        TestClient(create_app(Settings(store=store.path))) as client,
        TestClient(create_app(Settings(store=store.path, max_upload_bytes=SMALL_UPLOAD))) as small,
    ):
        yield Served(store, run.id, gone, names, client, small)


# --- helpers --------------------------------------------------------------------------------


def stroke(side: int = 28, col: int | None = None) -> list[list[float]]:
    """A drawing like the page sends: a vertical bar of ink (a "1") on black."""
    px = np.zeros((side, side))
    c = side // 2 if col is None else col
    px[side // 5 : side - side // 5, c - side // 14 : c + side // 14 + 1] = 1.0
    return px.tolist()


def gray(rows: list[list[float]]) -> dict[str, Any]:
    """A drawing as the page sends it: {"width", "height", "data": base64 grey bytes}."""
    values = np.rint(np.asarray(rows) * 255).astype(np.uint8)  # (H, W)
    data = base64.b64encode(values.tobytes()).decode()
    return {"width": values.shape[1], "height": values.shape[0], "data": data}


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def photo_of_a_seven(size: int = 200) -> bytes:
    """Dark ink on light paper, as a phone photo of a drawn digit would be."""
    img = Image.new("RGB", (size, size), (236, 234, 228))
    d = ImageDraw.Draw(img)
    d.line([(50, 50), (150, 50), (80, 160)], fill=(25, 25, 30), width=14)
    return png(img)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: Pillow's decompression-bomb guard must refuse it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def assert_error(response: Any, status: int, fragment: str = "") -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    assert fragment.lower() in body["error"].lower(), body["error"]
    return str(body["error"])


def schema_checked(answer: dict[str, Any] | bytes) -> PredictResponse:
    """An answer (the service's dict, or the bytes the route sent) held to PredictResponse:
    it validates, and dumping the model gives back exactly what was sent (no extra or
    missing keys, no value changed by validation)."""
    data = answer if isinstance(answer, bytes) else to_json(answer)
    model = PredictResponse.model_validate_json(data)
    assert json.loads(model.model_dump_json(by_alias=True)) == json.loads(data)
    return model


def assert_prediction(body: dict[str, Any], run_id: str) -> None:
    schema_checked(json.dumps(body).encode())
    assert body["run"] == run_id
    probs = body["probabilities"]
    assert len(probs) == len(body["classes"]) == 10
    assert abs(sum(probs) - 1.0) < 1e-4 and all(0.0 <= p <= 1.0 for p in probs)
    assert (
        body["index"] == int(np.argmax(probs)) and body["class"] == body["classes"][body["index"]]
    )
    assert body["top"][0]["index"] == body["index"]
    assert [t["probability"] for t in body["top"]] == sorted(
        (t["probability"] for t in body["top"]), reverse=True
    )
    seen = np.asarray(body["input"])
    assert seen.shape == (28, 28) and seen.min() >= 0.0 and seen.max() <= 1.0 and seen.sum() > 5
    amap = np.asarray(body["attribution"]["map"])
    assert amap.shape == (28, 28) and np.abs(amap).max() == pytest.approx(1.0, abs=1e-3)
    assert body["attribution"]["target"] == body["index"]
    (hidden,) = body["activations"]
    assert hidden["name"] == "hidden 1" and hidden["shape"] == [64]
    assert len(hidden["values"]) == 64 and min(hidden["values"]) >= 0.0  # ReLU


# --- pages, health, runs ------------------------------------------------------------------


def test_health_names_the_default_run(served: Served) -> None:
    body = served.client.get("/health").json()
    assert body["status"] == "ok" and body["default_run"] == served.run_id
    assert body["runs"] >= 3 and body["max_upload_bytes"] == 5 * MIB
    assert body["method"] == "saliency"


@pytest.mark.parametrize(
    ("path", "kind", "marker"),
    [
        ("/", "text/html", 'id="pad"'),
        ("/runs", "text/html", 'id="runs"'),
        ("/static/app.js", "javascript", "/api/predict"),
        ("/static/runs.js", "javascript", "/api/runs"),
        ("/static/style.css", "text/css", "@media"),
    ],
)
def test_pages_and_static_files_work_offline(
    served: Served, path: str, kind: str, marker: str
) -> None:
    response = served.client.get(path)
    assert response.status_code == 200 and kind in response.headers["content-type"]
    assert marker in response.text
    assert "http://" not in response.text and "https://" not in response.text  # no CDN
    if kind == "text/html":
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_api_runs_lists_every_run_with_its_files(served: Served) -> None:
    runs = {r["id"]: r for r in served.client.get("/api/runs").json()}
    assert {served.run_id, served.gone_id, served.names_id} <= set(runs)
    real = runs[served.run_id]
    assert real["files_present"] and real["image_model"] and real["model"] == "mlp [64]"
    assert {"figure1", "figure2", "figure3"} <= set(real["figures"])
    assert real["report"] == f"/api/runs/{served.run_id}/report"
    assert not runs[served.gone_id]["files_present"] and runs[served.gone_id]["figures"] == {}
    assert runs[served.gone_id]["report"] is None
    assert not runs[served.names_id]["image_model"]


@pytest.mark.parametrize("ref", ["id", "latest"])
def test_run_detail(served: Served, ref: str) -> None:
    body = served.client.get(f"/api/runs/{served.run_id if ref == 'id' else 'latest'}").json()
    assert body["id"] == served.run_id and body["status"] == "finished"
    assert body["classes"] == [f"c{i}" for i in range(10)]
    assert len(body["metrics"]) == 1 and body["metrics"][0]["epoch"] == 1
    assert body["config"]["model"]["layers"] == [64]


def test_every_listed_figure_and_the_report_are_served(served: Served) -> None:
    (run,) = [r for r in served.client.get("/api/runs").json() if r["id"] == served.run_id]
    for url in run["figures"].values():
        response = served.client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    bare = served.client.get(f"/api/runs/{served.run_id}/figures/figure2")  # no extension
    assert bare.status_code == 200 and bare.content.startswith(b"\x89PNG")
    report = served.client.get(run["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "data:image/png;base64," in report.text


@pytest.mark.parametrize(
    "name",
    [
        "config.json",
        "model.safetensors",
        "train_state",
        "report",
        "figure9.png",
        "..%2Fconfig.json",
        "%2e%2e%2f%2e%2e%2fthreefigures.db",
        "figure1.png%00",
        "inside%2Finside-attribution.png",
    ],
)
def test_figure_route_serves_only_figures(served: Served, name: str) -> None:
    response = served.client.get(f"/api/runs/{served.run_id}/figures/{name}")
    assert_error(response, 404)


def test_openapi_schema_matches_what_predict_returns(served: Served) -> None:
    schema = served.client.get("/openapi.json").json()
    post = schema["paths"]["/api/predict"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    for status in ("400", "404", "409", "413", "415", "422"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    components = schema["components"]["schemas"]
    refs = _refs(schema)
    assert "#/components/schemas/PixelsRequest" in refs
    assert "#/components/schemas/GrayImage" in refs  # reached through PixelsRequest.gray
    for ref in refs:  # every reference resolves (one to "#/$defs/…" once did not)
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref
    body = served.client.post("/api/predict", json={"pixels": stroke()}).json()
    assert set(body) == set(components["PredictResponse"]["properties"])
    assert set(body["top"][0]) == set(components["TopClass"]["properties"])
    run = served.client.get("/api/runs").json()[0]
    assert set(run) == set(components["RunSummary"]["properties"])
    health = served.client.get("/health").json()
    assert set(health) == set(components["Health"]["properties"])


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_page_that_needs_a_cdn(served: Served, path: str) -> None:
    """FastAPI's documentation pages load their scripts from cdn.jsdelivr.net: they are off
    (the page works offline); the schema itself is served."""
    assert_error(served.client.get(path), 404)
    assert served.client.get("/openapi.json").status_code == 200


def _refs(node: Any) -> set[str]:
    """Every "$ref" value anywhere in a JSON document."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for k, v in node.items() if k != "$ref"))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


# --- predictions ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [28, 56, 112])
def test_predict_a_drawing(served: Served, side: int) -> None:
    response = served.client.post("/api/predict", json={"pixels": stroke(side)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body, served.run_id)
    assert body["source"] == "drawing" and body["source_size"] == [side, side]
    assert body["inverted"] is False and body["attribution"]["method"] == "saliency"


@pytest.mark.parametrize("side", [28, 56])
def test_a_drawing_sent_as_gray_bytes_gets_the_answer_its_pixels_get(
    served: Served, side: int
) -> None:
    """The page sends bytes; the same drawing as nested values in [0, 1] is answered alike."""
    rows = (
        np.rint(np.asarray(stroke(side, col=side // 3)) * 200) / 255
    ).tolist()  # on the 1/255 grid
    as_pixels = served.client.post("/api/predict", json={"pixels": rows})
    as_gray = served.client.post("/api/predict", json={"gray": gray(rows)})
    assert as_pixels.status_code == as_gray.status_code == 200, as_gray.text
    a, b = as_pixels.json(), as_gray.json()
    assert_prediction(b, served.run_id)
    assert b["source_size"] == [side, side]
    for key in ("input", "probabilities", "activations", "attribution"):
        assert a[key] == b[key], key


def test_drawings_are_centred_like_mnist(served: Served) -> None:
    """A stroke at the left edge and one in the middle reach the network as the same image."""
    left = served.client.post("/api/predict", json={"pixels": stroke(56, col=6)}).json()
    middle = served.client.post("/api/predict", json={"pixels": stroke(56)}).json()
    assert np.allclose(left["input"], middle["input"], atol=1e-3)
    assert left["probabilities"] == middle["probabilities"]


def test_predict_run_and_method_from_query_or_body(served: Served) -> None:
    q = served.client.post(
        f"/api/predict?run={served.run_id}&method=integrated-gradients", json={"pixels": stroke()}
    )
    assert q.status_code == 200 and q.json()["attribution"]["method"] == "integrated-gradients"
    b = served.client.post(
        "/api/predict?run=no-such-run",
        json={"pixels": stroke(), "run": "latest", "method": "saliency"},
    )
    assert b.status_code == 200 and b.json()["run"] == served.run_id  # the body's run wins


def test_predict_an_uploaded_photo(served: Served) -> None:
    response = served.client.post(
        "/api/predict",
        files={"file": ("seven.png", photo_of_a_seven(), "image/png")},
        data={"run": served.run_id, "method": "integrated-gradients"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body, served.run_id)
    assert body["source"] == "upload" and body["inverted"] is True
    assert body["source_size"] == [200, 200]
    assert body["attribution"]["method"] == "integrated-gradients"


def test_models_are_cached_per_run(served: Served) -> None:
    service = served.client.app.state.service  # type: ignore[attr-defined]
    first = service.loaded(served.run_id).model
    served.client.post("/api/predict", json={"pixels": stroke()})
    assert service.loaded(None).model is first
    assert all(not p.requires_grad for p in first.parameters())


def test_concurrent_requests_get_their_own_answers(served: Served) -> None:
    """Activations are read with forward hooks on shared modules: requests must not mix."""
    service = served.client.app.state.service  # type: ignore[attr-defined]
    drawings = [stroke(56, col=c) for c in (10, 20, 28, 36, 46)]
    blocks = [np.zeros((56, 56)) for _ in range(3)]
    for i, b in enumerate(blocks):
        b[8 + 12 * i : 20 + 12 * i, 8:30] = 1.0
    drawings += [b.tolist() for b in blocks]
    expected = [schema_checked(service.predict_pixels(d, run=None, method=None)) for d in drawings]
    results: list[Any] = [None] * (4 * len(drawings))

    def worker(k: int) -> None:
        answer = service.predict_pixels(drawings[k % len(drawings)], run=None, method=None)
        results[k] = schema_checked(answer)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, got in enumerate(results):
        want = expected[k % len(drawings)]
        assert got.activations == want.activations and got.probabilities == want.probabilities


def _batch_drawings() -> list[list[list[float]]]:
    drawings = [stroke(56, col=c) for c in (10, 20, 28, 36, 46)]
    for i in range(3):
        block = np.zeros((56, 56))
        block[8 + 12 * i : 20 + 12 * i, 8:30] = 1.0
        drawings.append(block.tolist())
    return drawings


def test_a_batch_answers_each_drawing_as_it_would_be_answered_alone(served: Served) -> None:
    from threefigures.data.preprocess import preprocess_array
    from threefigures.web.service import Job, pixels_to_array

    service = served.client.app.state.service  # type: ignore[attr-defined]
    loaded = service.loaded(None)
    jobs = [
        Job(preprocess_array(pixels_to_array(d), name="drawing"), "drawing", 0.0)
        for d in _batch_drawings()
    ]
    for method in ("saliency", "integrated-gradients"):
        together = [schema_checked(a) for a in service.answer_many(loaded, jobs, method)]
        alone = [schema_checked(service.answer_many(loaded, [job], method)[0]) for job in jobs]
        assert len({a.index for a in alone}) > 1 or len({str(a.input) for a in alone}) > 1
        for got, want in zip(together, alone, strict=True):
            g = got.model_dump(exclude={"compute_ms"})
            w = want.model_dump(exclude={"compute_ms"})
            assert g["input"] == w["input"] and g["index"] == w["index"]
            assert np.allclose(g["probabilities"], w["probabilities"], atol=2e-6)
            assert np.allclose(g["attribution"]["map"], w["attribution"]["map"], atol=2e-3)
            for ga, wa in zip(g["activations"], w["activations"], strict=True):
                assert ga["shape"] == wa["shape"]
                assert np.allclose(ga["values"], wa["values"], atol=2e-4)


def _burst(app: Any, bodies: list[Any]) -> list[Any]:
    """POST every body to the app at once, on one event loop (as a busy server sees them)."""
    import asyncio

    import httpx

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/api/predict", json=b) for b in bodies))

    return asyncio.run(send())


def test_requests_arriving_together_are_answered_in_one_batch(served: Served) -> None:
    """Concurrent HTTP requests on the event loop share a batch, each gets its own answer,
    and a bad drawing among them fails alone."""
    app = create_app(Settings(store=served.store.path))
    batcher = app.state.batcher
    drawings = _batch_drawings()
    expected = [served.client.post("/api/predict", json={"pixels": d}).json() for d in drawings]
    bodies: list[Any] = [{"pixels": d} for d in drawings]
    bodies.insert(3, {"pixels": [[0.5] * 56] * 55 + [[0.5] * 55]})  # ragged: 422
    responses = _burst(app, bodies)
    assert_error(responses.pop(3), 422, "row")
    for response, want in zip(responses, expected, strict=True):
        got = response.json()
        assert response.status_code == 200 and got["input"] == want["input"]
        assert np.allclose(got["probabilities"], want["probabilities"], atol=2e-6)
    assert max(batcher.batch_sizes) > 1, batcher.batch_sizes
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == len(drawings)


def test_a_cnn_answers_each_drawing_alone_and_exactly(served: Served, tmp_path: Path) -> None:
    """A CNN's saliency depends on its batch-mates (oneDNN kernels by batch size, max-pool
    near-ties): its drawings are answered one per call, identical to sequential requests."""
    cnn = ModelConfig(name="cnn", layers=(32,), channels=(4, 8))
    run = untrained_run(served.store, "untrained-cnn-burst", cnn, tmp_path / "cnn")
    app = create_app(Settings(store=served.store.path, run=run))
    drawings = _batch_drawings()
    expected = [
        served.client.post(f"/api/predict?run={run}", json={"pixels": d}).json() for d in drawings
    ]
    responses = _burst(app, [{"pixels": d} for d in drawings])
    assert dict(app.state.batcher.batch_sizes) == {1: len(drawings)}
    for response, want in zip(responses, expected, strict=True):
        got = response.json()
        assert response.status_code == 200
        for key in ("input", "probabilities", "attribution", "activations"):
            assert got[key] == want[key], key


def test_a_cnn_sends_its_first_convolutions_feature_maps(served: Served, tmp_path: Path) -> None:
    cnn = ModelConfig(name="cnn", layers=(32,), channels=(4, 8))
    run = untrained_run(served.store, "untrained-cnn", cnn, tmp_path / "cnn")
    response = served.client.post(f"/api/predict?run={run}", json={"pixels": stroke()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(a["name"], a["shape"]) for a in body["activations"]] == [
        ("conv1", [4, 28, 28]),
        ("fc1", [32]),
    ]
    assert len(body["activations"][0]["values"]) == 4 * 28 * 28
    assert abs(sum(body["probabilities"]) - 1.0) < 1e-4
    (summary,) = [r for r in served.client.get("/api/runs").json() if r["id"] == run]
    assert summary["model"] == "cnn [4, 8] + [32]" and summary["image_model"]


def test_a_run_whose_files_vanish_after_loading_is_a_409(served: Served, tmp_path: Path) -> None:
    source = served.store.get(served.run_id)
    folder = tmp_path / "copy"
    shutil.copytree(source.run_dir, folder)
    _fake_run(served.store, "copied-run", source.config, folder)
    ok = served.client.post("/api/predict?run=copied-run", json={"pixels": stroke()})
    assert ok.status_code == 200
    shutil.rmtree(folder)
    gone = served.client.post("/api/predict?run=copied-run", json={"pixels": stroke()})
    assert_error(gone, 409, "missing")
    assert_error(served.client.get("/api/runs/copied-run/figures/figure1.png"), 404, "missing")


# --- bad input: a table -------------------------------------------------------------------

BIG_UPLOAD = b"\x89PNG" + b"\0" * (SMALL_UPLOAD + 100_000)  # over limit + form slack
JUST_OVER = b"\x89PNG" + b"\0" * SMALL_UPLOAD  # within the slack: caught by its own size


def _chunks() -> Iterator[bytes]:
    """A multipart body sent chunked, with no Content-Length: counted while it streams."""
    boundary = b"xyzzy"
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"'
    yield b"\r\nContent-Type: image/png\r\n\r\n"
    for _ in range(40):
        yield b"\0" * 4096
    yield b"\r\n--" + boundary + b"--\r\n"


def _blank(side: int = 28) -> list[list[float]]:
    return np.zeros((side, side)).tolist()


JSON = {"Content-Type": "application/json"}
BAD_INPUTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (id, method+path, request kwargs, status, fragment of the error)
    ("not-an-image", "POST /api/predict", {"files": {"file": ("x.png", b"hello", "image/png")}},
     422, "not an image"),
    ("truncated-png", "POST /api/predict",
     {"files": {"file": ("t.png", photo_of_a_seven()[:300], "image/png")}}, 422, "t.png"),
    ("empty-file", "POST /api/predict", {"files": {"file": ("e.png", b"", "image/png")}},
     422, "empty"),
    ("blank-photo", "POST /api/predict",
     {"files": {"file": ("b.png", png(Image.new("L", (64, 64), 200)), "image/png")}},
     422, "no ink"),
    ("decompression-bomb", "POST /api/predict",
     {"files": {"file": ("bomb.png", png_header_only(30000, 30000), "image/png")}},
     422, "too large"),
    ("no-file-field", "POST /api/predict",
     {"files": {"photo": ("a.png", photo_of_a_seven(), "image/png")}}, 400, "'file'"),
    ("file-field-is-text", "POST /api/predict", {"files": {"file": (None, "hello")}},
     400, "'file'"),
    ("multipart-without-boundary", "POST /api/predict",
     {"content": b"x", "headers": {"Content-Type": "multipart/form-data"}}, 400, "multipart"),
    ("bad-method-field", "POST /api/predict",
     {"files": {"file": ("s.png", photo_of_a_seven(), "image/png")}, "data": {"method": "x"}},
     422, "method"),
    ("text-plain", "POST /api/predict",
     {"content": b"1,2,3", "headers": {"Content-Type": "text/plain"}}, 415, "content type"),
    ("no-content-type", "POST /api/predict", {"content": b"{}"}, 415, "content type"),
    ("form-urlencoded", "POST /api/predict", {"data": {"pixels": "1"}}, 415, "content type"),
    ("invalid-json", "POST /api/predict", {"content": b"{pixels: [", "headers": JSON},
     400, "not valid json"),
    ("empty-json", "POST /api/predict", {"content": b"", "headers": JSON}, 400, "empty"),
    ("not-utf8", "POST /api/predict", {"content": b'{"pixels": "\xff"}', "headers": JSON},
     400, "not valid json"),
    ("nan-literal", "POST /api/predict",
     {"content": b'{"pixels": [[NaN, 0, 0, 0, 0, 0, 0, 0]]}', "headers": JSON},
     422, "pixels[0][0]: input should be a finite number"),
    ("infinity-by-overflow", "POST /api/predict",
     {"content": json.dumps({"pixels": stroke()}).replace("1.0", "1e999", 1).encode(),
      "headers": JSON}, 422, "finite number"),
    ("deeply-nested", "POST /api/predict",
     {"content": b'{"pixels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "headers": JSON},
     400, "nested too deeply"),
    ("nested-3d", "POST /api/predict", {"json": {"pixels": [stroke()]}}, 422, "valid number"),
    ("oversized-json", "POST /api/predict",
     {"content": b'{"pixels": [' + b"0," * 600_000 + b"0]}", "headers": JSON}, 413, "limit"),
    ("json-list", "POST /api/predict", {"json": stroke()}, 422, "body"),
    ("missing-pixels", "POST /api/predict", {"json": {"run": "latest"}}, 422, "pixels"),
    ("extra-field", "POST /api/predict", {"json": {"pixels": stroke(), "x": 1}}, 422, "x"),
    ("strings-in-array", "POST /api/predict",
     {"json": {"pixels": [["0.5"] * 28 for _ in range(28)]}}, 422, "pixels[0][0]"),
    ("booleans-in-array", "POST /api/predict",
     {"json": {"pixels": [[True] * 28 for _ in range(28)]}}, 422, "valid number"),
    ("nulls-in-array", "POST /api/predict",
     {"json": {"pixels": [[None] * 28 for _ in range(28)]}}, 422, "valid number"),
    ("ragged-rows", "POST /api/predict",
     {"json": {"pixels": [*stroke()[:27], [0.0] * 27]}}, 422, "same length"),
    ("too-few-rows", "POST /api/predict", {"json": {"pixels": _blank(4)}}, 422, "rows"),
    ("too-many-rows", "POST /api/predict", {"json": {"pixels": _blank(300)}}, 422, "rows"),
    ("empty-rows", "POST /api/predict", {"json": {"pixels": [[] for _ in range(28)]}},
     422, "values"),
    ("out-of-range", "POST /api/predict",
     {"json": {"pixels": (np.asarray(stroke()) * 255).tolist()}}, 422, "[0, 1]"),
    ("negative", "POST /api/predict", {"json": {"pixels": (-np.asarray(stroke())).tolist()}},
     422, "[0, 1]"),
    ("blank-drawing", "POST /api/predict", {"json": {"pixels": _blank()}}, 422, "no ink"),
    ("bad-method-query", "POST /api/predict?method=occlusion", {"json": {"pixels": stroke()}},
     422, "method"),
    ("bad-method-body", "POST /api/predict", {"json": {"pixels": stroke(), "method": "x"}},
     422, "method"),
    ("unknown-run-body", "POST /api/predict", {"json": {"pixels": stroke(), "run": "nope"}},
     404, "no run 'nope'"),
    ("unknown-run-query", "POST /api/predict?run=nope", {"json": {"pixels": stroke()}},
     404, "no run 'nope'"),
    ("weights-cut-short", "POST /api/predict?run=cut-weights", {"json": {"pixels": stroke()}},
     409, "truncated or corrupt"),
    ("weights-cut-short-upload", "POST /api/predict?run=cut-weights",
     {"files": {"file": ("7.png", photo_of_a_seven(), "image/png")}}, 409, "truncated or corrupt"),
    ("weights-a-pickle", "POST /api/predict?run=pickle-weights", {"json": {"pixels": stroke()}},
     409, "only safetensors"),
    ("config-not-json", "POST /api/predict?run=bad-config", {"json": {"pixels": stroke()}},
     409, "unreadable"),
    ("config-wrong-shape", "POST /api/predict?run=wrong-config",
     {"files": {"file": ("7.png", photo_of_a_seven(), "image/png")}}, 409, "not a threefigures"),
    ("deleted-run", "POST /api/predict?run=gone-run", {"json": {"pixels": stroke()}},
     409, "missing"),
    ("names-run", "POST /api/predict?run=names-run", {"json": {"pixels": stroke()}},
     409, "does not classify 28×28 images"),
    ("get-predict", "GET /api/predict", {}, 405, "method not allowed"),
    ("unknown-route", "GET /api/nope", {}, 404, "not found"),
    ("unknown-run-detail", "GET /api/runs/nope", {}, 404, "no run 'nope'"),
    ("unknown-run-figure", "GET /api/runs/nope/figures/figure1.png", {}, 404, "no run"),
    ("unknown-run-report", "GET /api/runs/nope/report", {}, 404, "no run"),
    ("deleted-run-figure", "GET /api/runs/gone-run/figures/figure1.png", {}, 404, "missing"),
    ("deleted-run-report", "GET /api/runs/gone-run/report", {}, 404, "missing"),
    ("gray-and-pixels", "POST /api/predict",
     {"json": {"pixels": stroke(), "gray": gray(stroke())}}, 422, "exactly one"),
    ("gray-not-base64", "POST /api/predict",
     {"json": {"gray": {**gray(stroke()), "data": "not base64!"}}}, 422, "not valid base64"),
    ("gray-non-ascii-base64", "POST /api/predict",  # found by schemathesis: was a 500
     {"json": {"gray": {**gray(stroke()), "data": "\u0080" * 8}}}, 422, "not valid base64"),
    ("gray-short", "POST /api/predict",
     {"json": {"gray": {**gray(stroke()), "height": 27}}}, 422, "28 × 27 = 756"),
    ("gray-too-small", "POST /api/predict",
     {"json": {"gray": {"width": 4, "height": 4, "data": "AAAA"}}}, 422, "gray.width"),
    ("gray-too-big", "POST /api/predict",
     {"json": {"gray": {"width": 300, "height": 28, "data": ""}}}, 422, "gray.width"),
    ("gray-data-not-string", "POST /api/predict",
     {"json": {"gray": {"width": 8, "height": 8, "data": [0] * 64}}}, 422, "gray.data"),
    ("gray-extra-field", "POST /api/predict",
     {"json": {"gray": {**gray(stroke()), "depth": 8}}}, 422, "gray.depth"),
    ("gray-blank", "POST /api/predict", {"json": {"gray": gray(_blank())}}, 422, "no ink"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("route", "kwargs", "status", "fragment"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_a_clear_4xx(
    served: Served, route: str, kwargs: dict[str, Any], status: int, fragment: str
) -> None:
    verb, path = route.split(" ", 1)
    assert_error(served.client.request(verb, path, **kwargs), status, fragment)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"files": {"file": ("big.png", BIG_UPLOAD, "image/png")}}, "limit is 20,000 bytes"),
        (
            {"files": {"file": ("over.png", JUST_OVER, "image/png")}},
            "image is larger than the limit of 20,000 bytes",
        ),
        (  # no Content-Length: counted while reading
            {
                "content": _chunks(),
                "headers": {"Content-Type": "multipart/form-data; boundary=xyzzy"},
            },
            "upload is larger than the limit of 20,000 bytes",
        ),
    ],
    ids=["by-content-length", "by-file-size", "while-streaming"],
)
def test_uploads_over_the_limit_are_a_413(
    served: Served, kwargs: dict[str, Any], fragment: str
) -> None:
    assert_error(served.small.post("/api/predict", **kwargs), 413, fragment)
    ok = served.small.post(
        "/api/predict", files={"file": ("seven.png", photo_of_a_seven(), "image/png")}
    )
    assert ok.status_code == 200 and len(photo_of_a_seven()) < SMALL_UPLOAD


def test_an_empty_store_says_to_train_first(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(store=tmp_path / "empty" / "s.db"))) as client:
        assert client.get("/health").json()["default_run"] is None
        assert client.get("/api/runs").json() == []
        response = client.post("/api/predict", json={"pixels": stroke()})
        assert_error(response, 404, "train one first")


# --- settings and the command ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"port": 70000},
        {"max_upload_bytes": 0},
        {"max_json_bytes": 10},
        {"model_cache_size": 0},
        {"torch_threads": 0},
        {"method": "occlusion"},
        {"host": ""},
        {"workers": 0},
        {"workers": 33},
    ],
)
def test_settings_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Settings(**bad).validate()


def test_serve_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from threefigures.cli import main

    seen: list[Settings] = []
    monkeypatch.setattr("threefigures.web.server.run_server", seen.append)
    assert main(["serve", "--store", str(tmp_path / "s.db")]) == 0
    assert main(["serve", "--run", "abc", "--port", "9001", "--max-upload-mb", "1.5"]) == 0
    assert main(["serve", "--workers", "2", "--max-concurrent-uploads", "3"]) == 0
    first, second, third = seen
    assert first.workers == 1 and third.workers == 2
    assert first.max_concurrent_uploads == 2 and third.max_concurrent_uploads == 3
    assert (first.host, first.port, first.max_upload_bytes) == ("127.0.0.1", 8000, 5 * MIB)
    assert first.store == tmp_path / "s.db" and first.run is None
    assert (second.run, second.port, second.max_upload_bytes) == ("abc", 9001, int(1.5 * MIB))
    assert main(["serve", "--port", "-1"]) == 1
    for bad in (["--max-upload-mb", "nan"], ["--max-upload-mb", "inf"],
                ["--max-upload-mb", "0"], ["--max-concurrent-uploads", "0"]):  # fmt: skip
        assert main(["serve", *bad]) == 1, bad
    assert len(seen) == 3  # none of them got as far as starting a server


def test_settings_travel_to_worker_processes_as_json(tmp_path: Path) -> None:
    from threefigures.web.settings import SETTINGS_ENV

    settings = Settings(store=tmp_path / "s.db", run="abc", port=9001, workers=2)
    assert Settings.from_json(settings.to_json()) == settings
    assert Settings.from_json(Settings().to_json()) == Settings()
    with pytest.raises(ConfigError, match=SETTINGS_ENV):
        Settings.from_json('{"port": 1, "colour": "red"}')
    with pytest.raises(ConfigError, match=SETTINGS_ENV):
        Settings.from_json("{not json")


def test_serve_with_two_worker_processes(served: Served) -> None:
    """`serve --workers 2`: uvicorn's worker processes build the app from the settings in
    the environment, answer drawings, and all stop on Ctrl-C."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "threefigures", "serve", "--store", str(served.store.path)]
    cmd += ["--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        response = None
        while response is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/api/predict", json={"pixels": stroke(56)}, timeout=5
                )
            except httpx.HTTPError:  # still starting
                time.sleep(0.3)
        assert response is not None, "the server never answered"
        assert response.status_code == 200, response.text
        assert_prediction(response.json(), served.run_id)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():  # Linux: the two workers are the server's children
            assert len(children.read_text().split()) >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output = proc.communicate(timeout=60)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


def test_serve_workers_with_a_bad_store_fails_at_once(tmp_path: Path) -> None:
    """The parent opens the store before any worker starts: one line, exit 1."""
    import subprocess
    import sys

    bad = tmp_path / "not-a-store.db"
    bad.write_bytes(b"this is not an SQLite database" * 100)
    cmd = [sys.executable, "-m", "threefigures", "serve", "--store", str(bad), "--workers", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "error:" in done.stderr


def test_a_worker_that_cannot_build_the_app_stops_the_parent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """uvicorn restarts workers that die, except with its start-up failure status (3)."""
    from threefigures.web.server import STARTUP_FAILURE, app_from_environment
    from threefigures.web.settings import SETTINGS_ENV

    for value in ('{"port": "not a number"}', "{not json", None):
        if value is None:
            monkeypatch.delenv(SETTINGS_ENV, raising=False)
        else:
            monkeypatch.setenv(SETTINGS_ENV, value)
        with pytest.raises(SystemExit) as stopped:
            app_from_environment()
        assert stopped.value.code == STARTUP_FAILURE
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err, err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 200)
    monkeypatch.setenv(SETTINGS_ENV, Settings(store=bad).to_json())
    with pytest.raises(SystemExit) as stopped:
        app_from_environment()
    assert stopped.value.code == STARTUP_FAILURE
