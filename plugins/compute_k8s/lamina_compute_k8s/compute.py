"""The ``k8s`` compute: tasks as Indexed Jobs; outcomes from the Jobs' status and the
tasks' own records in the datastore.

``submit`` only queues. Each ``poll`` first turns the queue into Jobs (one per run of
consecutive indexes, within ``max_in_flight``), then, at most every ``poll_interval``
seconds, lists the run's Jobs in one request and settles every index that finished:
``completedIndexes`` / ``failedIndexes`` and the Complete/Failed conditions say which; the
failed pods say why (OOMKilled, DeadlineExceeded, eviction, exit code).

A Job whose status counts pods not ready (``active`` > ``ready``) has its pods listed, at
most every :func:`pod_check_interval` seconds: a pod that waits for a reason that never
goes away by itself (a wrong image, a missing Secret) for ``start_timeout`` seconds fails
its task with the kubelet's message and the fix; an unschedulable pod is reported at once
and fails its task after ``schedule_timeout`` seconds, or else after the step's timeout
(``activeDeadlineSeconds`` only counts once a node took the pod).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.sdk import (
    LaminaError,
    QueuedRemoteCompute,
    RemoteJob,
    contiguous_batches,
    get_logger,
    parse_index_ranges,
    read_attempt_outcome,
    settle,
)
from lamina_compute_k8s.manifest import (
    CONTAINER,
    INDEX_ANNOTATION,
    RUN_LABEL,
    build_job,
    label_value,
    pod_manifest,
)
from lamina_compute_k8s.pending import (
    describe,
    pod_name,
    stuck_container,
    unschedulable_message,
)

if TYPE_CHECKING:
    from lamina.sdk import TaskSpec
    from lamina_compute_k8s.api import KubeApi
    from lamina_compute_k8s.plugin import K8sComputeOptions

log = get_logger("lamina.compute.k8s")

#: The most time between two listings of the pods of a Job whose pods are not all ready
#: (fewer with a short ``start_timeout``, never more often than ``poll_interval``).
POD_CHECK_INTERVAL = 10.0


def pod_check_interval(options: K8sComputeOptions) -> float:
    """Seconds between two pod listings of one not-ready Job: a quarter of the shortest
    grace (``start_timeout``, ``schedule_timeout``), so a stuck pod is failed soon after
    it, capped to keep API traffic low."""
    graces = [g for g in (options.start_timeout, options.schedule_timeout) if g > 0]
    quarter = min(graces) / 4 if graces else POD_CHECK_INTERVAL
    return max(options.poll_interval, min(POD_CHECK_INTERVAL, quarter))


def _pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(INDEX_ANNOTATION) or (
        meta.get("labels") or {}
    ).get(INDEX_ANNOTATION)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def _true_conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        c.get("type", ""): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }


def classify_pod(pod: dict[str, Any] | None, job_condition: dict[str, Any] | None) -> tuple[str, str]:
    """(exit_reason, message) of a failed task from its last pod and the Job's Failed
    condition, most specific first: timeout, preemption, OOM, exit code."""
    cond_reason = (job_condition or {}).get("reason", "")
    cond_message = (job_condition or {}).get("message", "")
    if pod is None:
        if cond_reason == "DeadlineExceeded":
            return "timeout", f"the Job ran longer than its deadline: {cond_message}"
        return "engine", f"the Job failed ({cond_reason or 'no reason given'}): {cond_message}"
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    if status.get("reason") == "DeadlineExceeded":
        return "timeout", (
            f"pod {name} ran longer than its activeDeadlineSeconds (the step's timeout) and was "
            f"stopped: {status.get('message', '')}".rstrip(": ")
        )
    disrupted = [
        c for c in status.get("conditions") or []
        if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
    ]
    if status.get("reason") in ("Evicted", "Preempting") or disrupted:
        detail = status.get("message") or (disrupted[0].get("message") if disrupted else "")
        why = (disrupted[0].get("reason") if disrupted else "") or status.get("reason", "")
        return "preempted", f"pod {name} was evicted or preempted ({why}): {detail}"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        term = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term:
            code = term.get("exitCode")
            if term.get("reason") == "OOMKilled":
                return "oom", (
                    f"container {cs.get('name')} of pod {name} was killed for exceeding its "
                    f"memory limit (OOMKilled, exit code {code}); ask for more with "
                    "resources={'memory': MiB} on the step"
                )
            if code not in (None, 0):
                return "exit", (
                    f"container {cs.get('name')} of pod {name} exited with code {code}"
                    + (f" ({term['reason']})" if term.get("reason") else "")
                )
        waiting = state.get("waiting")
        if waiting:
            return "engine", (
                f"container {cs.get('name')} of pod {name} never started: "
                f"{waiting.get('reason')}: {waiting.get('message', '')}"
            )
    if cond_reason == "DeadlineExceeded":
        return "timeout", f"the Job ran longer than its deadline: {cond_message}"
    return "engine", f"pod {name} failed ({status.get('reason') or cond_reason}): " + (
        status.get("message") or cond_message
    )


class K8sCompute(QueuedRemoteCompute):
    """Runs a run's tasks as Kubernetes Jobs in one namespace."""

    logger_name = "lamina.compute.k8s"

    def __init__(self, options: K8sComputeOptions, api: KubeApi | None = None) -> None:
        super().__init__(options)
        self.options: K8sComputeOptions = options
        self._api = api
        self._run_ids: set[str] = set()
        # the start watch, by Job name: when its pods were last listed, since when each
        # stuck pod is seen stuck, whether its unschedulable pods were reported, and the
        # Jobs with a task failed for a pod that cannot start (deleted once all settled)
        self._pods_listed: dict[str, float] = {}
        self._stuck_since: dict[str, dict[str, float]] = {}
        self._warned_unschedulable: set[str] = set()
        self._start_failed: set[str] = set()

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            from lamina_compute_k8s.api import KubeApi

            self._api = KubeApi(self.options)
        return self._api

    # -- what is submitted, without a cluster ---------------------------------------------

    def pod_manifest(
        self,
        *,
        name: str,
        command: list[str] | None = None,
        resources: Any = None,
        timeout: float | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``v1/Pod`` of a task on this compute (the same pod spec as its Jobs'), for
        an orchestrator that runs tasks on it (``lamina.sdk.PodCompute``)."""
        return pod_manifest(
            self.options, name=name, labels=labels, annotations=annotations,
            command=command, resources=resources, timeout=timeout,
        )

    def render_tasks(self, specs: Sequence[TaskSpec]) -> list[dict[str, Any]]:
        """The Jobs that submitting ``specs`` would create: one Indexed Job per range of
        consecutive indexes of a step and attempt (``lamina.sdk.RendersTasks``)."""
        return [build_job(self.options, batch)
                for batch in contiguous_batches(specs, self.options.max_in_flight)]

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context
        self.api  # noqa: B018  (load the cluster configuration now: fail before any task)

    def check(self) -> str:
        api = self.api
        jobs = api.list_jobs("app.kubernetes.io/managed-by=lamina")
        allowed, reason = api.can_i("create", "jobs", "batch")
        if not allowed:
            from lamina.sdk import BackendUnreachableError

            raise BackendUnreachableError(
                f"Kubernetes at {api.host}: this identity may not create Jobs in namespace "
                f"{api.namespace}" + (f" ({reason})" if reason else ""),
                hint=api.rbac_hint.format(ns=api.namespace),
            )
        return (
            f"Kubernetes at {api.host}, namespace {api.namespace}: may create Jobs; "
            f"{len(jobs)} lamina Jobs present; image {self.options.image}"
        )

    # -- QueuedRemoteCompute --------------------------------------------------------------

    def _create(self, batch: list[TaskSpec]) -> RemoteJob:
        from lamina_compute_k8s.api import AlreadyExists

        manifest = build_job(self.options, batch)
        name = manifest["metadata"]["name"]
        try:
            self.api.create_job(manifest)
        except AlreadyExists:
            # the name is unique per run, step, range and attempt: only an earlier
            # create of this very range (a retried request) can own it
            log.warning("job exists already, adopting it", job=name)
        self._run_ids.add(batch[0].run_id)
        log.info("job created", job=name, tasks=len(batch), step=batch[0].step)
        return RemoteJob(name, batch)

    def _engine_state(self) -> dict[str, Any]:
        seen: dict[str, dict[str, Any]] = {}
        for run_id in self._run_ids:
            for item in self.api.list_jobs(f"{RUN_LABEL}={label_value(run_id)}"):
                seen[(item.get("metadata") or {}).get("name", "")] = item
        return seen

    def _update(self, job: RemoteJob, info: dict[str, Any] | None) -> None:
        if info is None:
            self._settle_lost(job)
        else:
            self._settle(job, info)

    def _cancel(self, job: RemoteJob) -> None:
        self.api.delete_job(job.name)
        log.info("job deleted", job=job.name)

    def _close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- settling -------------------------------------------------------------------------

    def _settle_lost(self, job: RemoteJob) -> None:
        self._forget(job)
        for pos, spec in enumerate(job.specs):
            if pos in job.reported:
                continue
            job.reported.add(pos)
            self._ready.append(settle(
                self._ctx.artifacts, spec, engine_ok=False, reason="lost",
                message=f"Job {job.name} disappeared from namespace {self.options.namespace} "
                "(deleted outside lamina?)",
                location=self._where(spec), started_at=job.created,
            ))

    def _settle(self, job: RemoteJob, item: dict[str, Any]) -> None:
        status = item.get("status") or {}
        every = set(range(len(job.specs)))
        completed = parse_index_ranges(status.get("completedIndexes")) & every
        failed = parse_index_ranges(status.get("failedIndexes")) & every
        conditions = _true_conditions(status)
        failed_cond = conditions.get("Failed")
        if "Complete" in conditions and not failed:
            completed = every
        if failed_cond is not None:
            failed |= every - completed
        new_ok = sorted(completed - job.reported)
        new_failed = sorted(failed - completed - job.reported)
        artifacts = self._ctx.artifacts
        recorded = {}
        for pos in new_failed:  # a task that wrote its outcome needs no pod inspection
            outcome = read_attempt_outcome(artifacts, job.specs[pos])
            if outcome is not None:
                recorded[pos] = outcome
        pods: dict[int, dict[str, Any]] = {}
        if len(recorded) < len(new_failed):
            pods = self._failed_pods(job)
        for pos in new_ok:
            job.reported.add(pos)
            spec = job.specs[pos]
            self._ready.append(settle(
                artifacts, spec, engine_ok=True, location=self._where(spec),
                started_at=job.created,
            ))
        for pos in new_failed:
            job.reported.add(pos)
            spec = job.specs[pos]
            if pos in recorded:
                self._ready.append(recorded[pos])
                continue
            pod = pods.get(pos)
            reason, message = classify_pod(pod, failed_cond)
            log_text = ""
            if pod is not None and self.options.fetch_logs == "failed":
                log_text = self._log(pod)
            self._ready.append(settle(
                artifacts, spec, engine_ok=False, reason=reason, message=message,
                location=self._where(spec), started_at=job.created, log_text=log_text,
                host=(pod or {}).get("spec", {}).get("nodeName", ""),
            ))
        if job.unfinished and self._watches_start(job):
            self._watch_start(job, status)
        if not job.unfinished:
            if job.name in self._start_failed:
                self._delete_stuck(job)
            self._forget(job)

    # -- pods that cannot start -----------------------------------------------------------

    def _schedule_limit(self, spec: TaskSpec) -> tuple[float, str] | None:
        """(seconds, exit reason) a task's pod may stay unschedulable, or None: forever."""
        if self.options.schedule_timeout > 0:
            return self.options.schedule_timeout, "engine"
        if spec.timeout:
            return float(spec.timeout), "timeout"
        return None

    def _watches_start(self, job: RemoteJob) -> bool:
        return self.options.start_timeout > 0 or any(
            self._schedule_limit(spec) is not None for spec in job.specs)

    def _watch_start(self, job: RemoteJob, status: dict[str, Any]) -> None:
        """Fail the tasks whose pod waits for a fatal reason longer than start_timeout, or
        for a node longer than their schedule limit; report (once per Job) pods no node
        can take."""
        active = int(status.get("active") or 0)
        ready = int(status.get("ready") or 0)
        if active <= ready:
            self._stuck_since.pop(job.name, None)
            return
        now = time.monotonic()
        last = self._pods_listed.get(job.name)
        if last is not None and now - last < pod_check_interval(self.options):
            return
        self._pods_listed[job.name] = now
        try:
            pods = self.api.list_pods(f"job-name={job.name}")
        except LaminaError as err:  # a help, not a requirement: the Job is still watched
            log.warning("pods could not be listed", job=job.name, error=str(err))
            return
        since = self._stuck_since.setdefault(job.name, {})
        seen: set[str] = set()
        for pod in pods:
            pos = _pod_index(pod)
            if pos is None or pos >= len(job.specs) or pos in job.reported:
                continue
            spec = job.specs[pos]
            waiting = unschedulable_message(pod)
            if waiting is not None:
                self._watch_unscheduled(job, pod, pos, waiting, since, seen, now)
                continue
            stuck = stuck_container(pod)
            if stuck is None or self.options.start_timeout <= 0:
                continue
            seen.add(stuck.pod)
            first = since.setdefault(stuck.pod, now)
            if now - first < self.options.start_timeout:
                continue
            log.warning("pod cannot start", job=job.name, task=spec.task_id, reason=stuck.reason)
            self._fail_unstarted(job, pod, pos, "engine", describe(stuck, spec.task_id),
                                 stuck.fix(self.options.namespace))
        for name in set(since) - seen:  # started, replaced or now waiting for a good reason
            del since[name]

    def _watch_unscheduled(self, job: RemoteJob, pod: dict[str, Any], pos: int, waiting: str,
                           since: dict[str, float], seen: set[str], now: float) -> None:
        spec = job.specs[pos]
        limit = self._schedule_limit(spec)
        if job.name not in self._warned_unschedulable:
            self._warned_unschedulable.add(job.name)
            log.warning(
                "pods cannot be scheduled yet", job=job.name, task=spec.task_id,
                reason=waiting,
                hint="they wait for a node (a cluster autoscaler may add one)"
                + (f" for up to {limit[0]:g} s" if limit else "")
                + "; else lower the step's cpu/memory/gpu or check node_selector and "
                "tolerations",
            )
        if limit is None:
            return
        name = pod_name(pod) + " (unscheduled)"  # its own clock, apart from a stuck start
        seen.add(name)
        first = since.setdefault(name, now)
        if now - first < limit[0]:
            return
        which = ("schedule_timeout" if limit[1] == "engine" else "the step's timeout")
        self._fail_unstarted(
            job, pod, pos, limit[1],
            f"pod {pod_name(pod)} of task {spec.task_id} found no node within {limit[0]:g} s "
            f"({which}): {waiting}",
            "lower the step's cpu/memory/gpu, check node_selector and tolerations, or give "
            "the cluster more nodes; raise schedule_timeout to wait longer for an autoscaler",
        )

    def _fail_unstarted(self, job: RemoteJob, pod: dict[str, Any], pos: int, reason: str,
                        message: str, hint: str) -> None:
        """Settle task ``pos`` of ``job`` as failed before its pod ran; the Job is deleted
        once all its tasks are settled."""
        spec = job.specs[pos]
        job.reported.add(pos)
        self._start_failed.add(job.name)
        self._ready.append(settle(
            self._ctx.artifacts, spec, engine_ok=False, reason=reason, message=message,
            hint=hint, location=self._where(spec), started_at=job.created,
            host=(pod.get("spec") or {}).get("nodeName", ""),
        ))

    def _delete_stuck(self, job: RemoteJob) -> None:
        """Delete a Job whose remaining pods cannot start, so the cluster stops retrying."""
        try:
            self._cancel(job)
        except Exception as err:  # the outcomes are recorded; a leftover Job is only noise
            log.warning(
                "job delete failed", job=job.name, error=str(err),
                hint=f"kubectl -n {self.options.namespace} delete job {job.name}",
            )

    def _forget(self, job: RemoteJob) -> None:
        for table in (self._pods_listed, self._stuck_since):
            table.pop(job.name, None)
        self._warned_unschedulable.discard(job.name)
        self._start_failed.discard(job.name)

    def _failed_pods(self, job: RemoteJob) -> dict[int, dict[str, Any]]:
        """The newest failed pod of each index of a Job."""
        out: dict[int, dict[str, Any]] = {}
        for pod in self.api.list_pods(f"job-name={job.name}"):
            meta = pod.get("metadata") or {}
            pos = _pod_index(pod)
            if pos is None or (pod.get("status") or {}).get("phase") != "Failed":
                continue
            older = out.get(pos)
            if older is None or meta.get("creationTimestamp", "") >= (
                older.get("metadata") or {}
            ).get("creationTimestamp", ""):
                out[pos] = pod
        return out

    def _log(self, pod: dict[str, Any]) -> str:
        name = (pod.get("metadata") or {}).get("name", "")
        try:
            return self.api.pod_log(name, CONTAINER)
        except Exception as err:  # the log is a help, not a requirement
            return f"(the log of pod {name} could not be read: {err})\n"

    def __repr__(self) -> str:
        return f"K8sCompute(namespace={self.options.namespace!r}, image={self.options.image!r})"
