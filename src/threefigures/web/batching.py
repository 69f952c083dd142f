"""Drawings that arrive together are answered together, in one batch.

Under load most of a prediction's cost is fixed per model call, not per image: the Figure 1
MLP answers 20 drawings in one forward and one backward pass in about the time it answers
one. :class:`DrawingBatcher` lets each request do its own parsing and preprocessing (so a
bad drawing fails alone, with its own error), then queues it; the batch is answered as soon
as the event loop has run every request that was already waiting. Nothing waits on a timer:
a lone request is answered at once, and under load the requests that arrived while the
previous batch was computed form the next one.

Everything runs on the event loop thread, as the unbatched path did (worker threads measured
slower: GIL hand-offs). Results are matched to requests by position, and a batch that fails
as a whole fails every request in it with that error.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from threefigures.data.preprocess import preprocess_array
from threefigures.web.schemas import PixelsRequest
from threefigures.web.service import Answer, Job, LoadedRun, WebService, drawing_to_array

#: Largest batch answered in one call (bounds one call's latency and memory).
MAX_BATCH = 64


#: A drawing waiting for its batch: its run, attribution method, input and the request's future.
_Queued = tuple[LoadedRun, str, Job, "asyncio.Future[Answer]"]


class DrawingBatcher:
    """Queues preprocessed drawings and answers them per (run, method) in batches."""

    def __init__(self, service: WebService, max_batch: int = MAX_BATCH) -> None:
        self.service = service
        self.max_batch = max_batch
        self._queue: list[_Queued] = []
        self._scheduled = False
        #: How many batches of each size were answered (for benchmarks and tests; bounded
        #: by max_batch keys, so a long-running server does not grow it).
        self.batch_sizes: Counter[int] = Counter()

    async def predict_drawing(
        self, body: PixelsRequest, *, run: str | None, method: str | None
    ) -> Answer:
        """What :meth:`WebService.predict_pixels` answers for the request's drawing (nested
        arrays or base64 bytes), computed in a batch."""
        started = time.perf_counter()
        gray = drawing_to_array(body)  # errors are this request's alone, raised here
        loaded = self.service.loaded(run)
        pre = preprocess_array(gray, name="drawing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        chosen = method or self.service.settings.method
        self._queue.append((loaded, chosen, Job(pre, "drawing", started), future))
        if not self._scheduled:
            self._scheduled = True
            # call_soon runs after every callback already ready: the other requests whose
            # bodies have arrived get to queue their drawings first.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        queued, self._queue = self._queue, []
        try:
            self._answer(queued)
        finally:
            for *_rest, future in queued:  # whatever escaped _answer: fail, never hang
                if not future.done():
                    future.set_exception(RuntimeError("the drawing's batch failed"))

    def _answer(self, queued: list[_Queued]) -> None:
        groups: dict[tuple[int, str], list[_Queued]] = {}
        for entry in queued:
            groups.setdefault((id(entry[0]), entry[1]), []).append(entry)
        for (_model, method), entries in groups.items():
            loaded = entries[0][0]
            # Only models whose answers do not depend on their batch-mates are batched (see
            # WebService.batches_exactly); the others answer one drawing per call.
            size = self.max_batch if self.service.batches_exactly(loaded) else 1
            for start in range(0, len(entries), size):
                live = [e for e in entries[start : start + size] if not e[3].done()]  # gone
                if not live:
                    continue
                self.batch_sizes[len(live)] += 1
                try:
                    answers = self.service.answer_many(loaded, [e[2] for e in live], method)
                except Exception as exc:  # every request waiting on this batch gets the error
                    for entry in live:
                        entry[3].set_exception(exc)
                    continue
                for entry, answer in zip(live, answers, strict=True):
                    entry[3].set_result(answer)
