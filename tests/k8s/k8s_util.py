"""A recorded Kubernetes API exchange, replayed on loopback.

No API server can run here, so the tests talk to :class:`ReplayCluster`: an HTTP server on
127.0.0.1 that answers the few requests the ``k8s`` compute makes with the response bodies
in ``fixtures/`` (written from the Kubernetes API reference, 1.31: Job, JobList, JobStatus,
Pod, PodList, Status, SelfSubjectAccessReview). Values that depend on the request (the
Job's name, its labels, its indexes) are filled into ``${...}`` placeholders.

It plays the cluster's part faithfully where it matters: a created Job's pods *run*, i.e.
for each index the container's command is executed here with ``JOB_COMPLETION_INDEX`` set
(unless the scenario says the pod is OOM-killed, evicted, or times out, or never starts:
its image cannot be pulled, a Secret it references is missing, no node can take it), and
the Job's status then reports active / ready pods, completedIndexes / failedIndexes and
its conditions, as the Job controller would. Every request is recorded (method, path,
query, body, headers).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).with_name("fixtures")
TOKEN = "replay-token"


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items() if k != "_doc"}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str):
        if node.startswith("${") and node.endswith("}") and node[2:-1] in values:
            return copy.deepcopy(values[node[2:-1]])
        for key, value in values.items():
            node = node.replace("${" + key + "}", str(value))
    return node


def fixture(file: str, /, **values: Any) -> dict[str, Any]:
    """A recorded response with its placeholders filled."""
    data = json.loads((FIXTURES / f"{file}.json").read_text())
    return _fill(data, values)


def ranges(indexes: list[int]) -> str:
    """``[0, 2, 3, 4]`` as the API writes it: ``"0,2-4"``."""
    spans: list[list[int]] = []
    for i in sorted(indexes):
        if spans and spans[-1][1] == i - 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: dict[str, str]):
        self.method, self.path, self.query, self.body, self.headers = method, path, query, body, headers

    def __repr__(self) -> str:
        return f"{self.method} {self.path} {self.query}"


class _JobState:
    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.done = False
        self.completed: list[int] = []
        self.failed: dict[int, tuple[str, dict[str, Any]]] = {}  # index -> (pod fixture, values)
        self.pending: dict[int, tuple[str, dict[str, Any]]] = {}  # pods that do not start
        self.logs: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"]

    @property
    def completions(self) -> int:
        return int(self.manifest["spec"]["completions"])


#: what a pod does: "run" (execute the command), "oom", "evicted", "deadline", "crash",
#: "hang" (runs until deleted), or stays Pending: "image-pull", "config-error",
#: "creating", "unschedulable"
Behaviour = Callable[[dict[str, Any], int], str]

#: the Pending behaviours and the pod each one shows
PENDING = {"image-pull": "pod_image_pull", "config-error": "pod_config_error",
           "creating": "pod_creating", "unschedulable": "pod_unschedulable"}


class ReplayCluster:
    def __init__(self, namespace: str = "ml", workdir: Path | None = None) -> None:
        self.namespace = namespace
        self.workdir = workdir
        self.requests: list[Request] = []
        self.jobs: dict[str, _JobState] = {}
        self.behaviour: Behaviour = lambda manifest, index: "run"
        self.job_failure = "failed_indexes"  # the Failed condition's shape: or backoff_limit, deadline
        self.create_errors: list[str] = []  # fixtures answered to the next creates (status_403, ...)
        self.list_errors: list[str] = []
        self.pod_list_errors: list[str] = []  # fixtures answered to the next pod listings
        self.allowed = True
        self.on_list: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> ReplayCluster:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(timeout=60)

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "replay", "cluster": {"server": self.url}}],
            "users": [{"name": "runner", "user": {"token": TOKEN}}],
            "contexts": [{"name": "replay", "context": {"cluster": "replay", "user": "runner", "namespace": self.namespace}}],
            "current-context": "replay",
        }
        path.write_text(json.dumps(config))
        return path

    # -- what the tests look at -----------------------------------------------------------

    def calls(self, method: str, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def created(self) -> list[dict[str, Any]]:
        return [r.body for r in self.calls("POST", f"/apis/batch/v1/namespaces/{self.namespace}/jobs")]

    # -- the cluster's part ---------------------------------------------------------------

    def _run_pods(self, state: _JobState) -> None:
        container = state.manifest["spec"]["template"]["spec"]["containers"][0]
        image = container["image"]
        for index in range(state.completions):
            what = self.behaviour(state.manifest, index)
            pod = f"{state.name}-{index}-x7k2p"
            values = {"pod": pod, "name": state.name, "namespace": self.namespace,
                      "index": str(index), "image": image}
            if what == "hang":
                return  # stays active until deleted
            if what in PENDING:  # never starts: active, not ready, until deleted
                state.pending[index] = (PENDING[what], values)
                continue
            if what == "run":
                env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
                env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
                env["JOB_COMPLETION_INDEX"] = str(index)
                proc = subprocess.run(
                    container["command"], env=env, cwd=self.workdir, capture_output=True,
                    text=True, timeout=120,
                )
                state.logs[pod] = proc.stdout + proc.stderr
                if proc.returncode == 0:
                    state.completed.append(index)
                else:
                    state.failed[index] = ("pod_error", {**values, "exit_code": proc.returncode})
                continue
            if what == "crash":  # the container dies before the task can write anything
                state.logs[pod] = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'lamina'\n"
                state.failed[index] = ("pod_error", {**values, "exit_code": 3})
                continue
            state.logs[pod] = f"task starting: index {index}\nKilled\n"
            fixture_name = {"oom": "pod_oomkilled", "evicted": "pod_evicted",
                            "deadline": "pod_deadline"}[what]
            state.failed[index] = (fixture_name, values)
        state.done = not state.pending

    def _job_status(self, state: _JobState) -> dict[str, Any]:
        active = state.completions - len(state.completed) - len(state.failed)
        values = {"completions": state.completions, "succeeded": len(state.completed),
                  "completed": ranges(state.completed), "failed": ranges(list(state.failed)),
                  "failed_count": len(state.failed), "active": active,
                  "ready": active - len(state.pending)}
        if not state.done:
            body = fixture("job_status_running", **values)["body"]
            return {k: v for k, v in body.items()  # the API omits empty fields
                    if not (v in ("", 0) and k in ("succeeded", "failed", "completedIndexes", "failedIndexes"))}
        if not state.failed:
            return fixture("job_status_complete", **values)["body"]
        return fixture(f"job_status_{self.job_failure}", **values)["body"]

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, str, bytes]:
        ns = self.namespace
        jobs_path = f"/apis/batch/v1/namespaces/{ns}/jobs"
        if method == "POST" and path == jobs_path:
            name = body["metadata"]["name"]
            values = {"name": name, "namespace": ns, "labels": body["metadata"].get("labels", {}),
                      "spec": body["spec"]}
            error = self.create_errors.pop(0) if self.create_errors else None
            if error == "status_409" or (error is None and name in self.jobs):
                if name not in self.jobs:  # created by an earlier request whose answer was lost
                    self._start_job(body)
                return self._json(fixture("status_409", **values))
            if error:
                return self._json(fixture(error, **values))
            self._start_job(body)
            return self._json(fixture("job_created", **values))
        if method == "GET" and path == jobs_path:
            if self.on_list is not None:
                self.on_list()
            if self.list_errors:
                return self._json(fixture(self.list_errors.pop(0), name="", namespace=ns))
            selector = (query.get("labelSelector") or [""])[0]
            items = []
            with self._lock:
                for state in self.jobs.values():
                    labels = state.manifest["metadata"].get("labels", {})
                    if all(labels.get(k) == v for k, v in _selector(selector).items()):
                        items.append(fixture(
                            "job_item", name=state.name, namespace=ns, labels=labels,
                            spec=state.manifest["spec"], status=self._job_status(state),
                        )["body"])
            return self._json(fixture("job_list", items=items))
        if method == "DELETE" and path.startswith(jobs_path + "/"):
            name = path.rsplit("/", 1)[1]
            with self._lock:
                gone = self.jobs.pop(name, None)
            if gone is None:
                return self._json(fixture("status_404", name=name, namespace=ns))
            return self._json(fixture("delete_job", name=name))
        pods_path = f"/api/v1/namespaces/{ns}/pods"
        if method == "GET" and path == pods_path:
            if self.pod_list_errors:
                return self._json(fixture(self.pod_list_errors.pop(0), name="", namespace=ns))
            job = _selector((query.get("labelSelector") or [""])[0]).get("job-name", "")
            state = self.jobs.get(job)
            items = []
            if state is not None:
                for _index, (name, values) in sorted({**state.failed, **state.pending}.items()):
                    items.append(fixture(name, **values)["body"])
            return self._json(fixture("pod_list", items=items))
        if method == "GET" and path.startswith(pods_path + "/") and path.endswith("/log"):
            pod = path.split("/")[-2]
            text = next((s.logs[pod] for s in self.jobs.values() if pod in s.logs), None)
            if text is None:
                return self._json(fixture("status_404", name=pod, namespace=ns))
            answer = fixture("pod_log", log=text)
            return answer["status"], "text/plain", answer["text"].encode()
        if method == "POST" and path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            reason = "" if self.allowed else "no RBAC policy matched"
            return self._json(fixture("ssar", spec=body["spec"], allowed=self.allowed, reason=reason))
        return self._json(fixture("status_404", name=path, namespace=ns))

    def _start_job(self, manifest: dict[str, Any]) -> None:
        state = _JobState(manifest)
        with self._lock:
            self.jobs[state.name] = state
        t = threading.Thread(target=self._run_pods, args=(state,), daemon=True)
        self._threads.append(t)
        t.start()

    @staticmethod
    def _json(answer: dict[str, Any]) -> tuple[int, str, bytes]:
        return answer["status"], "application/json", json.dumps(answer["body"]).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = parse_qs(parts.query)
                cluster.requests.append(Request(self.command, parts.path, query, body, {k.lower(): v for k, v in self.headers.items()}))
                status, ctype, payload = cluster._answer(self.command, parts.path, query, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _selector(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


FLOW = '''\
from lamina import Flow

flow = Flow("squares")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers", compute="k8s", cpu=0.5, memory=256, timeout=600)
def square(numbers: int, fail: int = 0) -> int:
    print(f"squaring {numbers}")
    if numbers == fail:
        raise ValueError(f"cannot square {numbers}")
    return numbers * numbers


@flow.step
def total(square: list[int]) -> int:
    return sum(square)
'''


def write_project(root: Path, cluster: ReplayCluster, **options: Any) -> Path:
    """A project whose ``square`` step runs on ``k8s`` (the replay cluster); the rest local."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "squares.py").write_text(FLOW)
    cluster.kubeconfig(root / "kubeconfig.json")
    opts = {
        "image": "registry.example/ml:2026-11", "namespace": cluster.namespace,
        "kubeconfig": str(root / "kubeconfig.json"), "poll_interval": 0.05,
        "env_from_secrets": ["lamina-datastore"], "labels": {"team": "churn"},
        **options,
    }
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in opts.items() if not isinstance(v, dict))
    subtables = "\n".join(
        f"[stacks.k8s.compute_overrides.k8s.{k}]\n" + "\n".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items())
        for k, v in opts.items() if isinstance(v, dict)
    )
    (root / "lamina.toml").write_text(
        '[stacks.k8s]\ndatastore = { plugin = "file", url = ".lamina" }\n\n'
        f"[stacks.k8s.compute_overrides.k8s]\n{table}\n\n{subtables}\n"
    )
    return root / "squares.py"
