"""The local model server: the Open Inference Protocol (V2) over HTTP, as a plain ASGI app
run by uvicorn (httptools and uvloop when installed).

One server process serves one deployment (its name is the V2 model name); several
deployments run side by side as separate processes with their own ports and log partitions.
Prediction runs on the event loop (no thread hop: a scikit-learn predict on a few rows
takes less time than handing it to a thread); the prediction log and the metrics are
in-memory appends on the request path, the log is written by a background thread.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving.errors import PayloadError, PortInUseError, ServingError
from lamina.serving.model import Model, resolve_model
from lamina.serving.router import Router
from lamina.serving.schema import decode_inputs, encode_outputs
from lamina.serving.spec import Deployment

if TYPE_CHECKING:
    from lamina.serving.metrics import ServerMetrics
    from lamina.serving.prediction_log import PredictionLogWriter
    from lamina.stack import Stack

log = logging.getLogger(__name__)

#: Response headers naming the variant that answered and its resolved model reference.
VARIANT_HEADER = "lamina-variant"
MODEL_HEADER = "lamina-model"

_JSON = [(b"content-type", b"application/json")]


@attrs.define
class LiveVariant:
    """A variant with its model loaded."""

    name: str
    ref: str
    model: Model
    predict: Any


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, message: str, **extra: Any) -> tuple[int, bytes]:
    return status, _dumps({"error": message, **extra})


class InferenceApp:
    """The ASGI application of one deployment."""

    def __init__(
        self,
        deployment: Deployment,
        variants: list[LiveVariant],
        *,
        mirror: LiveVariant | None = None,
        writer: PredictionLogWriter | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        from lamina import __version__

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

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
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
        if self.writer is not None:
            self.writer.close()

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method = scope["method"]
        path = scope["path"]
        headers = _JSON
        body = b""
        if method == "POST":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
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
            elif action == "infer" and method == "POST":
                status, payload, headers = self._infer(scope, body, version)
            elif action == "outcomes" and method == "POST":
                status, payload = self._outcomes(body)
            elif action == "" and method == "GET":
                status, payload = 200, self._model_meta
            elif action == "ready" and method == "GET":
                status, payload = (200, b'{"ready":true}') if self.ready else (503, b'{"ready":false}')
            else:
                status, payload = _error(405 if action in ("infer", "outcomes", "ready", "") else 404,
                                         f"{method} {path} is not supported")
        elif path in ("/v2/health/live", "/v2/health/ready"):
            ok = path.endswith("live") or self.ready
            status = 200 if ok else 503
            payload = _dumps({"live": True} if path.endswith("live") else {"ready": ok})
        elif path in ("/v2", "/v2/") and method == "GET":
            status, payload = 200, self._server_meta
        elif path == "/metrics" and method == "GET" and self.metrics is not None:
            status, payload = 200, self.metrics.render()
            headers = [(b"content-type", self.metrics.content_type.encode())]
        else:
            status, payload = _error(404, f"no route {method} {path}",
                                     hint="V2 routes: /v2/health/ready, /v2/models/"
                                     f"{self.name}/infer, /metrics")
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        if self.mirror is not None and path.endswith("/infer") and status == 200:
            self._shadow(body)

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

    def _infer(self, scope: dict[str, Any], body: bytes, version: str | None
               ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        t0 = time.perf_counter()
        ts_us = time.time_ns() // 1000
        err = "request body must be a JSON object with \"inputs\""
        try:
            request: Any = json.loads(body)
        except ValueError as exc:
            request = None
            err = f"request body is not JSON: {exc}"
        if not isinstance(request, dict):
            variant = self.variants[0]
            rid = uuid.uuid4().hex
            return self._fail(variant, rid, ts_us, t0, 400, err, "body")
        raw_id = request.get("id")
        rid = str(raw_id) if raw_id is not None else uuid.uuid4().hex
        if version is not None:
            variant = self.by_name[version]
        else:
            variant = self.variants[self.router.choose(self._sticky_value(scope, request))]
        try:
            columns, rows, matrix = decode_inputs(variant.model.schema, request.get("inputs"))
            result = variant.predict(variant.model.prepare(columns, matrix))
            outputs = encode_outputs(variant.model.schema, result, rows)
        except PayloadError as exc:
            return self._fail(variant, rid, ts_us, t0, 400, str(exc), exc.field)
        except ServingError as exc:
            return self._fail(variant, rid, ts_us, t0, 500, str(exc), None)
        except Exception as exc:
            log.exception("predict failed for %s (%s)", variant.ref, rid)
            return self._fail(variant, rid, ts_us, t0, 500,
                              f"predict of {variant.ref} failed: {type(exc).__name__}: {exc}", None)
        wanted = request.get("outputs")
        out_fields = variant.model.schema.outputs
        if wanted:
            names = {o.get("name") for o in wanted if isinstance(o, dict)}
            unknown = names - {f.name for f in out_fields}
            if unknown:
                return self._fail(variant, rid, ts_us, t0, 400,
                                  f"output {sorted(map(str, unknown))[0]!r} is not an output of the model "
                                  f"(outputs: {', '.join(f.name for f in out_fields)})", "outputs")
            out_fields = tuple(f for f in out_fields if f.name in names)
        payload = _dumps({
            "model_name": self.name,
            "model_version": variant.name,
            "id": rid,
            "parameters": {"variant": variant.name, "model": variant.ref},
            "outputs": [
                {"name": f.name, "datatype": f.datatype, "shape": list(outputs[f.name].shape),
                 "data": outputs[f.name].ravel().tolist()}
                for f in out_fields
            ],
        })
        latency = time.perf_counter() - t0
        if self.writer is not None:
            self.writer.record(rid, ts_us, variant.name, variant.ref, latency * 1000.0, 200,
                               rows, columns, outputs)
        if self.metrics is not None:
            self.metrics.observe(variant.name, 200, latency, rows)
        return 200, payload, [*_JSON, (VARIANT_HEADER.encode(), variant.name.encode()),
                              (MODEL_HEADER.encode(), variant.ref.encode())]

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

    def _shadow(self, body: bytes) -> None:
        """Answer the request again with the mirror model; only the log sees the result."""
        mirror = self.mirror
        assert mirror is not None
        t0 = time.perf_counter()
        ts_us = time.time_ns() // 1000
        request = json.loads(body)
        rid = str(request.get("id") or uuid.uuid4().hex)
        try:
            columns, rows, matrix = decode_inputs(mirror.model.schema, request.get("inputs"))
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
            self.writer.record(rid, ts_us, mirror.name, mirror.ref, latency * 1000.0, status,
                               rows, columns, outputs)
        if self.metrics is not None:
            self.metrics.observe(mirror.name, status, latency, rows)

    def _outcomes(self, body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body)
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}", field="body")
        items = request.get("outcomes") if isinstance(request, dict) else None
        if not isinstance(items, list) or not items:
            return _error(400, '"outcomes" must be a non-empty list of {"request_id", "outcome"}',
                          field="outcomes")
        now = time.time_ns() // 1000
        rows = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "request_id" not in item:
                return _error(400, f"outcomes[{i}] has no request_id", field=f"outcomes[{i}]")
            value = item.get("outcome")
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _error(400, f"outcomes[{i}].outcome must be a number, got {value!r}",
                              field=f"outcomes[{i}].outcome")
            rows.append((str(item["request_id"]), now, float(value)))
        if self.writer is None:
            return _error(503, "this server keeps no prediction log", field="outcomes")
        self.writer.record_outcomes(rows)
        return 200, _dumps({"accepted": len(rows)})


# ---------------------------------------------------------------------- building, serving


def load_variants(stack: Stack, deployment: Deployment) -> tuple[list[LiveVariant], LiveVariant | None]:
    """Load every variant's model (fails before any port is opened)."""
    live = []
    for v in deployment.variants:
        loaded = resolve_model(stack, v.model)
        live.append(LiveVariant(v.name, loaded.ref, loaded.model, loaded.model.bind()))
    mirror = None
    if deployment.mirror is not None:
        loaded = resolve_model(stack, deployment.mirror.model)
        mirror = LiveVariant(deployment.mirror.name, loaded.ref, loaded.model, loaded.model.bind())
    return live, mirror


def build_app(
    deployment: Deployment,
    stack: Stack | str | None = None,
    *,
    log_predictions: bool = True,
    flush_seconds: float = 2.0,
    flush_rows: int = 20_000,
    metrics: bool = True,
) -> InferenceApp:
    """The ASGI app of a deployment, models loaded, prediction log writer started. The
    deployment is served for the stack's branch (its name qualified by it, see
    :func:`lamina.serving.deployment.for_branch`), so is its prediction log."""
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
                                     hook=stack.hook)
    server_metrics = None
    if metrics:
        from lamina.serving.metrics import ServerMetrics

        server_metrics = ServerMetrics(deployment.name)
    return InferenceApp(deployment, variants, mirror=mirror, writer=writer, metrics=server_metrics)


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
) -> None:
    """Serve a deployment until interrupted (SIGINT/SIGTERM), then write the last log batch.

    Models are loaded and the port is taken before anything listens, so a bad model
    reference or a busy port fails at once with a :class:`ServingError`.

    :param on_ready: called with the URL once the server accepts requests.

    The deployment is served for the stack's branch: on a project's branch its name (the
    URL's model name and the prediction log's folder) is qualified by the branch.
    """
    try:
        import uvicorn
    except ImportError:
        raise ServingError("the local model server needs uvicorn",
                           hint="pip install 'lamina[serving]'") from None
    from lamina.serving.deployment import for_branch
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    deployment = for_branch(deployment, stack.branch)
    app = build_app(deployment, stack, log_predictions=log_predictions,
                    flush_seconds=flush_seconds, flush_rows=flush_rows)
    try:
        sock = bind(host, port)
    except ServingError:
        app.close()
        raise
    actual = sock.getsockname()[1]
    url = f"http://{host}:{actual}/v2/models/{deployment.name}"
    kwargs: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "on",
                              "timeout_graceful_shutdown": 10}
    try:
        import uvloop  # noqa: F401

        kwargs["loop"] = "uvloop"
    except ImportError:
        kwargs["loop"] = "asyncio"
    try:
        import httptools  # noqa: F401

        kwargs["http"] = "httptools"
    except ImportError:
        kwargs["http"] = "h11"
    config = uvicorn.Config(app, **kwargs)
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
