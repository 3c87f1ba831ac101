"""What every lamina component that talks to Kubernetes shares: the option validators
(names, Secret references) and a client of one cluster and namespace that turns API errors
into LaminaErrors naming the request, the namespace and the fix.

Used by the ``k8s`` compute and by the ``argo`` orchestrator (which depends on this
distribution). Light to import: the Kubernetes client loads when a client is built.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from lamina.sdk import BackendUnreachableError, ConfigError, LaminaError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def dns_label(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: a Kubernetes object name (DNS-1123 label)."""
    if not DNS_LABEL.match(value) or len(value) > 63:
        raise ValueError(
            f"{attribute.name} {value!r} is not a Kubernetes name (lower-case letters, digits "
            "and '-', at most 63)"
        )


def secret_refs(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    """attrs validator: ``VAR = "SECRET/KEY"`` references, never a value."""
    for name, ref in value.items():
        if not ENV_NAME.match(name):
            raise ValueError(f"secret_env: {name!r} is not a valid environment variable name")
        if ref.count("/") != 1 or not all(ref.split("/")):
            raise ValueError(
                f"secret_env.{name} = {ref!r}: expected 'SECRET_NAME/KEY' (a reference to a "
                "key of a Kubernetes Secret in the namespace, never the value itself)"
            )


class AlreadyExists(LaminaError):
    """A create found an object of that name (409 AlreadyExists)."""


def _status(err: Any) -> dict[str, Any]:
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


class KubeClient:
    """A client of one cluster and namespace, through the official client.

    Responses are read as the JSON the API server sends (``_preload_content=False``).
    Subclasses name themselves (:attr:`component`, :attr:`options_table`), say which
    permissions they need (:attr:`rbac_hint`) and what to check on any other refusal
    (:meth:`error_hint`). A missing object raises :class:`LookupError`, an existing one on
    create :class:`AlreadyExists`.
    """

    #: who is asking, in messages: ``compute 'k8s'``.
    component = "kubernetes"
    #: the stack table its options live in: ``compute``, ``orchestrator``.
    options_table = "compute"
    #: the permissions to grant, with ``{ns}`` for the namespace.
    rbac_hint = "grant the identity lamina uses (see `kubectl auth whoami`) access in {ns}"

    def __init__(self, namespace: str, *, in_cluster: bool = False,
                 kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import client, config

        self.namespace = namespace
        cfg = client.Configuration()
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=cfg)
            else:
                config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=cfg,
                )
        except Exception as exc:  # ConfigException, FileNotFoundError, ...
            where = "in-cluster service account" if in_cluster else (
                f"kubeconfig {kubeconfig or '$KUBECONFIG or ~/.kube/config'}"
                + (f", context {context!r}" if context else "")
            )
            raise ConfigError(
                f"{self.component}: cannot load the cluster configuration ({where}): {exc}",
                hint=f"set kubeconfig/context in the stack's {self.options_table} options, "
                "or in_cluster = true when lamina runs inside a pod",
            ) from None
        cfg.retries = 1
        self.host = cfg.host
        self.api_client = client.ApiClient(cfg)

    def error_hint(self, status: int) -> str:
        """The fix to suggest for a refusal other than 401/403/404/409."""
        return f"check the {self.component} options of the stack against the message"

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
                    hint=self.rbac_hint.format(ns=self.namespace),
                ) from None
            if err.status == 404 and reason == "NotFound":
                raise LookupError(message) from None
            raise LaminaError(
                f"Kubernetes at {self.host} could not {what} ({err.status} {reason}): {message}",
                hint=self.error_hint(err.status),
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

    def close(self) -> None:
        self.api_client.close()
