"""The batch/v1 Job manifest of a range of tasks: plain dicts, no Kubernetes client needed.

One Indexed Job covers consecutive tasks ``first .. first+n-1`` of one step and attempt:
``completionMode: Indexed`` gives each pod ``JOB_COMPLETION_INDEX`` (0..n-1), which the
task command adds to ``--index first``. So a 20,000-task foreach is a handful of API
requests, not 20,000, and the cluster's Job controller does the fan-out.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.sdk import task_command

if TYPE_CHECKING:
    from lamina.sdk import TaskSpec
    from lamina_compute_k8s.plugin import K8sComputeOptions

LABEL_PREFIX = "lamina.dev/"
RUN_LABEL = LABEL_PREFIX + "run"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
CONTAINER = "task"
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters, alphanumeric at both ends)."""
    value = _LABEL_BAD.sub("-", text)[:63].strip("-_.")
    return value or "x"


def job_name(run_id: str, step: str, first_index: int, attempt: int) -> str:
    """A DNS-1123 name, unique per run, step, first index and attempt, short enough for
    the ``job-name`` label the cluster puts on its pods."""
    digest = hashlib.sha256(f"{run_id}/{step}/{first_index}/{attempt}".encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]+", "-", step.lower()).strip("-")[:30].strip("-") or "step"
    return f"lamina-{readable}-{digest}"


def _quantity_cpu(cpu: float) -> str:
    millis = math.ceil(cpu * 1000)
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def resource_requirements(resources: Any, options: K8sComputeOptions) -> dict[str, Any]:
    """A container's requests and limits from a step's resources (``cpu``, ``memory`` in
    MiB, ``gpu``). Memory is both requested and limited, so a task that outgrows it is
    OOMKilled (and reported so) rather than starving its neighbours; CPU is requested, not
    limited (no throttling)."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources is not None and resources.cpu:
        requests["cpu"] = _quantity_cpu(resources.cpu)
    if resources is not None and resources.memory:
        requests["memory"] = limits["memory"] = f"{int(resources.memory)}Mi"
    if resources is not None and resources.gpu:
        limits[options.gpu_resource] = str(int(resources.gpu))
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _env(options: K8sComputeOptions, run_id: str | None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if run_id is not None:
        env.append({"name": "LAMINA_RUN_ID", "value": run_id})
    env.append({"name": "PYTHONUNBUFFERED", "value": "1"})
    env += [{"name": k, "value": v} for k, v in sorted(options.env.items())]
    for name, ref in sorted(options.secret_env.items()):
        secret, key = ref.split("/", 1)
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return env


def pod_spec(
    options: K8sComputeOptions,
    *,
    command: list[str] | None = None,
    resources: Any = None,
    timeout: float | None = None,
    run_id: str | None = None,
    container: str = CONTAINER,
) -> dict[str, Any]:
    """The ``PodSpec`` of a task: every pod option of the stack (image, env, secrets,
    pull secrets, service account, placement, priority) in one place. The Jobs this
    compute creates and the pods an orchestrator runs on it (an Airflow
    ``KubernetesPodOperator``) are both built from it, so no option is lost on the way.

    :param command: the container's command (None: the orchestrator sets it).
    :param resources: the step's resources (``cpu``, ``memory``, ``gpu``), or None.
    :param timeout: the step's timeout in seconds (``activeDeadlineSeconds``), or None.
    :param run_id: set as ``LAMINA_RUN_ID`` when known.
    """
    main: dict[str, Any] = {"name": container, "image": options.image}
    if command is not None:
        main["command"] = command
    main["env"] = _env(options, run_id)
    if options.env_from_secrets:
        main["envFrom"] = [{"secretRef": {"name": s}} for s in options.env_from_secrets]
    if options.image_pull_policy:
        main["imagePullPolicy"] = options.image_pull_policy
    requirements = resource_requirements(resources, options)
    if requirements:
        main["resources"] = requirements
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [main]}
    if timeout:
        # per pod, not per Job: each task of the range gets the step's own timeout
        pod["activeDeadlineSeconds"] = max(1, math.ceil(timeout))
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in options.image_pull_secrets]
    if options.node_selector:
        pod["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        pod["tolerations"] = [dict(t) for t in options.tolerations]
    if options.priority_class:
        pod["priorityClassName"] = options.priority_class
    return pod


def pod_manifest(
    options: K8sComputeOptions,
    *,
    name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A whole ``v1/Pod`` of the stack's pod settings: :func:`pod_spec` (``spec`` takes
    its keywords) with the options' labels and annotations and the ``labels`` and
    ``annotations`` given."""
    meta_labels = {k: label_value(v) for k, v in options.labels.items()}
    meta_labels["app.kubernetes.io/managed-by"] = "lamina"
    meta_labels.update(labels or {})
    metadata: dict[str, Any] = {"name": name, "namespace": options.namespace, "labels": meta_labels}
    notes = {**options.annotations, **(annotations or {})}
    if notes:
        metadata["annotations"] = notes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec(options, **spec)}


def job_labels(options: K8sComputeOptions, spec: TaskSpec) -> dict[str, str]:
    labels = {k: label_value(v) for k, v in options.labels.items()}
    labels.update({
        "app.kubernetes.io/managed-by": "lamina",
        RUN_LABEL: label_value(spec.run_id),
        LABEL_PREFIX + "flow": label_value(spec.flow),
        LABEL_PREFIX + "step": label_value(spec.step),
        LABEL_PREFIX + "attempt": str(spec.attempt),
    })
    return labels


def build_job(options: K8sComputeOptions, specs: Sequence[TaskSpec]) -> dict[str, Any]:
    """The Job running ``specs`` (consecutive indexes of one step and attempt)."""
    first = specs[0]
    count = len(specs)
    name = job_name(first.run_id, first.step, first.index, first.attempt)
    labels = job_labels(options, first)
    last = first.index + count - 1
    annotations = dict(options.annotations)
    annotations.update({
        LABEL_PREFIX + "tasks": f"{first.run_id}/{first.step}/{first.index}"
        + (f"..{last}" if count > 1 else ""),
        LABEL_PREFIX + "first-index": str(first.index),
    })
    pod = pod_spec(
        options,
        command=task_command(
            first, first_index=first.index, index_env="JOB_COMPLETION_INDEX",
            python=options.python,
        ),
        resources=first.resources, timeout=first.timeout, run_id=first.run_id,
    )
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": count,
        "parallelism": count,
        "backoffLimitPerIndex": options.backoff_limit,
        "ttlSecondsAfterFinished": options.ttl_seconds_after_finished,
        "template": {
            "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
            "spec": pod,
        },
    }
    if options.retry_evicted:
        spec["podFailurePolicy"] = {
            "rules": [
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                }
            ]
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }
