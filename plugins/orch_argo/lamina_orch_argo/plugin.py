"""Registers the ``argo`` orchestrator. Imported on every ``lamina`` invocation, so it holds
only the options class; the manifests and the Kubernetes client load when a stack builds
the orchestrator."""

from __future__ import annotations

from typing import Any, Literal

import attrs
from lamina_compute_k8s.kube import dns_label, secret_refs

from lamina.sdk import ComponentSpec, hookimpl


@attrs.frozen
class ArgoOptions:
    """Options of the ``argo`` orchestrator: a flow becomes an Argo ``WorkflowTemplate``.

    :param image: the container image of every step; it must have lamina, the stack's
        plugins and the flow's packages (the flow's code comes from the datastore).
    :param namespace: where the WorkflowTemplate (and CronWorkflow, Sensor) live.
    :param service_account: the workflow pods' service account.
    :param python: the interpreter in the image that runs ``-m lamina``.
    :param config_file: the lamina config file as the pods see it (default: the deploying
        config file's absolute path).
    :param image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
    :param env_from_secrets: Kubernetes Secrets whose keys all become environment
        variables of every step (how the datastore's credentials reach it).
    :param secret_env: ``VAR = "SECRET/KEY"``: one variable from one key of a Secret.
    :param gpu_resource: the extended resource a step's ``gpu`` asks for.
    :param retry_policy: Argo's ``retryStrategy.retryPolicy`` for steps with retries.
    :param timezone: the CronWorkflow's timezone (a schedule's hours are read in it).
    :param event_source: the Argo Events EventSource the Sensor listens to.
    :param event_name: the event (of that EventSource) carrying lamina's messages.
    :param event_url: where a successful run announces itself (the EventSource's webhook,
        e.g. ``http://lamina-eventsource-svc.argo-events:12000/lamina``); empty: runs do not
        announce, so no other flow can be ``trigger_on_finish`` of this one.
    :param kubeconfig: the kubeconfig file ``--apply`` uses (default: ``$KUBECONFIG`` or
        ``~/.kube/config``).
    :param context: the kubeconfig context (default: its current context).
    :param in_cluster: use the pod's service account (when lamina itself runs in a pod).
    """

    image: str = ""
    namespace: str = attrs.field(default="argo", validator=dns_label)
    service_account: str = ""
    python: str = "python"
    config_file: str = ""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    env_from_secrets: tuple[str, ...] = ()
    secret_env: dict[str, str] = attrs.field(factory=dict, validator=secret_refs)
    gpu_resource: str = "nvidia.com/gpu"
    retry_policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"] = "Always"
    timezone: str = "UTC"
    event_source: str = "lamina"
    event_name: str = "lamina"
    event_url: str = ""
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False


def _argo(options: ArgoOptions, stack: Any) -> Any:
    from lamina_orch_argo.orchestrator import ArgoOrchestrator

    return ArgoOrchestrator(options, stack)


@hookimpl
def lamina_orchestrators() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="orchestrator",
            name="argo",
            config=ArgoOptions,
            factory=_argo,
            description="compiles flows into Argo Workflows templates (`lamina deploy`, "
            "`--apply` submits them)",
            install_hint="pip install lamina-orch-argo",
        )
    ]
