"""The few Kubernetes API calls the backend makes, through the official client.

Responses are read as the JSON the API server sends (``_preload_content=False``), so the
status logic works on the documented shapes, and every API error becomes a LaminaError
naming the request, the namespace and the fix.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lamina.sdk import BackendUnreachableError, ConfigError, LaminaError

if TYPE_CHECKING:
    from lamina_compute_k8s.plugin import K8sComputeOptions

_RBAC_HINT = (
    "bind the identity lamina uses (see `kubectl auth whoami`) to a Role in namespace "
    "{ns} with verbs create, get, list, watch, delete on jobs (group batch) and get, list on "
    "pods and pods/log"
)


class AlreadyExists(LaminaError):
    """A create found an object of that name (409 AlreadyExists)."""


def _status(err: Any) -> dict[str, Any]:
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


class KubeApi:
    """A client of one cluster and namespace."""

    def __init__(self, options: K8sComputeOptions) -> None:
        from kubernetes import client, config

        self.namespace = options.namespace
        cfg = client.Configuration()
        try:
            if options.in_cluster:
                config.load_incluster_config(client_configuration=cfg)
            else:
                config.load_kube_config(
                    config_file=options.kubeconfig, context=options.context,
                    client_configuration=cfg,
                )
        except Exception as exc:  # ConfigException, FileNotFoundError, ...
            where = "in-cluster service account" if options.in_cluster else (
                f"kubeconfig {options.kubeconfig or '$KUBECONFIG or ~/.kube/config'}"
                + (f", context {options.context!r}" if options.context else "")
            )
            raise ConfigError(
                f"compute 'k8s': cannot load the cluster configuration ({where}): {exc}",
                hint="set kubeconfig/context in the stack's compute options, or in_cluster = "
                "true when lamina runs inside a pod",
            ) from None
        cfg.retries = 1
        self.host = cfg.host
        self.api_client = client.ApiClient(cfg)
        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.auth = client.AuthorizationV1Api(self.api_client)

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            resp = fn(*args, _preload_content=False, _request_timeout=30, **kw)
        except ApiException as err:
            status = _status(err)
            message = status.get("message") or err.reason or str(err)
            reason = status.get("reason") or ""
            if err.status == 409 and reason == "AlreadyExists":
                raise AlreadyExists(f"{what}: {message}") from None
            if err.status in (401, 403):
                raise BackendUnreachableError(
                    f"Kubernetes at {self.host} refused to {what} ({err.status} {reason}): "
                    f"{message}",
                    hint=_RBAC_HINT.format(ns=self.namespace),
                ) from None
            if err.status == 404 and reason == "NotFound":
                raise LookupError(message) from None
            raise LaminaError(
                f"Kubernetes at {self.host} could not {what} ({err.status} {reason}): {message}",
                hint="check the compute 'k8s' options of the stack (image, namespace, "
                "resources) against the message",
            ) from None
        except HTTPError as err:
            raise BackendUnreachableError(
                f"cannot reach the Kubernetes API at {self.host} to {what}: {err}",
                hint="check the kubeconfig's server address and that the cluster is up "
                "(`kubectl cluster-info`)",
            ) from None
        return resp

    def _json(self, what: str, fn: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        return json.loads(self._call(what, fn, *args, **kw).data or b"{}")

    # -- the calls ------------------------------------------------------------------------

    def create_job(self, manifest: dict[str, Any]) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        return self._json(
            f"create Job {name} in namespace {self.namespace}",
            self.batch.create_namespaced_job, self.namespace, manifest,
        )

    def list_jobs(self, label_selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"label_selector": label_selector, "limit": 500}
            if token:
                kw["_continue"] = token
            data = self._json(
                f"list Jobs in namespace {self.namespace}", self.batch.list_namespaced_job,
                self.namespace, **kw,
            )
            items.extend(data.get("items") or [])
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items

    def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        data = self._json(
            f"list pods in namespace {self.namespace}", self.core.list_namespaced_pod,
            self.namespace, label_selector=label_selector,
        )
        return list(data.get("items") or [])

    def pod_log(self, pod: str, container: str, limit_bytes: int = 1 << 20) -> str:
        resp = self._call(
            f"read the log of pod {pod} in namespace {self.namespace}",
            self.core.read_namespaced_pod_log, pod, self.namespace, container=container,
            limit_bytes=limit_bytes,
        )
        return (resp.data or b"").decode("utf-8", errors="replace")

    def delete_job(self, name: str) -> bool:
        """Delete a Job and (in the background) its pods; False if it was already gone."""
        try:
            self._call(
                f"delete Job {name} in namespace {self.namespace}",
                self.batch.delete_namespaced_job, name, self.namespace,
                propagation_policy="Background",
            )
        except LookupError:
            return False
        return True

    def can_i(self, verb: str, resource: str, group: str = "") -> tuple[bool, str]:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": self.namespace, "verb": verb, "resource": resource,
                    "group": group,
                }
            },
        }
        data = self._json(
            f"review access to {verb} {resource}",
            self.auth.create_self_subject_access_review, body,
        )
        status = data.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    def close(self) -> None:
        self.api_client.close()
