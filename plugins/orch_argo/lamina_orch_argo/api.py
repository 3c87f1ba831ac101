"""Submitting manifests through the Kubernetes API (``lamina deploy --apply``): create,
or replace what is there (the same client and error handling approach as the ``k8s``
compute). Responses are read as the JSON the API server sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina_compute_k8s.kube import KubeClient

if TYPE_CHECKING:
    from lamina_orch_argo.plugin import ArgoOptions

#: kind -> (group, version, plural)
RESOURCES = {
    "WorkflowTemplate": ("argoproj.io", "v1alpha1", "workflowtemplates"),
    "CronWorkflow": ("argoproj.io", "v1alpha1", "cronworkflows"),
    "Sensor": ("argoproj.io", "v1alpha1", "sensors"),
}

_CRD_HINT = (
    "install Argo Workflows (and Argo Events for sensors) in the cluster: the API server "
    "does not know the kind"
)


class ArgoApi(KubeClient):
    """A client of one cluster and namespace, for Argo's custom resources."""

    component = "orchestrator 'argo'"
    options_table = "orchestrator"
    rbac_hint = (
        "bind the identity lamina uses (see `kubectl auth whoami`) to a Role in namespace {ns} "
        "with verbs get, create, update on workflowtemplates, cronworkflows and sensors "
        "(group argoproj.io)"
    )

    def __init__(self, options: ArgoOptions) -> None:
        super().__init__(options.namespace, in_cluster=options.in_cluster,
                         kubeconfig=options.kubeconfig, context=options.context)
        from kubernetes import client

        self.custom = client.CustomObjectsApi(self.api_client)

    def error_hint(self, status: int) -> str:
        return _CRD_HINT if status == 404 else (
            "check the manifest (`lamina deploy --dry-run`) against the message")

    def apply(self, manifest: dict[str, Any]) -> str:
        """Create ``manifest``, or replace the object of that name (keeping its
        resourceVersion); returns ``created`` or ``updated``."""
        kind = manifest["kind"]
        group, version, plural = RESOURCES[kind]
        name = manifest["metadata"]["name"]
        where = f"{kind} {name} in namespace {self.namespace}"
        try:
            current = self._json(
                f"read {where}", self.custom.get_namespaced_custom_object,
                group, version, self.namespace, plural, name,
            )
        except LookupError:
            self._call(
                f"create {where}", self.custom.create_namespaced_custom_object,
                group, version, self.namespace, plural, manifest,
            )
            return "created"
        body = {**manifest, "metadata": {
            **manifest["metadata"],
            "resourceVersion": (current.get("metadata") or {}).get("resourceVersion", ""),
        }}
        self._call(
            f"replace {where}", self.custom.replace_namespaced_custom_object,
            group, version, self.namespace, plural, name, body,
        )
        return "updated"

    def delete(self, kind: str, name: str) -> bool:
        """Delete an object; False if there was none."""
        group, version, plural = RESOURCES[kind]
        try:
            self._call(
                f"delete {kind} {name} in namespace {self.namespace}",
                self.custom.delete_namespaced_custom_object,
                group, version, self.namespace, plural, name,
            )
        except LookupError:
            return False
        return True
