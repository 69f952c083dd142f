"""The FastAPI app: thin routes over :class:`threefigures.web.service.WebService`.

Every error, whatever raised it, is answered as JSON ``{"error": "one line"}``:

- 400 the body cannot be read (invalid JSON, nested too deeply, bad multipart, no file);
- 404 unknown run, figure, report or route; 405 wrong method;
- 409 the run cannot answer (weights or folder missing, unreadable checkpoint, not an
  image model); a training is already running, or the run asked to stop/resume cannot;
- 413 body or upload over the limit (by Content-Length, or counted while reading);
- 415 neither ``application/json`` nor ``multipart/form-data``;
- 422 readable but unusable: schema errors (strings, ragged rows, wrong shape, out of
  range, NaN), not an image, corrupt, a decompression bomb, a blank image.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from threefigures.errors import (
    CheckpointError,
    ConfigError,
    ImageError,
    RunNotFoundError,
    ThreeFiguresError,
)
from threefigures.web.batching import DrawingBatcher
from threefigures.web.bodies import describe_validation, read_drawing, read_json, read_upload
from threefigures.web.schemas import (
    ErrorBody,
    Health,
    PixelsRequest,
    PredictResponse,
    RunDetail,
    RunHistory,
    RunSummary,
    TextPredictResponse,
    TextRequest,
    TrainOptions,
    TrainRequest,
    TrainStarted,
    TrainStopping,
)
from threefigures.web.service import Answer, WebError, WebService, to_json
from threefigures.web.settings import WEB_METHODS, Settings
from threefigures.web.training import TrainError, TrainingManager

#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_SECONDS = 15.0
#: How often an event stream looks for new events.
STREAM_POLL_SECONDS = 0.05

STATIC = Path(__file__).parent / "static"

#: Our own pages load nothing from elsewhere: say so, so injected markup could not either.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
FILE_HEADERS = {"X-Content-Type-Options": "nosniff"}

#: FastAPI (0.16x) reports OpenTelemetry spans, metrics and logs when a provider is set, and
#: checks for one on every request (os.environ look-ups: ~2% of a prediction's CPU under
#: load). This local server exports nothing, so it asks for none.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}
)


#: /api/predict's query parameters, as FastAPI would have described Query() parameters.
PREDICT_QUERY = [
    {
        "name": "run",
        "in": "query",
        "required": False,
        "description": "Run id or `latest` (the body's `run` wins).",
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Run"},
    },
    {
        "name": "method",
        "in": "query",
        "required": False,
        "description": "Attribution method (the body's `method` wins).",
        "schema": {
            "anyOf": [{"type": "string", "enum": list(WEB_METHODS)}, {"type": "null"}],
            "title": "Method",
        },
    },
]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def status_for(exc: ThreeFiguresError) -> int:
    """The HTTP status of a library error (see the module docstring)."""
    from threefigures.explain.attribution import ExplainError

    if isinstance(exc, WebError | TrainError):
        return exc.status
    if isinstance(exc, RunNotFoundError):
        return 404
    if isinstance(exc, CheckpointError | ExplainError):
        return 409
    if isinstance(exc, ImageError | ConfigError):
        return 422
    return 400


def _request_schemas() -> dict[str, Any]:
    """PixelsRequest and the models it uses, as OpenAPI components. FastAPI adds only the
    models of bodies it parses itself; /api/predict reads its body itself, and pasting
    pydantic's schema inline left a ``$ref`` to ``#/$defs/GrayImage`` that resolved to
    nothing in /openapi.json."""
    schema = PixelsRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    train = TrainRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**defs, "PixelsRequest": schema, "TrainRequest": train}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _answer_response(answer: Answer) -> Response:
    """A prediction written by orjson straight from its NumPy arrays (FastAPI would validate
    a model and encode it in Python: ~0.6 ms more per prediction; pydantic-core from
    Python lists, ~0.3 ms more). Tests hold the bytes to PredictResponse."""
    return Response(to_json(answer), media_type="application/json")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings`` (opens the store now: a bad store fails here, not later)."""
    settings = (settings or Settings()).validate()
    service = WebService(settings)
    batcher = DrawingBatcher(service)
    trainer = TrainingManager(settings, service.store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Load the default run before the first user arrives; with no usable run yet,
        # requests will say so themselves.
        with contextlib.suppress(ThreeFiguresError):
            await run_in_threadpool(service.warm)
        # Everything loaded so far (torch, FastAPI, the model) lives as long as the server.
        # Freezing it keeps the cyclic GC from walking those ~10^5 objects again: each full
        # collection otherwise stalled every request in flight for ~200 ms, about every
        # 2 s under load (bench_web.py saw p99 4× p50).
        gc.collect()
        gc.freeze()
        yield
        # A training still running is stopped as Ctrl-C would: saved, marked interrupted.
        await run_in_threadpool(trainer.shutdown)

    app = FastAPI(
        title="threefigures",
        summary="Draw a digit and watch it go through a network trained by threefigures.",
        description=(
            'Errors are always JSON `{"error": "..."}` with a 4xx status: 400 unreadable '
            "body, 404 unknown run/figure, 409 run cannot answer (files missing, not an image "
            "model), 413 too large, 415 wrong content type, 422 unusable content."
        ),
        version="1",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from a CDN, so offline
        # they are blank; the app serves nothing it cannot serve itself. /openapi.json stays.
        docs_url=None,
        redoc_url=None,
        **_NO_TELEMETRY,
    )
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generate_openapi()["components"]["schemas"].update(_request_schemas())
        return app.openapi_schema  # type: ignore[return-value]  # set by generate_openapi

    app.openapi = openapi  # type: ignore[method-assign]
    # Made here, outside the event loop: anyio (>=4.2) binds it to the loop on first use.
    uploads = anyio.CapacityLimiter(settings.max_concurrent_uploads)
    app.state.service = service
    app.state.batcher = batcher
    app.state.trainer = trainer
    app.state.settings = settings

    @app.exception_handler(ThreeFiguresError)
    async def _library_error(_request: Request, exc: ThreeFiguresError) -> JSONResponse:
        return _error(status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, describe_validation(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/runs", include_in_schema=False)
    def runs_page() -> FileResponse:
        return FileResponse(STATIC / "runs.html", headers=PAGE_HEADERS)

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Liveness, the store's run count and the default run."""
        return service.health()

    @app.get("/api/runs", response_model=list[RunSummary])
    def list_runs() -> list[RunSummary]:
        """Every stored run, newest first, with its figure and report URLs."""
        return service.list_runs()

    @app.get("/api/runs/{run_id}", response_model=RunDetail, responses=_errors(404, 422))
    def run_detail(run_id: str) -> RunDetail:
        """One run (an id or `latest`): its record, config, per-epoch metrics and files."""
        return service.run_detail(run_id)

    @app.get(
        "/api/runs/{run_id}/figures/{name}",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}}, **_errors(404, 422)},
    )
    def figure(run_id: str, name: str) -> FileResponse:
        """A figure PNG by name (`figure1.png`, `inside-attribution.png`, …), only one the
        run lists or one of the known names inside its folder."""
        return FileResponse(
            service.figure_path(run_id, name), media_type="image/png", headers=FILE_HEADERS
        )

    @app.get(
        "/api/runs/{run_id}/report",
        response_class=FileResponse,
        responses={200: {"content": {"text/html": {}}}, **_errors(404, 422)},
    )
    def report(run_id: str) -> FileResponse:
        """The run's self-contained report.html."""
        return FileResponse(
            service.report_path(run_id), media_type="text/html", headers=FILE_HEADERS
        )

    @app.post(
        "/api/predict",
        response_model=PredictResponse,
        responses=_errors(400, 404, 409, 413, 415, 422),
        openapi_extra={
            "parameters": PREDICT_QUERY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PixelsRequest"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "run": {"type": "string"},
                                "method": {"type": "string", "enum": list(WEB_METHODS)},
                            },
                        }
                    },
                },
            },
        },
    )
    async def predict(request: Request) -> Response:
        """Classify a drawing (JSON `pixels` or `gray`) or an uploaded image (multipart
        field `file`): the class, the probabilities, the 28×28 input the network saw, its
        hidden layers and an attribution map."""
        # The query is read here, not by FastAPI's Query() dependencies: solving them was
        # ~0.07 ms of a ~1.8 ms prediction under load. PREDICT_QUERY documents them.
        run, method = request.query_params.get("run"), request.query_params.get("method")
        if method is not None and method not in WEB_METHODS:
            raise WebError(f"method must be one of {', '.join(WEB_METHODS)}", status=422)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            body = await read_drawing(request, settings.max_json_bytes)
            # Drawings are answered on the event loop, in batches: the requests whose bodies
            # arrived together share one forward and backward pass (see web/batching.py).
            # Handing each to a worker thread measured slower (GIL hand-offs) and let some
            # requests wait seconds under load. (A run's first use loads its weights: ~0.1 s.)
            result = await batcher.predict_drawing(
                body, run=body.run or run, method=body.method or method
            )
            return _answer_response(result)
        if ctype == "multipart/form-data":
            data, filename, fields = await read_upload(request, settings.max_upload_bytes)
            chosen = fields.get("method") or method
            if chosen is not None and chosen not in WEB_METHODS:
                raise WebError(f"method must be one of {', '.join(WEB_METHODS)}", status=422)
            # Decoded in a worker thread (a big photo takes a while), at most
            # max_concurrent_uploads at once: each may hold hundreds of MB while decoding.
            work = partial(
                service.predict_upload,
                data,
                filename=filename,
                run=fields.get("run") or run,
                method=chosen,
            )
            result = await anyio.to_thread.run_sync(work, limiter=uploads)
            return _answer_response(result)
        raise WebError(
            f"unsupported content type {ctype or '(none)'!r}: send application/json "
            '({"pixels": [[...], ...]}) or multipart/form-data with the image in field "file"',
            status=415,
        )

    @app.post(
        "/api/predict-text",
        response_model=TextPredictResponse,
        responses=_errors(400, 404, 409, 413, 422),
    )
    def predict_text(body: TextRequest) -> Response:
        """Classify a text with a text run (default: the newest finished one): the class,
        the probabilities, each token's attribution and a transformer's attention per layer
        and head (the attention each token receives)."""
        answer = service.predict_text(body.text, run=body.run, method=body.method)
        return _answer_response(answer)

    # --- training from the page (web/training.py) ------------------------------------------

    @app.get("/api/train/options", response_model=TrainOptions)
    def train_options() -> dict[str, Any]:
        """The Train form's defaults, choices and caps, and the run training now."""
        return trainer.options()

    @app.post(
        "/api/train",
        status_code=202,
        response_model=TrainStarted,
        responses=_errors(400, 409, 413, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TrainRequest"}}
                },
            }
        },
    )
    async def train_start(request: Request) -> TrainStarted:
        """Start training a new run with `threefigures train`'s options (one training at a
        time: 409 while another runs; 422 for a bad option or one past the caps)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise WebError(
                f"unsupported content type {ctype or '(none)'!r}: send application/json",
                status=415,
            )
        body = await read_json(request, settings.max_json_bytes, '{"model": "mlp", "epochs": 3}')
        # checking the options loads the dataset: a worker thread, not the event loop
        record = await run_in_threadpool(trainer.start, body)
        return TrainStarted(run=record.id, events=_events_url(record.id))

    @app.get(
        "/api/train/{run_id}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **_errors(404)},
    )
    async def train_events(run_id: str, request: Request) -> StreamingResponse:
        """Server-sent events of a run trained from the page: `start`, `batch` (≤ 20 a
        second), `epoch`, `weights`, then `end` or `error`. A client that connects late
        gets everything it missed first (or after `Last-Event-ID`)."""
        job = trainer.job(run_id)
        try:
            first = int(request.headers.get("last-event-id", "-1")) + 1
        except ValueError:
            first = 0

        async def stream() -> AsyncIterator[bytes]:
            index, quiet = max(first, 0), 0.0
            while True:
                events, index = job.since(index)
                for event in events:
                    yield event.sse()
                if job.done and index >= len(job.events):  # also a client past the end
                    return
                if events:
                    quiet = 0.0
                elif quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield b": keep-alive\n\n"
                await anyio.sleep(STREAM_POLL_SECONDS)
                quiet += STREAM_POLL_SECONDS

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **FILE_HEADERS},
        )

    @app.post(
        "/api/train/{run_id}/stop",
        status_code=202,
        response_model=TrainStopping,
        responses=_errors(409),
    )
    def train_stop(run_id: str) -> TrainStopping:
        """Stop the run's training as Ctrl-C does: it keeps its last finished epoch, is
        marked interrupted, and can be resumed."""
        trainer.stop(run_id)
        return TrainStopping(run=run_id)

    @app.post(
        "/api/train/{run_id}/resume",
        status_code=202,
        response_model=TrainStarted,
        responses=_errors(404, 409),
    )
    def train_resume(run_id: str) -> TrainStarted:
        """Go on training an interrupted run from its last finished epoch."""
        record = trainer.resume(run_id)
        return TrainStarted(run=record.id, events=_events_url(record.id))

    @app.get("/api/runs/{run_id}/history", response_model=RunHistory, responses=_errors(404))
    def run_history(run_id: str) -> RunHistory:
        """Figure 2's numbers (batch and epoch losses, validation accuracy) of one run."""
        return service.history(run_id)

    return app


def _events_url(run_id: str) -> str:
    from urllib.parse import quote

    return f"/api/train/{quote(run_id, safe='')}/events"
