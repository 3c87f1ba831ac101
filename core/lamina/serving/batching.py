"""Adaptive batching: requests that arrive together are stacked into one predict call.

A model whose predict has a fixed cost per call (a GPU launch, a remote call, a sleep, a
Python loop over layers) answers N stacked requests in about the time of one. The
server validates each request on its own first (a bad request is answered 400 and never
joins a batch), then hands its decoded inputs to the variant's :class:`Batcher`:

- when no batch is predicting, the first request waits up to ``max_batch_wait_ms`` for
  others (0: only those already parsed in the same turn of the event loop), then its
  batch goes to the predict thread;
- while a batch predicts, new requests queue; they form the next batch the moment the
  model is free (at most ``max_batch_size`` requests per call), so the batch size adapts
  to the load with no wait added when the server is quiet.

The stacked inputs are one ``[sum of rows, ...]`` array per field (or one matrix), the
answer is checked against the schema once and each request gets its own rows back. When
predict fails on a batch (a value the schema allows but the model cannot take), each of
its requests is predicted again on its own, so only the request that fails gets the
error and the others their answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lamina.serving.schema import Schema, encode_outputs


class _Item:
    """One validated request waiting for its batch."""

    __slots__ = ("columns", "future", "matrix", "rows")

    def __init__(self, columns: Mapping[str, Any], rows: int, matrix: Any,
                 future: asyncio.Future[dict[str, Any]]) -> None:
        self.columns = columns
        self.rows = rows
        self.matrix = matrix
        self.future = future


def stack_inputs(schema: Schema, items: list[Any]) -> tuple[dict[str, Any], Any]:
    """The inputs of several decoded requests as one batch: ``(columns, matrix)``, the
    matrix stacked when every request sent one (else None), each column stacked."""
    import numpy as np

    if all(it.matrix is not None for it in items):
        matrix = np.concatenate([it.matrix for it in items])
        return {f.name: matrix[:, i] for i, f in enumerate(schema.inputs)}, matrix
    columns = {f.name: np.concatenate([it.columns[f.name] for it in items])
               for f in schema.inputs}
    return columns, None


class Batcher:
    """Stacks the requests of one variant into predict calls, one call at a time.

    :param prepare: the model's ``prepare(columns, matrix)`` (what predict takes).
    :param predict: the bound predict function.
    :param max_batch_size: the most requests in one call.
    :param max_batch_wait_ms: how long a batch's first request waits when the model is idle.
    :param on_batch: called with each batch's size (requests) before it predicts, for the
        metrics.
    """

    def __init__(self, schema: Schema, prepare: Callable[[Mapping[str, Any], Any], Any],
                 predict: Callable[[Any], Any], *, max_batch_size: int,
                 max_batch_wait_ms: float, name: str = "model",
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.schema = schema
        self.prepare = prepare
        self.predict_fn = predict
        self.max_batch_size = max_batch_size
        self.wait = max_batch_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: list[_Item] = []
        self._busy = False
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"lamina-batch-{name}")

    async def predict(self, columns: Mapping[str, Any], rows: int,
                      matrix: Any) -> dict[str, Any]:
        """This request's outputs (one array per output field, its rows only), predicted
        in a batch with the requests that arrived with it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._queue.append(_Item(columns, rows, matrix, future))
        if not self._busy:
            if len(self._queue) >= self.max_batch_size:
                self._launch(loop)
            elif self._timer is None:
                self._timer = (loop.call_later(self.wait, self._launch, loop) if self.wait > 0
                               else loop.call_soon(self._launch, loop))
        return await future

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send the next batch to the predict thread (one batch at a time)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy or not self._queue:
            return
        batch = self._queue[:self.max_batch_size]
        del self._queue[:self.max_batch_size]
        self._busy = True
        if self.on_batch is not None:
            self.on_batch(len(batch))
        done = loop.run_in_executor(self._pool, self._run, batch)
        done.add_done_callback(lambda f: self._finished(loop, batch, f))

    def _predict(self, batch: list[_Item]) -> list[dict[str, Any]]:
        columns, matrix = stack_inputs(self.schema, batch)
        total = sum(it.rows for it in batch)
        outputs = encode_outputs(self.schema, self.predict_fn(self.prepare(columns, matrix)),
                                 total)
        answers = []
        start = 0
        for it in batch:
            end = start + it.rows
            answers.append({k: v[start:end] for k, v in outputs.items()})
            start = end
        return answers

    def _run(self, batch: list[_Item]) -> list[dict[str, Any] | BaseException]:
        """Predict a batch (in the predict thread) and split the answer by request; when
        the batch fails, each request on its own (its answer, or its error)."""
        try:
            return list(self._predict(batch))
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        answers: list[dict[str, Any] | BaseException] = []
        for it in batch:
            try:
                answers.append(self._predict([it])[0])
            except Exception as exc:
                answers.append(exc)
        return answers

    def _finished(self, loop: asyncio.AbstractEventLoop, batch: list[_Item],
                  done: asyncio.Future[list[dict[str, Any] | BaseException]]) -> None:
        self._busy = False
        exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
        for i, it in enumerate(batch):
            if it.future.done():  # the client went away
                continue
            answer = exc if exc is not None else done.result()[i]
            if isinstance(answer, BaseException):
                it.future.set_exception(answer)
            else:
                it.future.set_result(answer)
        if self._queue:  # what arrived while the model was busy is the next batch
            self._launch(loop)

    def close(self) -> None:
        """Stop the predict thread (the server is stopping)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
