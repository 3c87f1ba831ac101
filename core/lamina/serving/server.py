"""The local model server: the Open Inference Protocol (V2) over HTTP, as a plain ASGI app
run by uvicorn (httptools and uvloop when installed).

One server process serves one deployment (its name is the V2 model name); several
deployments run side by side as separate processes with their own ports and log partitions.
Prediction runs on the event loop (no thread hop: a scikit-learn predict on a few rows
takes less time than handing it to a thread), except for a body above
``ServerLimits.inline_parse_bytes``, parsed and answered in a worker thread so the loop
stays free; the prediction log and the metrics are in-memory appends on the request path,
the log is written by a background thread. With adaptive batching on (the deployment's
``batching``), validated requests of a variant are stacked into one predict call in a
predict thread (:mod:`lamina.serving.batching`). Limits, the bearer token, the validation
rules and batching are in docs/serving.md.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import socket
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from lamina.serving.batching import Batcher
from lamina.serving.errors import PayloadError, PortInUseError, ServingError
from lamina.serving.model import Model, bind_validated, resolve_model
from lamina.serving.options import ServerLimits
from lamina.serving.prediction_log import outcome_problem
from lamina.serving.router import Router
from lamina.serving.schema import decode_inputs, decode_outputs_request, encode_outputs
from lamina.serving.spec import Deployment

if TYPE_CHECKING:
    from lamina.serving.features import FeatureLookup
    from lamina.serving.metrics import ServerMetrics
    from lamina.serving.prediction_log import PredictionLogWriter
    from lamina.stack import Stack

log = logging.getLogger(__name__)

#: Response headers naming the variant that answered and its resolved model reference.
VARIANT_HEADER = "lamina-variant"
MODEL_HEADER = "lamina-model"

_JSON = [(b"content-type", b"application/json")]
_T = TypeVar("_T")


@attrs.define
class LiveVariant:
    """A variant with its model loaded."""

    name: str
    ref: str
    model: Model
    predict: Any


@attrs.define(slots=True)
class _Job:
    """A validated inference request, ready to predict."""

    t0: float
    ts_us: int
    rid: str
    key: str | None
    variant: LiveVariant
    out_fields: tuple[Any, ...]
    request: dict[str, Any]
    columns: Mapping[str, Any]
    rows: int
    matrix: Any


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, message: str, **extra: Any) -> tuple[int, bytes]:
    return status, _dumps({"error": message, **extra})


def _nonfinite_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


_fast_loads: Callable[[bytes], Any] | None
try:  # orjson parses a few times faster; the standard parser is the reference
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson comes with lamina[serving]
    _fast_loads = None


def _parse(body: bytes) -> Any:
    """The JSON of a request body; ValueError (with the reason) when it is not JSON or
    nests deeper than the parser allows.

    orjson first (when installed); on anything it refuses (``NaN`` literals, integers
    beyond 64 bits, lone surrogates, nesting past 1,024, bad JSON) the standard parser
    decides, so the answer is always the standard parser's.
    """
    if _fast_loads is not None:
        try:
            return _fast_loads(body)
        except ValueError:
            pass
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the body nests too deeply (the limit is about "
                         f"{sys.getrecursionlimit()} levels)") from None


class _Refused(Exception):
    """A request refused before it reaches a model (413, 408, 401)."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class InferenceApp:
    """The ASGI application of one deployment.

    :param limits: what one request may cost (body size, timeouts, logged rows).
    :param token: when set, every route but ``/v2/health/*`` needs
        ``Authorization: Bearer TOKEN`` (401 otherwise).
    """

    def __init__(
        self,
        deployment: Deployment,
        variants: list[LiveVariant],
        *,
        mirror: LiveVariant | None = None,
        writer: PredictionLogWriter | None = None,
        metrics: ServerMetrics | None = None,
        lookup: FeatureLookup | None = None,
        limits: ServerLimits | None = None,
        token: str | None = None,
        actions: dict[str, Callable[[Model], Callable[[Any, dict[str, Any]], dict[str, Any]]]]
        | None = None,
    ) -> None:
        from lamina import __version__

        #: extra POST routes offered by plugins (``lamina_model_actions``): name -> factory
        self.actions = dict(actions or {})
        self._handlers: dict[tuple[str, str], Any] = {}

        #: completes requests of entity keys with online features (``features`` option)
        self.lookup = lookup
        self.deployment = deployment
        self.name = deployment.name
        self.variants = variants
        self.by_name = {v.name: v for v in variants}
        if mirror is not None:
            self.by_name[mirror.name] = mirror
        self.mirror = mirror
        self.router = Router(deployment.name, [v.weight for v in deployment.variants])
        self.writer = writer
        self.metrics = metrics
        self.limits = limits or ServerLimits()
        self._bearer = f"Bearer {token}".encode() if token else None
        self._pool: ThreadPoolExecutor | None = None
        self.sticky = deployment.sticky_key
        self.sticky_header = deployment.sticky_key.lower().encode() if deployment.sticky_key else None
        self.ready = True
        self._server_meta = _dumps({"name": "lamina", "version": __version__,
                                    "extensions": ["lamina-ab", "lamina-outcomes"]})
        first = variants[0].model.schema
        self._model_meta = _dumps({
            "name": self.name,
            "versions": [v.name for v in variants],
            "platform": "lamina",
            "inputs": [f.to_json() for f in first.inputs],
            "outputs": [f.to_json() for f in first.outputs],
            "parameters": {"variants": {v.name: {"model": v.ref, "weight": w.weight}
                                        for v, w in zip(variants, deployment.variants, strict=True)},
                           "sticky_key": self.sticky,
                           "mirror": mirror.ref if mirror else None},
        })
        self._openapi: bytes | None = None
        #: the variants' adaptive batchers (none unless the deployment turns batching on)
        self.batchers: dict[str, Batcher] = {}
        if deployment.batching.enabled:
            self.batchers = {v.name: self._batcher(v) for v in variants}
        # request ids: a random prefix for this server and a counter (uuid4 reads
        # os.urandom for every request)
        self._id_prefix = uuid.uuid4().hex[:16]
        self._id_count = itertools.count()

    def _batcher(self, variant: LiveVariant) -> Batcher:
        observe = self.metrics.observe_batch if self.metrics is not None else None
        return Batcher(variant.model.schema, variant.model.prepare, variant.predict,
                       max_batch_size=self.deployment.batching.max_batch_size,
                       max_batch_wait_ms=self.deployment.batching.max_batch_wait_ms,
                       name=variant.name,
                       on_batch=(lambda n: observe(variant.name, n)) if observe else None)

    def _new_id(self) -> str:
        """A request id unique to this server's process: 32 hex digits."""
        return f"{self._id_prefix}{next(self._id_count):016x}"

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except Exception as exc:  # never a plain-text 500 from the ASGI server
                log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
                await _respond(send, *_error(500, f"internal error: {type(exc).__name__}"), _JSON)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def close(self) -> None:
        """Write the prediction log's last batch (the server is stopping)."""
        self.ready = False
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for batcher in self.batchers.values():
            batcher.close()
        if self.writer is not None:
            self.writer.close()

    def _authorized(self, scope: dict[str, Any]) -> bool:
        if self._bearer is None:
            return True
        for k, v in scope["headers"]:
            if k == b"authorization":
                return hmac.compare_digest(v, self._bearer)
        return False

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> bytes:
        """The whole request body, within the size limit and the body timeout."""
        limit = self.limits.max_body_bytes
        for k, v in scope["headers"]:
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                raise _Refused(413, f"the request body is {int(v)} bytes, more than this "
                               f"server takes ({limit} bytes)", "body")
        chunks = []
        size = 0
        more = True
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Refused(400, "the client disconnected", "body")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(413, f"the request body is more than {limit} bytes, "
                                       "more than this server takes", "body")
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            raise _Refused(408, "the request body did not arrive within "
                           f"{self.limits.body_timeout:g} s", "body") from None
        return b"".join(chunks)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method = scope["method"]
        path = scope["path"]
        headers = _JSON
        if path in ("/v2/health/live", "/v2/health/ready"):
            ok = path.endswith("live") or self.ready
            payload = _dumps({"live": True} if path.endswith("live") else {"ready": ok})
            await _respond(send, 200 if ok else 503, payload, headers)
            return
        if not self._authorized(scope):
            await _respond(send, *_error(401, "this server needs its token: send "
                                         "'Authorization: Bearer TOKEN'", field="authorization"),
                           [*_JSON, (b"www-authenticate", b"Bearer")])
            return
        body = b""
        request: Any = None
        if method == "POST":
            try:
                body = await self._read_body(scope, receive)
            except _Refused as exc:
                self._refused(exc)
                await _respond(send, *_error(exc.status, str(exc), field=exc.field),
                               [*_JSON, (b"connection", b"close")])
                return
        parts = path.strip("/").split("/")
        if parts[0] == "v2" and len(parts) >= 3 and parts[1] == "models":
            model, rest = parts[2], parts[3:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            action = rest[0] if rest else ""
            if model != self.name:
                status, payload = _error(404, f"model {model!r} is not served here",
                                         models=[self.name])
            elif version is not None and version not in self.by_name:
                status, payload = _error(404, f"model {model!r} has no version {version!r}",
                                         versions=list(self.by_name))
            elif len(rest) > 1:
                status, payload = _error(404, f"no route {method} {path}")
            elif action == "infer" and method == "POST":
                status, payload, headers, request = (
                    await self._infer_batched(scope, body, version) if self.batchers
                    else await self._run(len(body), self._infer, scope, body, version))
            elif action == "outcomes" and method == "POST":
                status, payload = await self._run(len(body), self._outcomes, body)
            elif action in self.actions and method == "POST":
                status, payload = await self._run(len(body), self._action, action, scope, body,
                                                  version)
            elif action == "" and method == "GET":
                status, payload = 200, self._model_meta
            elif action == "ready" and method == "GET":
                status, payload = (200, b'{"ready":true}') if self.ready else (503, b'{"ready":false}')
            else:
                status, payload = _error(405 if action in ("infer", "outcomes", "ready", "",
                                                           *self.actions) else 404,
                                         f"{method} {path} is not supported")
        elif path in ("/v2", "/v2/") and method == "GET":
            status, payload = 200, self._server_meta
        elif path == "/v2/openapi.json" and method == "GET":
            status, payload = 200, self.openapi()
        elif path == "/metrics" and method == "GET" and self.metrics is not None:
            status, payload = 200, self.metrics.render()
            headers = [(b"content-type", self.metrics.content_type.encode())]
        else:
            status, payload = _error(404, f"no route {method} {path}",
                                     hint="V2 routes: /v2/health/ready, /v2/models/"
                                     f"{self.name}/infer, /v2/openapi.json, /metrics")
        await _respond(send, status, payload, headers)
        if self.mirror is not None and request is not None and status == 200:
            await self._run(len(body), self._shadow, request)

    async def _run(self, size: int, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the event loop for a body of up to ``inline_parse_bytes``, else
        in the worker thread (one at a time), so a big body never holds the loop."""
        if size <= self.limits.inline_parse_bytes:
            return fn(*args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="lamina-infer")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def openapi(self) -> bytes:
        """The OpenAPI document of the routes this server answers."""
        if self._openapi is None:
            from lamina.serving.openapi import openapi_document

            self._openapi = _dumps(openapi_document(self.name, list(self.by_name),
                                                    schema=self.variants[0].model.schema,
                                                    token=self._bearer is not None,
                                                    metrics=self.metrics is not None,
                                                    actions=list(self.actions)))
        return self._openapi

    # ------------------------------------------------------------------ inference

    def _sticky_value(self, scope: dict[str, Any], request: dict[str, Any]) -> str | None:
        if self.sticky_header is None:
            return None
        for k, v in scope["headers"]:
            if k == self.sticky_header:
                return v.decode("latin-1")
        params = request.get("parameters")
        if isinstance(params, dict) and self.sticky in params:
            return str(params[self.sticky])
        return None

    def _admit(self, scope: dict[str, Any], body: bytes, version: str | None
               ) -> _Job | tuple[int, bytes, list[tuple[bytes, bytes]], None]:
        """Parse, route and validate an inference request: the job to predict, or the
        error answer (status, payload, headers, None) of a request that cannot be."""
        t0 = time.perf_counter()
        ts_us = time.time_ns() // 1000
        err = "request body must be a JSON object with \"inputs\""
        try:
            request: Any = _parse(body)
        except ValueError as exc:
            request = None
            err = f"request body is not JSON: {exc}"
        if not isinstance(request, dict):
            return (*self._fail(self.variants[0], self._new_id(), ts_us, t0, 400, err,
                                "body"), None)
        raw_id = request.get("id")
        rid = raw_id if isinstance(raw_id, str) and raw_id else self._new_id()
        key = None
        if version is not None:
            variant = self.by_name[version]
        else:
            key = self._sticky_value(scope, request)
            variant = self.variants[self.router.choose(key)]
        try:
            if raw_id is not None and not isinstance(raw_id, str):
                raise PayloadError(f'"id" must be a string, got {raw_id!r}', field="id")
            if "parameters" in request and not isinstance(request["parameters"], dict | None):
                raise PayloadError('"parameters" must be an object', field="parameters")
            out_fields = decode_outputs_request(variant.model.schema, request.get("outputs"))
            inputs = request.get("inputs")
            if self.lookup is not None:
                inputs = request["inputs"] = self.lookup.complete(inputs, variant.model.schema)
            columns, rows, matrix = decode_inputs(variant.model.schema, inputs)
        except Exception as exc:
            return self._predict_failed(variant, rid, ts_us, t0, exc)
        return _Job(t0, ts_us, rid, key, variant, out_fields, request, columns, rows, matrix)

    def _predict(self, job: _Job) -> dict[str, Any]:
        """The job's outputs, predicted on their own."""
        variant = job.variant
        result = variant.predict(variant.model.prepare(job.columns, job.matrix))
        return encode_outputs(variant.model.schema, result, job.rows)

    def _predict_failed(self, variant: LiveVariant, rid: str, ts_us: int, t0: float,
                        exc: Exception) -> tuple[int, bytes, list[tuple[bytes, bytes]], None]:
        """The answer to a request whose validation or prediction raised ``exc``."""
        if isinstance(exc, PayloadError):
            return (*self._fail(variant, rid, ts_us, t0, 400, str(exc), exc.field), None)
        if isinstance(exc, ServingError):
            return (*self._fail(variant, rid, ts_us, t0, 500, str(exc), None), None)
        log.error("predict failed for %s (%s)", variant.ref, rid, exc_info=exc)
        return (*self._fail(variant, rid, ts_us, t0, 500,
                            f"predict of {variant.ref} failed: {type(exc).__name__}: {exc}",
                            None), None)

    def _answer(self, job: _Job, outputs: dict[str, Any]
                ) -> tuple[int, bytes, list[tuple[bytes, bytes]], dict[str, Any]]:
        """The 200 answer of a predicted job; the prediction is logged and counted."""
        variant = job.variant
        payload = _dumps({
            "model_name": self.name,
            "model_version": variant.name,
            "id": job.rid,
            "parameters": {"variant": variant.name, "model": variant.ref},
            "outputs": [
                {"name": f.name, "datatype": f.datatype, "shape": list(outputs[f.name].shape),
                 "data": outputs[f.name].ravel().tolist()}
                for f in job.out_fields
            ],
        })
        latency = time.perf_counter() - job.t0
        if self.writer is not None:
            self._log(job.rid, job.ts_us, variant, latency, job.rows, job.columns, outputs,
                      key=job.key)
        if self.metrics is not None:
            self.metrics.observe(variant.name, 200, latency, job.rows)
        return 200, payload, [*_JSON, (VARIANT_HEADER.encode(), variant.name.encode()),
                              (MODEL_HEADER.encode(), variant.ref.encode())], job.request

    def _infer(self, scope: dict[str, Any], body: bytes, version: str | None
               ) -> tuple[int, bytes, list[tuple[bytes, bytes]], dict[str, Any] | None]:
        """Answer one inference request on its own: (status, payload, headers, the parsed
        request when it was answered)."""
        job = self._admit(scope, body, version)
        if not isinstance(job, _Job):
            return job
        try:
            outputs = self._predict(job)
        except Exception as exc:
            return self._predict_failed(job.variant, job.rid, job.ts_us, job.t0, exc)
        return self._answer(job, outputs)

    async def _infer_batched(self, scope: dict[str, Any], body: bytes, version: str | None
                             ) -> tuple[int, bytes, list[tuple[bytes, bytes]],
                                        dict[str, Any] | None]:
        """Answer an inference request within a batch of its variant (validated first,
        on its own: a bad request never joins a batch)."""
        job = await self._run(len(body), self._admit, scope, body, version)
        if not isinstance(job, _Job):
            return job
        batcher = self.batchers.get(job.variant.name)
        if batcher is None:
            return await self._run(len(body), self._infer, scope, body, version)
        try:
            outputs = await batcher.predict(job.columns, job.rows, job.matrix)
        except Exception as exc:
            return self._predict_failed(job.variant, job.rid, job.ts_us, job.t0, exc)
        return self._answer(job, outputs)

    def _action(self, name: str, scope: dict[str, Any], body: bytes, version: str | None
                ) -> tuple[int, bytes]:
        """Answer a plugin's route (``lamina_model_actions``) for the variant named in the
        path, else the one the router picks; not logged as a prediction."""
        try:
            request: Any = _parse(body)
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}", field="body")
        if not isinstance(request, dict):
            return _error(400, 'request body must be a JSON object with "inputs"', field="body")
        raw_id = request.get("id")
        rid = raw_id if isinstance(raw_id, str) and raw_id else self._new_id()
        variant = (self.by_name[version] if version is not None
                   else self.variants[self.router.choose(self._sticky_value(scope, request))])
        key = (name, variant.name)
        try:
            if key not in self._handlers:
                self._handlers[key] = self.actions[name](variant.model)
            handler = self._handlers[key]
        except ServingError as exc:
            return _error(501, f"{name} is not available for {variant.ref}: {exc.message}",
                          id=rid, **({"hint": exc.hint} if exc.hint else {}))
        try:
            inputs = request.get("inputs")
            if self.lookup is not None:
                inputs = request["inputs"] = self.lookup.complete(inputs, variant.model.schema)
            columns, _rows, matrix = decode_inputs(variant.model.schema, inputs)
            result = handler(variant.model.prepare(columns, matrix), request)
        except PayloadError as exc:
            return _error(400, str(exc), field=exc.field, id=rid)
        except Exception as exc:
            log.exception("%s failed for %s (%s)", name, variant.ref, rid)
            return _error(500, f"{name} of {variant.ref} failed: {type(exc).__name__}: {exc}",
                          id=rid)
        return 200, _dumps({"model_name": self.name, "model_version": variant.name, "id": rid,
                            "parameters": {"variant": variant.name, "model": variant.ref},
                            **result})

    def _log(self, rid: str, ts_us: int, variant: LiveVariant, latency: float, rows: int,
             columns: Mapping[str, Any], outputs: dict[str, Any], key: str | None = None) -> None:
        """Queue an answered request for the prediction log (its first ``max_log_rows``
        rows: a huge batch does not flood the log)."""
        assert self.writer is not None
        cap = self.limits.max_log_rows
        if rows > cap:
            columns = {k: v[:cap] for k, v in columns.items()}
            outputs = {k: v[:cap] for k, v in outputs.items()}
            rows = cap
        self.writer.record(rid, ts_us, variant.name, variant.ref, latency * 1000.0, 200,
                           rows, columns, outputs, key=key)

    def _fail(self, variant: LiveVariant, rid: str, ts_us: int, t0: float, status: int,
              message: str, field: str | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        latency = time.perf_counter() - t0
        if self.writer is not None:
            self.writer.record(rid, ts_us, variant.name, variant.ref, latency * 1000.0, status,
                               0, None, None)
        if self.metrics is not None:
            self.metrics.observe(variant.name, status, latency, 0)
        extra = {"field": field} if field else {}
        return status, _dumps({"error": message, "id": rid, **extra}), [
            *_JSON, (VARIANT_HEADER.encode(), variant.name.encode())]

    def _refused(self, exc: _Refused) -> None:
        """A request refused before parsing still shows in the log and the metrics."""
        self._fail(self.variants[0], self._new_id(), time.time_ns() // 1000,
                   time.perf_counter(), exc.status, str(exc), exc.field)

    def _shadow(self, request: dict[str, Any]) -> None:
        """Answer the request again with the mirror model; only the log sees the result."""
        mirror = self.mirror
        assert mirror is not None
        t0 = time.perf_counter()
        ts_us = time.time_ns() // 1000
        raw_id = request.get("id")
        rid = raw_id if isinstance(raw_id, str) and raw_id else self._new_id()
        try:
            inputs = request.get("inputs")
            if self.lookup is not None:
                inputs = self.lookup.complete(inputs, mirror.model.schema)
            columns, rows, matrix = decode_inputs(mirror.model.schema, inputs)
            outputs = encode_outputs(mirror.model.schema,
                                     mirror.predict(mirror.model.prepare(columns, matrix)), rows)
            status = 200
        except PayloadError:
            columns, rows, outputs, status = None, 0, None, 400
        except Exception:
            log.exception("mirror %s failed", mirror.ref)
            columns, rows, outputs, status = None, 0, None, 500
        latency = time.perf_counter() - t0
        if self.writer is not None:
            if status == 200:
                assert columns is not None and outputs is not None
                self._log(rid, ts_us, mirror, latency, rows, columns, outputs)
            else:
                self.writer.record(rid, ts_us, mirror.name, mirror.ref, latency * 1000.0,
                                   status, 0, None, None)
        if self.metrics is not None:
            self.metrics.observe(mirror.name, status, latency, rows)

    def _outcomes(self, body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body, parse_constant=_nonfinite_constant)
        except RecursionError:
            return _error(400, "request body is not JSON: it nests too deeply", field="body")
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}", field="body")
        items = request.get("outcomes") if isinstance(request, dict) else None
        if not isinstance(items, list) or not items:
            return _error(400, '"outcomes" must be a non-empty list of {"request_id", "outcome"}',
                          field="outcomes")
        now = time.time_ns() // 1000
        rows = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) \
                    or not item["request_id"]:
                return _error(400, f"outcomes[{i}].request_id must be a non-empty string",
                              field=f"outcomes[{i}].request_id")
            value = item.get("outcome")
            problem = outcome_problem(value)
            if problem:
                return _error(400, f"outcomes[{i}].outcome {problem}",
                              field=f"outcomes[{i}].outcome",
                              hint="send a finite number (NaN and Infinity would poison the "
                              "A/B report)")
            number = float(value)  # type: ignore[arg-type]
            rows.append((item["request_id"], now, number))
        if self.writer is None:
            return _error(503, "this server keeps no prediction log", field="outcomes")
        self.writer.record_outcomes(rows)
        return 200, _dumps({"accepted": len(rows)})


async def _respond(send: Any, status: int, payload: bytes,
                   headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


# ---------------------------------------------------------------------- building, serving


def load_variants(stack: Stack, deployment: Deployment) -> tuple[list[LiveVariant], LiveVariant | None]:
    """Load every variant's model (fails before any port is opened)."""
    live = []
    for v in deployment.variants:
        loaded = resolve_model(stack, v.model)
        live.append(LiveVariant(v.name, loaded.ref, loaded.model, bind_validated(loaded.model)))
    mirror = None
    if deployment.mirror is not None:
        loaded = resolve_model(stack, deployment.mirror.model)
        mirror = LiveVariant(deployment.mirror.name, loaded.ref, loaded.model, bind_validated(loaded.model))
    return live, mirror


def build_app(
    deployment: Deployment,
    stack: Stack | str | None = None,
    *,
    log_predictions: bool = True,
    flush_seconds: float = 2.0,
    flush_rows: int = 20_000,
    metrics: bool = True,
    limits: ServerLimits | None = None,
    token: str | None = None,
) -> InferenceApp:
    """The ASGI app of a deployment, models loaded, prediction log writer started. The
    deployment is served for the stack's branch (its name qualified by it, see
    :func:`lamina.serving.deployment.for_branch`), so is its prediction log.

    :param limits: what one request may cost (see :class:`InferenceApp`).
    :param token: the bearer token every route but the health checks needs (None: none).
    """
    from lamina.serving.deployment import for_branch
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    deployment = for_branch(deployment, stack.branch)
    variants, mirror = load_variants(stack, deployment)
    writer = None
    if log_predictions:
        from lamina.serving.prediction_log import PredictionLogWriter

        schemas = [v.model.schema for v in variants] + ([mirror.model.schema] if mirror else [])
        writer = PredictionLogWriter(stack.datastore, deployment.name, schemas,
                                     flush_seconds=flush_seconds, flush_rows=flush_rows,
                                     hook=stack.hook, mirror=mirror.name if mirror else None)
        from lamina.serving.experiment import record_design

        record_design(stack.datastore, deployment)
    server_metrics = None
    if metrics:
        from lamina.serving.metrics import ServerMetrics

        server_metrics = ServerMetrics(deployment.name)
    lookup = None
    if deployment.features:
        from lamina.features.training import get_store
        from lamina.serving.features import FeatureLookup

        lookup = FeatureLookup(get_store(stack), deployment.features)
    return InferenceApp(deployment, variants, mirror=mirror, writer=writer,
                        metrics=server_metrics, limits=limits, token=token, lookup=lookup,
                        actions=model_actions(stack))


#: Routes of the server itself, which a plugin's action cannot take.
BUILTIN_ACTIONS = ("infer", "outcomes", "ready", "versions")


def model_actions(stack: Stack) -> dict[str, Any]:
    """The extra routes plugins offer (``lamina_model_actions``), merged; a name the server
    routes itself or offered twice is a :class:`ServingError`."""
    merged: dict[str, Any] = {}
    for offered in stack.hook.lamina_model_actions(stack=stack):
        for name, factory in (offered or {}).items():
            if name in BUILTIN_ACTIONS or not name or "/" in name:
                raise ServingError(f"a plugin offers the model route {name!r}, which the server "
                                   "answers itself", hint="rename the action in the plugin")
            if name in merged:
                raise ServingError(f"two plugins offer the model route {name!r}",
                                   hint="uninstall one of them (lamina plugins lists them)")
            merged[name] = factory
    return merged


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or :class:`PortInUseError` saying what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint=f"another server uses port {port}: pick another with --port, or stop it "
            f"(`lsof -i :{port}` shows which process)",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def server_config(app: InferenceApp, limits: ServerLimits) -> Any:
    """The ``uvicorn.Config`` of the server: uvloop when installed, the HTTP protocol with
    the idle and header timeouts (:mod:`lamina.serving.protocol`), no access log, no
    proxy-headers middleware."""
    import uvicorn

    from lamina.serving.protocol import protocol_class

    # no proxy-headers middleware: the app reads no client address
    kwargs: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "on",
                              "proxy_headers": False, "timeout_graceful_shutdown": 10,
                              "timeout_keep_alive": limits.idle_timeout,
                              "http": protocol_class(limits.header_timeout)}
    try:
        import uvloop  # noqa: F401

        kwargs["loop"] = "uvloop"
    except ImportError:
        kwargs["loop"] = "asyncio"
    return uvicorn.Config(app, **kwargs)


def exposure_warnings(host: str, token: str | None) -> list[str]:
    """What to tell the user before listening on ``host``: nothing on loopback; on any
    other address, that other machines can reach the model (and whether a token guards it)."""
    from lamina.ui.server import loopback

    if loopback(host):
        return []
    lines = [f"listening on {host}, which other machines can reach: anyone who can connect "
             "can call the model, read its metadata and metrics, and post outcomes"]
    if not token:
        lines.append("no token: requests are not authenticated (set one with --token or "
                     "the serving option token = \"${VAR}\"; put TLS in front for the network)")
    return lines


def serve(
    deployment: Deployment,
    stack: Stack | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_predictions: bool = True,
    flush_seconds: float = 2.0,
    flush_rows: int = 20_000,
    on_ready: Any = None,
    limits: ServerLimits | None = None,
    token: str | None = None,
    warn: Any = None,
) -> None:
    """Serve a deployment until interrupted (SIGINT/SIGTERM), then write the last log batch.

    Models are loaded and the port is taken before anything listens, so a bad model
    reference or a busy port fails at once with a :class:`ServingError`.

    :param on_ready: called with the URL once the server accepts requests.
    :param limits: body size, timeouts and logged rows per request (defaults:
        :class:`lamina.serving.options.ServerLimits`).
    :param token: when set, every route but ``/v2/health/*`` needs ``Authorization:
        Bearer TOKEN``.
    :param warn: called with each warning (binding beyond loopback); default: stderr.

    The deployment is served for the stack's branch: on a project's branch its name (the
    URL's model name and the prediction log's folder) is qualified by the branch.
    """
    try:
        import uvicorn
    except ImportError:
        raise ServingError("the local model server needs uvicorn",
                           hint="pip install 'lamina[serving]'") from None
    limits = limits or ServerLimits()
    say = warn or (lambda text: print(f"lamina serve: warning: {text}", file=sys.stderr,
                                      flush=True))
    for line in exposure_warnings(host, token):
        say(line)
    from lamina.serving.deployment import for_branch
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    deployment = for_branch(deployment, stack.branch)
    app = build_app(deployment, stack, log_predictions=log_predictions,
                    flush_seconds=flush_seconds, flush_rows=flush_rows, limits=limits,
                    token=token)
    try:
        sock = bind(host, port)
    except ServingError:
        app.close()
        raise
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}/v2/models/{deployment.name}"
    config = server_config(app, limits)
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if app.ready:  # lifespan shutdown did not run (startup failed)
            app.close()
