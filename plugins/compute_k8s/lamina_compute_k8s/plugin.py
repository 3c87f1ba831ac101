"""The ``k8s`` compute component: its options and its registration.

Imported on every ``lamina`` invocation (entry point), so this module holds only the options
class; the factory imports the Kubernetes client when a stack actually builds the component.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from lamina.sdk import ComponentSpec, hookimpl, plain_env_validator
from lamina_compute_k8s.kube import ENV_NAME, dns_label, secret_refs

_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _tolerations(instance: Any, attribute: attrs.Attribute, value: list[dict[str, Any]]) -> None:
    for i, tol in enumerate(value):
        unknown = set(tol) - _TOLERATION_KEYS
        if unknown:
            raise ValueError(
                f"tolerations[{i}] has unknown keys {sorted(unknown)}; a toleration takes "
                f"{sorted(_TOLERATION_KEYS)}"
            )


_plain_env = plain_env_validator(
    ENV_NAME, stored_in="written into the Job manifest",
    fix="Put it in a Kubernetes Secret and use env_from_secrets or "
    'secret_env = { {name} = "SECRET/KEY" }',
)


@attrs.frozen
class K8sComputeOptions:
    """Options of the ``k8s`` compute: each step's tasks run as Kubernetes Indexed Jobs.

    :param image: the container image; it must have lamina, the stack's plugins and the
        flow's packages installed (the flow's code comes from the datastore).
    :param namespace: where Jobs are created.
    :param image_pull_secrets: names of docker-registry Secrets for a private registry.
    :param image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never`` (default: the
        cluster's rule).
    :param service_account: the pods' service account (e.g. one bound to a cloud role).
    :param node_selector: node labels a task's pod must match.
    :param tolerations: pod tolerations, as Kubernetes spells them (key, operator, value,
        effect, tolerationSeconds).
    :param labels: extra labels on Jobs and pods, e.g. for cost attribution.
    :param annotations: extra annotations on Jobs and pods.
    :param env: plain environment variables (no credentials: they are written in the
        manifest; names that look like credentials are refused).
    :param env_from_secrets: Secrets whose keys all become environment variables
        (``envFrom.secretRef``): how the datastore's credentials reach the task.
    :param secret_env: ``VAR = "SECRET/KEY"``: one variable from one key of a Secret.
    :param kubeconfig: the kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``).
    :param context: the kubeconfig context (default: its current context).
    :param in_cluster: use the pod's service account (when lamina itself runs in a pod).
    :param ttl_seconds_after_finished: finished Jobs (and their pods) are deleted by the
        cluster after this many seconds.
    :param max_in_flight: at most this many tasks created and not yet finished.
    :param backoff_limit: how many times Kubernetes itself re-creates a failed pod of one
        task (``backoffLimitPerIndex``); the step's ``retries`` are lamina's and come on top.
    :param retry_evicted: pods evicted or preempted (``DisruptionTarget``) are re-created
        without counting against ``backoff_limit``.
    :param priority_class: the pods' PriorityClass.
    :param gpu_resource: the extended resource a step's ``gpu`` asks for.
    :param python: the interpreter in the image that runs ``-m lamina task``.
    :param poll_interval: seconds between two status reads of the run's Jobs.
    :param fetch_logs: ``failed``: a failed task that wrote no outcome (OOM, crash before
        the step) gets its pod's log as its stderr; ``never``: no log requests.
    :param start_timeout: seconds a pod may wait for a reason that does not go away by
        itself (``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``,
        ``CreateContainerConfigError``, ``CreateContainerError``) before its task fails
        with the kubelet's message and the fix; ``0`` waits forever (or until the step's
        timeout).
    :param schedule_timeout: seconds a pod may stay unschedulable (no node can take it)
        before its task fails with the scheduler's message; ``0`` (the default) waits for
        a node, which a cluster autoscaler may add, as long as the step's ``timeout``
        allows, and forever for a step without one. Reported in the log at once either
        way.
    """

    image: str
    namespace: str = attrs.field(default="default", validator=dns_label)
    image_pull_secrets: tuple[str, ...] = ()
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    service_account: str | None = None
    node_selector: dict[str, str] = attrs.field(factory=dict)
    tolerations: list[dict[str, Any]] = attrs.field(factory=list, validator=_tolerations)
    labels: dict[str, str] = attrs.field(factory=dict)
    annotations: dict[str, str] = attrs.field(factory=dict)
    env: dict[str, str] = attrs.field(factory=dict, validator=_plain_env)
    env_from_secrets: tuple[str, ...] = ()
    secret_env: dict[str, str] = attrs.field(factory=dict, validator=secret_refs)
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    ttl_seconds_after_finished: int = attrs.field(default=3600, validator=_not_negative)
    max_in_flight: int = attrs.field(default=200, validator=_positive)
    backoff_limit: int = attrs.field(default=0, validator=_not_negative)
    retry_evicted: bool = True
    priority_class: str | None = None
    gpu_resource: str = "nvidia.com/gpu"
    python: str = "python"
    poll_interval: float = attrs.field(default=2.0, validator=_positive)
    fetch_logs: Literal["failed", "never"] = "failed"
    start_timeout: float = attrs.field(default=120.0, validator=_not_negative)
    schedule_timeout: float = attrs.field(default=0.0, validator=_not_negative)


def _k8s_compute(options: K8sComputeOptions, stack: Any) -> Any:
    from lamina_compute_k8s.compute import K8sCompute

    return K8sCompute(options)


@hookimpl
def lamina_compute_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="compute",
            name="k8s",
            config=K8sComputeOptions,
            factory=_k8s_compute,
            description="tasks as Kubernetes batch/v1 Indexed Jobs (one per step range)",
            install_hint="pip install lamina-compute-k8s",
        )
    ]
