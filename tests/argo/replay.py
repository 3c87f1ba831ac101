"""A recorded Kubernetes API exchange for Argo's custom resources, replayed on loopback.

No cluster runs here, so ``lamina deploy --apply`` talks to :class:`ReplayArgo`: an HTTP
server on 127.0.0.1 that answers the custom-objects calls (GET, POST, PUT, DELETE under
``/apis/argoproj.io/v1alpha1/namespaces/NS/PLURAL``) with the response bodies in
``fixtures/`` (written from the Kubernetes API reference, 1.31: Status, and a stored
object's server-set metadata). It keeps the objects it was sent, bumps
``resourceVersion`` on every write and refuses a replace with a stale one (409), as the
API server does. Every request is recorded.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures")
TOKEN = "replay-token"
PREFIX = "/apis/argoproj.io/v1alpha1/namespaces/"


def fixture(file: str, **values: Any) -> dict[str, Any]:
    text = (FIXTURES / f"{file}.json").read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", str(value))
    data = json.loads(text)
    data.pop("_doc", None)
    return data


class Request:
    def __init__(self, method: str, path: str, body: Any, headers: dict[str, str]) -> None:
        self.method, self.path, self.body, self.headers = method, path, body, headers

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


class ReplayArgo:
    """The API server's part for Argo objects in one namespace."""

    def __init__(self, namespace: str, *, forbid: set[str] = frozenset()) -> None:
        self.namespace = namespace
        self.forbid = set(forbid)  # plurals whose writes RBAC denies
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[Request] = []
        self._version = 100
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                request = Request(self.command, self.path.split("?")[0], body,
                                  {k.lower(): v for k, v in self.headers.items()})
                status, payload = replay.answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ReplayArgo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "replay", "cluster": {"server": self.url}}],
            "users": [{"name": "deployer", "user": {"token": TOKEN}}],
            "contexts": [{"name": "replay", "context": {"cluster": "replay", "user": "deployer"}}],
            "current-context": "replay",
        }
        path.write_text(json.dumps(config))
        return path

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    # -- the API server's part ---------------------------------------------------------------

    def _status(self, file: str, plural: str, name: str) -> tuple[int, dict[str, Any]]:
        data = fixture(file, plural=plural, name=name, namespace=self.namespace)
        return data["status"], data["body"]

    def _store(self, plural: str, body: dict[str, Any], generation: int) -> dict[str, Any]:
        self._version += 1
        stored = copy.deepcopy(body)
        server = fixture("stored", resourceVersion=self._version, generation=generation)
        stored["metadata"] = {**stored["metadata"], **server["metadata"]}
        stored["metadata"]["generation"] = generation
        self.objects[(plural, stored["metadata"]["name"])] = stored
        return stored

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            parts = request.path[len(PREFIX):].split("/")
            assert request.path.startswith(PREFIX) and parts[0] == self.namespace, request
            plural, name = parts[1], (parts[2] if len(parts) > 2 else "")
            if request.method != "GET" and plural in self.forbid:
                return self._status("status_403", plural, name)
            current = self.objects.get((plural, name))
            if request.method == "POST":
                name = request.body["metadata"]["name"]
                return 201, self._store(plural, request.body, 1)
            if current is None:
                return self._status("status_404", plural, name)
            if request.method == "GET":
                return 200, current
            if request.method == "PUT":
                if request.body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                    return self._status("status_409", plural, name)
                return 200, self._store(plural, request.body, int(current["metadata"]["generation"]) + 1)
            del self.objects[(plural, name)]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
