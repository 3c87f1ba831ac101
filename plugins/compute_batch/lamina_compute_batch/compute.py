"""The ``batch`` compute: tasks as AWS Batch jobs, consecutive tasks of a step as one array
job; outcomes from the jobs' status and the tasks' own records in the datastore.

``submit`` only queues. Each ``poll`` turns the queue into jobs (within ``max_in_flight``
and ``array_size_limit``), then, at most every ``poll_interval`` seconds, describes the
in-flight jobs (100 per request) and, for an array job with finished children, lists them
by status. A finished task is settled: its outcome record wins; without one, Batch's reason
(timeout, host terminated, out of memory, exit code) becomes the failure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.sdk import (
    BackendUnreachableError,
    LaminaError,
    QueuedRemoteCompute,
    RemoteJob,
    contiguous_batches,
    get_logger,
    settle,
)
from lamina_compute_batch.jobdefs import HASH_PARAMETER, job_definition, submit_request

if TYPE_CHECKING:
    from lamina.sdk import TaskSpec
    from lamina_compute_batch.plugin import BatchComputeOptions

log = get_logger("lamina.compute.batch")

_DONE = ("SUCCEEDED", "FAILED")
_CANCEL_REASON = "cancelled by lamina (the run was interrupted or failed)"


class _Job(RemoteJob):
    def __init__(self, job_id: str, name: str, specs: list[TaskSpec]) -> None:
        super().__init__(name, specs, key=job_id)
        self.job_id = job_id
        self.waiting_since: dict[int, float] = {}  # succeeded, outcome record not yet seen

    @property
    def array(self) -> bool:
        return len(self.specs) > 1


def classify_job(job: dict[str, Any]) -> tuple[str, str]:
    """(exit_reason, message) of a FAILED job (or array child) from its description."""
    reason = job.get("statusReason") or ""
    attempts = job.get("attempts") or []
    container = dict(job.get("container") or {})
    if attempts:
        container.update({k: v for k, v in (attempts[-1].get("container") or {}).items() if v is not None})
        reason = reason or attempts[-1].get("statusReason") or ""
    code = container.get("exitCode")
    creason = container.get("reason") or ""
    name = f"job {job.get('jobName', '?')} ({job.get('jobId', '?')})"
    if "attempt duration exceeded timeout" in reason.lower() or "timeout" in reason.lower():
        return "timeout", f"{name} ran longer than the step's timeout and was stopped: {reason}"
    lowered = reason.lower()
    if reason.startswith("Host EC2") or "spot" in lowered or (
        "terminated" in lowered and "lamina" not in lowered
    ):
        return "preempted", f"{name} lost its host: {reason}"
    if creason.startswith("OutOfMemoryError") or "out of memory" in creason.lower():
        return "oom", (
            f"{name} was killed for exceeding its memory ({creason}); ask for more with "
            "memory=MiB on the step"
        )
    if "cancelled by lamina" in reason:
        return "cancelled", f"{name}: {reason}"
    if code not in (None, 0):
        return "exit", f"{name} exited with code {code}" + (f" ({creason})" if creason else "") + (
            f": {reason}" if reason else ""
        )
    return "engine", f"AWS Batch reports {name} FAILED: {reason or creason or 'no reason given'}"


def _log_stream(job: dict[str, Any]) -> str:
    stream = (job.get("container") or {}).get("logStreamName") or ""
    for attempt in reversed(job.get("attempts") or []):
        stream = stream or (attempt.get("container") or {}).get("logStreamName") or ""
    return stream


class BatchCompute(QueuedRemoteCompute):
    """Runs a run's tasks on one AWS Batch job queue."""

    logger_name = "lamina.compute.batch"

    def __init__(self, options: BatchComputeOptions) -> None:
        super().__init__(options)
        self.options: BatchComputeOptions = options
        self._client: Any = None
        self._logs: Any = None
        self._definitions: dict[str, str] = {}  # content hash -> job definition ARN

    # -- clients --------------------------------------------------------------------------

    def _boto(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service, region_name=self.options.region, endpoint_url=self.options.endpoint_url
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._boto("batch")
        return self._client

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kw)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = error.get("Code", "")
            message = error.get("Message", str(err))
            where = f"AWS Batch ({self.options.region or 'default region'}"
            where += f", {self.options.endpoint_url})" if self.options.endpoint_url else ")"
            if code in ("AccessDeniedException", "UnrecognizedClientException",
                        "ExpiredTokenException", "InvalidSignatureException"):
                raise BackendUnreachableError(
                    f"{where} refused to {what}: {code}: {message}",
                    hint="give the identity lamina runs as batch:SubmitJob, DescribeJobs, "
                    "ListJobs, TerminateJob, RegisterJobDefinition, DescribeJobDefinitions, "
                    "DescribeJobQueues and iam:PassRole on the job roles",
                ) from None
            raise LaminaError(
                f"{where} could not {what}: {code}: {message}",
                hint="check the compute 'batch' options of the stack (job_queue, image, roles, "
                "resources) against the message",
            ) from None
        except BotoCoreError as err:
            raise BackendUnreachableError(
                f"cannot reach AWS Batch to {what}: {err}",
                hint="check region/endpoint_url and the AWS credentials (AWS_PROFILE, "
                "instance role)",
            ) from None

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context
        self.client  # noqa: B018  (build the client now: a bad region fails before any task)

    def _cancel(self, job: RemoteJob) -> None:
        # terminating an array job's parent terminates its children
        self._call(f"terminate job {job.key}", self.client.terminate_job,
                   jobId=job.key, reason=_CANCEL_REASON)
        log.info("job terminated", job=job.key)

    def check(self) -> str:
        queue = self.options.job_queue
        data = self._call(f"describe job queue {queue}", self.client.describe_job_queues,
                          jobQueues=[queue])
        queues = data.get("jobQueues") or []
        if not queues:
            raise BackendUnreachableError(
                f"AWS Batch has no job queue {queue!r}"
                + (f" in {self.options.region}" if self.options.region else ""),
                hint="create it (aws batch create-job-queue) or fix job_queue / region in the "
                "stack's compute options",
            )
        q = queues[0]
        if q.get("state") != "ENABLED" or q.get("status") != "VALID":
            raise BackendUnreachableError(
                f"AWS Batch job queue {queue!r} is {q.get('state')}/{q.get('status')}: "
                f"{q.get('statusReason', '')}",
                hint="enable the queue and fix its compute environments",
            )
        envs = ", ".join(
            e.get("computeEnvironment", "").rsplit("/", 1)[-1]
            for e in q.get("computeEnvironmentOrder") or []
        )
        return (
            f"AWS Batch job queue {q.get('jobQueueName', queue)} ENABLED/VALID "
            f"(compute environments: {envs or 'none'}); image {self.options.image}"
        )

    # -- submitting -----------------------------------------------------------------------

    def job_definition_arn(self, spec: TaskSpec) -> str:
        """The ARN of an ACTIVE job definition with this step's content: an existing
        revision when one matches, else a newly registered one."""
        request = job_definition(self.options, spec)
        digest = request["parameters"][HASH_PARAMETER]
        if digest in self._definitions:
            return self._definitions[digest]
        name = request["jobDefinitionName"]
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"jobDefinitionName": name, "status": "ACTIVE"}
            if token:
                kw["nextToken"] = token
            data = self._call(f"describe job definition {name}",
                              self.client.describe_job_definitions, **kw)
            for d in data.get("jobDefinitions") or []:
                if d.get("status") == "ACTIVE" and (d.get("parameters") or {}).get(HASH_PARAMETER) == digest:
                    self._definitions[digest] = d["jobDefinitionArn"]
                    return d["jobDefinitionArn"]
            token = data.get("nextToken")
            if not token:
                break
        made = self._call(f"register job definition {name}",
                          self.client.register_job_definition, **request)
        log.info("job definition registered", name=name, revision=made.get("revision"))
        self._definitions[digest] = made["jobDefinitionArn"]
        return made["jobDefinitionArn"]

    def render_tasks(self, specs: Sequence[TaskSpec]) -> list[dict[str, Any]]:
        """The requests submitting ``specs`` would send, without calling AWS
        (``lamina.sdk.RendersTasks``): per step its ``register_job_definition`` request
        (sent only when no ACTIVE revision has the same content hash) and each
        ``submit_job`` request, whose ``jobDefinition`` is the name the definition gets."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for batch in contiguous_batches(specs, self.options.array_size_limit):
            definition = job_definition(self.options, batch[0])
            if definition["jobDefinitionName"] not in seen:
                seen.add(definition["jobDefinitionName"])
                out.append({"request": "RegisterJobDefinition", **definition})
            submit = submit_request(self.options, batch, definition["jobDefinitionName"])
            out.append({"request": "SubmitJob", **submit})
        return out

    def _batch_limit(self, room: int) -> int:
        return min(room, self.options.array_size_limit)

    def _create(self, batch: list[TaskSpec]) -> RemoteJob:
        arn = self.job_definition_arn(batch[0])
        request = submit_request(self.options, batch, arn)
        made = self._call(f"submit job {request['jobName']} to queue "
                          f"{self.options.job_queue}", self.client.submit_job, **request)
        log.info("job submitted", job=made["jobId"], tasks=len(batch), step=batch[0].step)
        return _Job(made["jobId"], request["jobName"], batch)

    # -- watching -------------------------------------------------------------------------

    def _describe(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            data = self._call("describe jobs", self.client.describe_jobs,
                              jobs=ids[start:start + 100])
            for job in data.get("jobs") or []:
                out[job["jobId"]] = job
        return out

    def _children(self, parent: str, status: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"arrayJobId": parent, "jobStatus": status}
            if token:
                kw["nextToken"] = token
            data = self._call(f"list the children of array job {parent}",
                              self.client.list_jobs, **kw)
            out.extend(data.get("jobSummaryList") or [])
            token = data.get("nextToken")
            if not token:
                return out

    def _engine_state(self) -> dict[str, Any]:
        return self._describe(list(self._jobs))

    def _update(self, job: RemoteJob, info: dict[str, Any] | None) -> None:
        assert isinstance(job, _Job)
        if info is None:
            self._finish(job, {p: ("FAILED", {"statusReason": "the job is unknown to AWS "
                                               "Batch (deleted or expired)"})
                               for p in range(len(job.specs)) if p not in job.reported})
        elif not job.array:
            if info.get("status") in _DONE or 0 in job.waiting_since:
                self._finish(job, {0: (info.get("status", ""), info)})
        else:
            self._refresh_array(job, info)

    def _refresh_array(self, job: _Job, info: dict[str, Any]) -> None:
        summary = (info.get("arrayProperties") or {}).get("statusSummary") or {}
        finished = int(summary.get("SUCCEEDED", 0)) + int(summary.get("FAILED", 0))
        if info.get("status") not in _DONE and finished <= len(job.reported) and not job.waiting_since:
            return
        found: dict[int, tuple[str, dict[str, Any]]] = {}
        failed_ids: list[str] = []
        for status in _DONE:
            for child in self._children(job.job_id, status):
                pos = _child_index(child)
                if pos is None or pos in job.reported or pos >= len(job.specs):
                    continue
                found[pos] = (status, child)
                if status == "FAILED":
                    failed_ids.append(child["jobId"])
        if failed_ids:  # the summaries lack the reason and the log stream
            full = self._describe(failed_ids)
            for pos, (status, child) in list(found.items()):
                if status == "FAILED" and child["jobId"] in full:
                    found[pos] = (status, full[child["jobId"]])
        if info.get("status") == "FAILED" and not found and not job.waiting_since:
            # the parent failed with no child to show for it (cancelled, never started)
            found = {p: ("FAILED", info) for p in range(len(job.specs)) if p not in job.reported}
        self._finish(job, found)

    def _finish(self, job: _Job, found: dict[int, tuple[str, dict[str, Any]]]) -> None:
        artifacts = self._ctx.artifacts
        now = time.time()
        for pos, (status, info) in sorted(found.items()):
            spec = job.specs[pos]
            if status == "SUCCEEDED":
                # wait (up to outcome_grace) for the record a successful task writes
                first_seen = job.waiting_since.setdefault(pos, now)
                if (now - first_seen < self.options.outcome_grace
                        and _missing_record(artifacts, spec)):
                    continue
                job.waiting_since.pop(pos, None)
                job.reported.add(pos)
                self._ready.append(settle(artifacts, spec, engine_ok=True,
                                          location=self._where(spec), started_at=job.created))
            elif status == "FAILED":
                job.reported.add(pos)
                reason, message = classify_job(info)
                log_text = self._log(info) if self.options.fetch_logs == "failed" else ""
                self._ready.append(settle(
                    artifacts, spec, engine_ok=False, reason=reason, message=message,
                    location=self._where(spec), started_at=job.created, log_text=log_text,
                ))

    def _log(self, info: dict[str, Any]) -> str:
        stream = _log_stream(info)
        if not stream:
            return ""
        try:
            if self._logs is None:
                self._logs = self._boto("logs")
            data = self._logs.get_log_events(
                logGroupName=self.options.log_group, logStreamName=stream, startFromHead=True,
                limit=10_000,
            )
            return "".join(e.get("message", "") + "\n" for e in data.get("events") or [])
        except Exception as err:  # the log is a help, not a requirement
            return f"(the CloudWatch log stream {stream} could not be read: {err})\n"

    def __repr__(self) -> str:
        return f"BatchCompute(job_queue={self.options.job_queue!r}, image={self.options.image!r})"


def _child_index(child: dict[str, Any]) -> int | None:
    index = (child.get("arrayProperties") or {}).get("index")
    if index is None and ":" in child.get("jobId", ""):
        tail = child["jobId"].rsplit(":", 1)[1]
        index = int(tail) if tail.isdigit() else None
    return None if index is None else int(index)


def _missing_record(artifacts: Any, spec: TaskSpec) -> bool:
    from lamina.sdk import read_attempt_outcome

    return read_attempt_outcome(artifacts, spec) is None
