"""Why a Pending pod does not start: reading a pod's status for the reasons that never
resolve by themselves (a wrong image, a missing Secret) and for an unschedulable pod.

Plain functions of the pod as the API server sends it (``Pod.status``): the kubelet puts
the reason in ``containerStatuses[].state.waiting`` / ``initContainerStatuses[]``, the
scheduler in the ``PodScheduled`` condition.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: Waiting reasons the kubelet keeps retrying but that only a change of the manifest or of
#: the namespace ends, with the fix lamina names. ``{ns}`` is the namespace.
_PULL_FIX = (
    "check the image name and tag (the `image` option) exist in the registry, and for a "
    "private registry that image_pull_secrets names a docker-registry Secret in "
    "namespace {ns}"
)
FATAL_REASONS: dict[str, str] = {
    "ErrImagePull": _PULL_FIX,
    "ImagePullBackOff": _PULL_FIX,
    "InvalidImageName": (
        "the `image` option is not a valid image reference: write it as "
        "registry/repository:tag (lower-case repository, no spaces)"
    ),
    "ErrImageNeverPull": (
        "image_pull_policy is Never but the image is not on the node: load it on the nodes "
        "or set image_pull_policy = \"IfNotPresent\""
    ),
    "CreateContainerConfigError": (
        "a Secret or ConfigMap the pod references is missing in namespace {ns} (see "
        "env_from_secrets and secret_env): create it (`kubectl -n {ns} get secrets`) or "
        "correct the reference"
    ),
    "CreateContainerError": (
        "the container runtime could not create the container: read the message and "
        "`kubectl -n {ns} describe pod {pod}` (command, mounts, security context)"
    ),
}


class StuckContainer(NamedTuple):
    """A container of a Pending pod waiting for a reason that does not go away."""

    pod: str
    container: str
    image: str
    reason: str
    message: str
    init: bool

    def fix(self, namespace: str) -> str:
        return FATAL_REASONS[self.reason].format(ns=namespace, pod=self.pod)


def pod_name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", "?"))


def is_pending(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Pending"


def stuck_container(pod: dict[str, Any]) -> StuckContainer | None:
    """The first container (init containers first: they run first) of a Pending pod that
    waits with a fatal reason; None when the pod is not Pending or only waits for a
    transient reason (ContainerCreating, PodInitializing)."""
    if not is_pending(pod):
        return None
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    images = {
        c.get("name"): c.get("image", "")
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    }
    for field, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for cs in status.get(field) or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason") or ""
            if reason in FATAL_REASONS:
                name = str(cs.get("name", "?"))
                return StuckContainer(
                    pod=pod_name(pod), container=name,
                    image=str(cs.get("image") or images.get(name) or "?"), reason=reason,
                    message=str(waiting.get("message") or "").strip(), init=init,
                )
    return None


def unschedulable_message(pod: dict[str, Any]) -> str | None:
    """The scheduler's message of a Pending pod no node can take now (``PodScheduled``
    False, reason ``Unschedulable``), e.g. ``0/3 nodes are available: 3 Insufficient
    nvidia.com/gpu``; None otherwise."""
    if not is_pending(pod):
        return None
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return str(cond.get("message") or "no node matches the pod")
    return None


def describe(stuck: StuckContainer, task_id: str) -> str:
    """The failure message of a task whose pod cannot start."""
    which = "init container" if stuck.init else "container"
    text = (
        f"pod {stuck.pod} of task {task_id} cannot start: {stuck.reason}"
        + (f": {stuck.message}" if stuck.message else "")
    )
    return f"{text} ({which} {stuck.container}, image {stuck.image})"
