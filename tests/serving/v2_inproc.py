"""In-process V2 servers for the hardening tests: an InferenceApp over small models built
in the test (no training run), called directly as ASGI or served by uvicorn on loopback
in a thread (the same protocol, timeouts and limits as `lamina serve`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from envs_util import free_port

from lamina.serving.model import Model
from lamina.serving.options import ServerLimits
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.schema import Field, Schema
from lamina.serving.server import InferenceApp, LiveVariant, server_config
from lamina.serving.spec import Deployment, Variant

#: Four FP64 features summed: ``predict`` is the row sum (an exact check of what was decoded).
SUM4 = Schema([Field(f"f{i}", "FP64") for i in range(4)], [Field("predict", "FP64")])


def row_sum(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64).sum(axis=1)


def make_app(schema: Schema = SUM4, predict: Any = row_sum, *, input: str = "array",
             writer: PredictionLogWriter | None = None, limits: ServerLimits | None = None,
             token: str | None = None, name: str = "m", metrics: bool = False) -> InferenceApp:
    model = Model(None, predict=predict, schema=schema, input=input)
    deployment = Deployment(name, (Variant("default", f"{name}/run/model", 100.0),))
    live = LiveVariant("default", f"{name}/run/model", model, model.bind())
    server_metrics = None
    if metrics:
        from lamina.serving.metrics import ServerMetrics

        server_metrics = ServerMetrics(name)
    return InferenceApp(deployment, [live], writer=writer, limits=limits, token=token,
                        metrics=server_metrics)


def call(app: InferenceApp, method: str, path: str, body: bytes | str | Any = b"",
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request through the ASGI app: (status, JSON answer or text)."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        data = chunks.pop() if chunks else b""
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    hdrs.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": hdrs}
    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()


def infer(app: InferenceApp, body: Any) -> tuple[int, Any]:
    return call(app, "POST", f"/v2/models/{app.name}/infer", body)


@contextmanager
def live(app: InferenceApp, http: str = "auto") -> Iterator[str]:
    """The app served by uvicorn on a free loopback port (in a thread); yields the base URL.

    :param http: ``"h11"`` serves with uvicorn's h11 protocol instead of httptools.
    """
    import uvicorn

    from lamina.serving.protocol import protocol_class

    port = free_port()
    config = server_config(app, app.limits)
    if http == "h11":
        config.http = protocol_class(app.limits.header_timeout, "h11")
    config.host, config.port = "127.0.0.1", port
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
