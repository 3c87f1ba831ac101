"""Issue 19, defect 2: what one request may cost the model server. A body limit (413), big
bodies parsed off the event loop, idle, header and body timeouts, the bearer token, the
warning when binding beyond loopback, and a cap on the rows one request logs. Each test
failed on the server before the hardening (which had none of them)."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import numpy as np
import pytest
from serving_util import Server
from v2_inproc import SUM4, live, make_app, row_sum

from lamina.serving import read_prediction_log
from lamina.serving.options import ServerLimits
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.server import exposure_warnings
from lamina.stack import Stack


def _body(rows: int) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [rows, 4],
                                   "data": [1.0] * (rows * 4)}]}).encode()


def test_a_body_over_the_limit_is_413_before_it_is_read() -> None:
    app = make_app(limits=ServerLimits(max_body_bytes=10_000))
    with live(app) as base:
        r = httpx.post(f"{base}/v2/models/m/infer", content=_body(1000))
        assert r.status_code == 413 and r.json()["field"] == "body"
        assert "more than this server takes (10000 bytes)" in r.json()["error"]

        def chunks():  # no content-length: counted while it arrives
            for _ in range(40):
                yield b" " * 1000

        r = httpx.post(f"{base}/v2/models/m/infer", content=chunks())
        assert r.status_code == 413
        assert httpx.post(f"{base}/v2/models/m/infer", content=_body(2)).status_code == 200


def test_a_big_body_is_answered_off_the_event_loop() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_sum(x):
        if len(x) > 100:  # the big request waits here, in the worker thread
            entered.set()
            assert release.wait(120)
        return row_sum(x)

    app = make_app(predict=slow_sum, limits=ServerLimits(inline_parse_bytes=1024))
    with live(app) as base:
        answer: dict = {}
        big = threading.Thread(target=lambda: answer.setdefault(
            "r", httpx.post(f"{base}/v2/models/m/infer", content=_body(5000), timeout=120)))
        big.start()
        try:
            assert entered.wait(120)
            # the loop is free: health and small requests answer while the big one is busy
            assert httpx.get(f"{base}/v2/health/live", timeout=30).status_code == 200
            small = httpx.post(f"{base}/v2/models/m/infer", content=_body(2), timeout=30)
            assert small.json()["outputs"][0]["data"] == [4.0, 4.0]
        finally:
            release.set()
            big.join(120)
        assert answer["r"].status_code == 200 and len(answer["r"].json()["outputs"][0]["data"]) == 5000


def _closed_by_server(sock: socket.socket) -> bytes:
    """What the server sends before closing (b"" for a plain close); the test's socket
    timeout is generous: it fails only when the server never closes."""
    sock.settimeout(60)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_idle_header_and_body_timeouts_close_slow_connections(http) -> None:
    limits = ServerLimits(idle_timeout=0.3, header_timeout=0.3, body_timeout=0.3)
    app = make_app(limits=limits)
    with live(app, http) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert _closed_by_server(silent) == b""
        with socket.create_connection(("127.0.0.1", port)) as slow_head:
            slow_head.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n")
            assert _closed_by_server(slow_head) == b""
        with socket.create_connection(("127.0.0.1", port)) as slow_body:
            slow_body.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 100\r\n\r\n{\"inp")
            assert b" 408 " in _closed_by_server(slow_body).split(b"\r\n")[0]
        # a keep-alive client that keeps talking is not cut off
        with httpx.Client(base_url=base) as client:
            for _ in range(3):
                assert client.post("/v2/models/m/infer", content=_body(1)).status_code == 200


def test_the_token_guards_every_route_but_health() -> None:
    app = make_app(token="s3cret")
    with live(app) as base:
        assert httpx.get(f"{base}/v2/health/live").status_code == 200
        assert httpx.get(f"{base}/v2/health/ready").status_code == 200
        for method, path in [("POST", "/v2/models/m/infer"), ("GET", "/v2/models/m"),
                             ("GET", "/metrics"), ("GET", "/v2"),
                             ("POST", "/v2/models/m/outcomes")]:
            r = httpx.request(method, f"{base}{path}", content=_body(1))
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer" and r.json()["field"] == "authorization"
        wrong = httpx.post(f"{base}/v2/models/m/infer", content=_body(1),
                           headers={"Authorization": "Bearer s3cre"})
        assert wrong.status_code == 401
        ok = httpx.post(f"{base}/v2/models/m/infer", content=_body(1),
                        headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        doc = httpx.get(f"{base}/v2/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert doc["security"] == [{"bearer": []}]
        assert doc["paths"]["/v2/health/live"]["get"]["security"] == []


def test_binding_beyond_loopback_warns() -> None:
    assert exposure_warnings("127.0.0.1", None) == []
    assert exposure_warnings("::1", None) == []
    lines = exposure_warnings("0.0.0.0", None)
    assert "0.0.0.0, which other machines can reach" in lines[0] and "no token" in lines[1]
    assert len(exposure_warnings("0.0.0.0", "t")) == 1


@pytest.mark.slow
def test_lamina_serve_on_all_interfaces_warns_and_takes_a_token_from_a_variable(
        trained, monkeypatch) -> None:
    project, ref_a, _ = trained
    monkeypatch.setenv("SERVE_TOKEN_FOR_TEST", "tok-123")
    server = Server(project, [ref_a, "--name", "guarded", "--host", "0.0.0.0",
                              "--token", "${SERVE_TOKEN_FOR_TEST}"])
    try:
        rows = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4],
                            "data": [5.1, 3.5, 1.4, 0.2]}]}
        url = f"{server.base}/v2/models/guarded/infer"
        assert httpx.post(url, json=rows).status_code == 401
        ok = httpx.post(url, json=rows, headers={"Authorization": "Bearer tok-123"})
        assert ok.status_code == 200
    finally:
        _, err = server.stop()
    assert "warning: listening on 0.0.0.0, which other machines can reach" in err
    assert "tok-123" not in err


def test_one_huge_request_logs_at_most_max_log_rows(project) -> None:
    stack = Stack.load(cwd=project, env={})
    writer = PredictionLogWriter(stack.datastore, "m", [SUM4], flush_seconds=60)
    app = make_app(writer=writer, limits=ServerLimits(max_log_rows=100))
    from v2_inproc import infer

    status, answer = infer(app, json.loads(_body(5000)))
    assert status == 200 and len(answer["outputs"][0]["data"]) == 5000
    app.close()
    table = read_prediction_log(stack, "m")
    assert table.num_rows == 100
    assert np.all(np.asarray(table["out.predict"].to_pylist()) == 4.0)
