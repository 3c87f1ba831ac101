"""Submitting manifests through the Kubernetes API (``lamina deploy --apply``): create,
or replace what is there (the same client and error handling approach as the ``k8s``
compute). Responses are read as the JSON the API server sends."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lamina.sdk import BackendUnreachableError, ConfigError, LaminaError

if TYPE_CHECKING:
    from lamina_orch_argo.plugin import ArgoOptions

#: kind -> (group, version, plural)
RESOURCES = {
    "WorkflowTemplate": ("argoproj.io", "v1alpha1", "workflowtemplates"),
    "CronWorkflow": ("argoproj.io", "v1alpha1", "cronworkflows"),
    "Sensor": ("argoproj.io", "v1alpha1", "sensors"),
}

_RBAC_HINT = (
    "bind the identity lamina uses (see `kubectl auth whoami`) to a Role in namespace {ns} "
    "with verbs get, create, update on workflowtemplates, cronworkflows and sensors "
    "(group argoproj.io)"
)
_CRD_HINT = (
    "install Argo Workflows (and Argo Events for sensors) in the cluster: the API server "
    "does not know the kind"
)


def _status(err: Any) -> dict[str, Any]:
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


class _Missing(LaminaError):
    pass


class ArgoApi:
    """A client of one cluster and namespace, for Argo's custom resources."""

    def __init__(self, options: ArgoOptions) -> None:
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
                f"orchestrator 'argo': cannot load the cluster configuration ({where}): {exc}",
                hint="set kubeconfig/context in the stack's orchestrator options, or "
                "in_cluster = true when lamina itself runs inside a pod",
            ) from None
        cfg.retries = 1
        self.host = cfg.host
        self.api_client = client.ApiClient(cfg)
        self.custom = client.CustomObjectsApi(self.api_client)

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            resp = fn(*args, _preload_content=False, _request_timeout=30, **kw)
        except ApiException as err:
            status = _status(err)
            message = status.get("message") or err.reason or str(err)
            reason = status.get("reason") or ""
            if err.status == 404 and reason == "NotFound":
                raise _Missing(message) from None
            if err.status in (401, 403):
                raise BackendUnreachableError(
                    f"Kubernetes at {self.host} refused to {what} ({err.status} {reason}): "
                    f"{message}",
                    hint=_RBAC_HINT.format(ns=self.namespace),
                ) from None
            raise LaminaError(
                f"Kubernetes at {self.host} could not {what} ({err.status} {reason}): {message}",
                hint=_CRD_HINT if err.status == 404 else "check the manifest (`lamina deploy "
                "--dry-run`) against the message",
            ) from None
        except HTTPError as err:
            raise BackendUnreachableError(
                f"cannot reach the Kubernetes API at {self.host} to {what}: {err}",
                hint="check the kubeconfig's server address and that the cluster is up "
                "(`kubectl cluster-info`)",
            ) from None
        return json.loads(resp.data or b"{}")

    def apply(self, manifest: dict[str, Any]) -> str:
        """Create ``manifest``, or replace the object of that name (keeping its
        resourceVersion); returns ``created`` or ``updated``."""
        kind = manifest["kind"]
        group, version, plural = RESOURCES[kind]
        name = manifest["metadata"]["name"]
        where = f"{kind} {name} in namespace {self.namespace}"
        try:
            current = self._call(
                f"read {where}", self.custom.get_namespaced_custom_object,
                group, version, self.namespace, plural, name,
            )
        except _Missing:
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
        except _Missing:
            return False
        return True

    def close(self) -> None:
        self.api_client.close()
