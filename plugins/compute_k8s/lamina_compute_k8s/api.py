"""The few Kubernetes API calls the backend makes, through the official client.

Responses are read as the JSON the API server sends (``_preload_content=False``), so the
status logic works on the documented shapes, and every API error becomes a LaminaError
naming the request, the namespace and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina_compute_k8s.kube import AlreadyExists, KubeClient

if TYPE_CHECKING:
    from lamina_compute_k8s.plugin import K8sComputeOptions

__all__ = ["AlreadyExists", "KubeApi"]


class KubeApi(KubeClient):
    """The k8s compute's client: Jobs, their pods and logs, access reviews."""

    component = "compute 'k8s'"
    options_table = "compute"
    rbac_hint = (
        "bind the identity lamina uses (see `kubectl auth whoami`) to a Role in namespace "
        "{ns} with verbs create, get, list, watch, delete on jobs (group batch) and get, list "
        "on pods and pods/log"
    )

    def __init__(self, options: K8sComputeOptions) -> None:
        super().__init__(options.namespace, in_cluster=options.in_cluster,
                         kubeconfig=options.kubeconfig, context=options.context)
        from kubernetes import client

        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.auth = client.AuthorizationV1Api(self.api_client)

    def error_hint(self, status: int) -> str:
        return ("check the compute 'k8s' options of the stack (image, namespace, "
                "resources) against the message")

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
