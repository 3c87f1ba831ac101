"""Every Job manifest the ``k8s`` compute generates is valid batch/v1 for Kubernetes 1.31,
checked offline with kubernetes-validate in strict mode (unknown fields rejected), over a
range of resources and options; secrets appear only as references."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from lamina_compute_k8s.manifest import build_job, job_name
from lamina_compute_k8s.plugin import K8sComputeOptions

from lamina.compute.remote_common import contiguous_batches
from lamina.config.options import OptionError, build_options
from lamina.records import Resources, TaskSpec

K8S_VERSION = "1.31.0"
RUN = "20261127T044315123-a1b2c3"

OPTION_SETS = {
    "minimal": {"image": "python:3.11-slim"},
    "everything": {
        "image": "registry.example/ml:2026-11",
        "namespace": "ml-prod",
        "image_pull_secrets": ["regcred", "mirror-cred"],
        "image_pull_policy": "IfNotPresent",
        "service_account": "lamina-runner",
        "node_selector": {"cloud.google.com/gke-nodepool": "gpu-pool", "kubernetes.io/arch": "amd64"},
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
        "labels": {"team": "churn", "cost-center": "ML 42/eu"},
        "annotations": {"example.com/owner": "data-science"},
        "env": {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_S3": "http://minio.storage:9000"},
        "env_from_secrets": ["lamina-datastore"],
        "secret_env": {"AWS_ACCESS_KEY_ID": "s3-creds/access-key", "AWS_SECRET_ACCESS_KEY": "s3-creds/secret-key"},
        "ttl_seconds_after_finished": 600,
        "backoff_limit": 2,
        "retry_evicted": True,
        "priority_class": "batch-low",
        "gpu_resource": "amd.com/gpu",
        "python": "/opt/venv/bin/python",
    },
    "no_eviction_retry": {"image": "python:3.11", "retry_evicted": False, "ttl_seconds_after_finished": 0},
}

RESOURCES = [
    Resources(),
    Resources(cpu=0.25),
    Resources(cpu=2, memory=4096),
    Resources(cpu=1.5, memory=300, gpu=1),
    Resources(memory=65536, gpu=8),
]


def specs(count: int, *, step: str = "train_model", resources: Resources = Resources(),
          timeout: float | None = None, attempt: int = 1, first: int = 0,
          flow: str = "churn") -> list[TaskSpec]:
    return [
        TaskSpec(run_id=RUN, flow=flow, step=step, index=first + i, attempt=attempt,
                 datastore_url="s3://ml-artifacts/lamina", resources=resources, timeout=timeout)
        for i in range(count)
    ]


def assert_valid(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


CASES = list(itertools.product(OPTION_SETS, range(len(RESOURCES)), [None, 0.4, 3600.0], [1, 7]))


@pytest.mark.parametrize(("options", "resources", "timeout", "count"), CASES)
def test_generated_jobs_are_valid_batch_v1(options: str, resources: int, timeout: float | None,
                                           count: int) -> None:
    opts = build_options(K8sComputeOptions, OPTION_SETS[options])
    manifest = build_job(opts, specs(count, resources=RESOURCES[resources], timeout=timeout))
    assert_valid(manifest)
    spec = manifest["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == count
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    if timeout is not None:
        assert pod["activeDeadlineSeconds"] == max(1, int(-(-timeout // 1)))
    else:
        assert "activeDeadlineSeconds" not in pod


def test_the_cli_validator_accepts_every_manifest_file(tmp_path: Path) -> None:
    """The same check as a user would run it: ``kubernetes-validate --strict -k 1.31.0``."""
    files = []
    for n, (name, opts) in enumerate(OPTION_SETS.items()):
        options = build_options(K8sComputeOptions, opts)
        for r, res in enumerate(RESOURCES):
            path = tmp_path / f"{name}-{r}-{n}.yaml"
            path.write_text(json.dumps(build_job(options, specs(3, resources=res, timeout=60))))
            files.append(str(path))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(cli), "--strict", "-k", K8S_VERSION, *files],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed for resource job/") == len(files), proc.stdout


def test_the_validator_rejects_a_broken_manifest() -> None:
    """The validation above can fail: an unknown field or a wrong type is reported."""
    options = build_options(K8sComputeOptions, {"image": "python:3.11"})
    manifest = build_job(options, specs(2))
    manifest["spec"]["template"]["spec"]["containers"][0]["cpuLimit"] = "1"
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid(manifest)
    manifest = build_job(options, specs(2))
    manifest["spec"]["completions"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid(manifest)


def test_resources_become_requests_and_limits() -> None:
    options = build_options(K8sComputeOptions, {"image": "i", "gpu_resource": "nvidia.com/gpu"})
    container = build_job(options, specs(1, resources=Resources(cpu=1.5, memory=300, gpu=2)))[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "1500m", "memory": "300Mi"},
        "limits": {"memory": "300Mi", "nvidia.com/gpu": "2"},
    }
    assert "resources" not in build_job(options, specs(1))["spec"]["template"]["spec"]["containers"][0]


def test_the_command_runs_the_task_entry_point_with_the_completion_index() -> None:
    options = build_options(K8sComputeOptions, {"image": "i", "python": "/opt/venv/bin/python"})
    manifest = build_job(options, specs(5, first=40, attempt=2))
    command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "/opt/venv/bin/python", "-m", "lamina", "task", "--datastore", "s3://ml-artifacts/lamina",
        "--run", RUN, "--step", "train_model", "--index", "40", "--attempt", "2",
        "--index-env", "JOB_COMPLETION_INDEX",
    ]
    assert manifest["metadata"]["name"] == job_name(RUN, "train_model", 40, 2)


def test_secrets_are_references_never_values() -> None:
    opts = build_options(K8sComputeOptions, OPTION_SETS["everything"])
    container = build_job(opts, specs(1))["spec"]["template"]["spec"]["containers"][0]
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": "secret-key"}},
    }
    assert container["envFrom"] == [{"secretRef": {"name": "lamina-datastore"}}]
    assert all("value" not in e for e in container["env"] if "SECRET" in e["name"] or "KEY" in e["name"])


@pytest.mark.parametrize(("options", "message"), [
    ({"image": "i", "env": {"AWS_SECRET_ACCESS_KEY": "abc"}}, "looks like a credential"),
    ({"image": "i", "secret_env": {"TOKEN": "just-a-value"}}, "SECRET_NAME/KEY"),
    ({"image": "i", "namespace": "ML_Prod"}, "not a Kubernetes name"),
    ({"image": "i", "tolerations": [{"key": "a", "effects": "NoSchedule"}]}, "unknown keys"),
    ({"image": "i", "max_in_flight": 0}, "must be > 0"),
    ({"namespace": "ml"}, "image"),
])
def test_bad_options_are_refused_with_the_reason(options: dict, message: str) -> None:
    with pytest.raises(OptionError) as info:
        build_options(K8sComputeOptions, options)
    assert message in str(info.value)


def test_job_names_are_dns_labels_unique_per_range_and_attempt() -> None:
    names = {job_name(RUN, "Very_Long_Step_Name_" * 5, first, attempt)
             for first in (0, 1, 500) for attempt in (1, 2)}
    assert len(names) == 6
    for name in names:
        assert len(name) <= 52 and name == name.lower() and name.replace("-", "").isalnum()


def test_labels_are_valid_whatever_the_flow_name() -> None:
    options = build_options(K8sComputeOptions, {"image": "i", "labels": {"team": "Data Science!"}})
    manifest = build_job(options, specs(1, flow="my flow/v2 (test)", step="_private"))
    assert_valid(manifest)
    assert manifest["metadata"]["labels"]["lamina.dev/run"] == RUN


def test_consecutive_tasks_share_one_job_and_gaps_split() -> None:
    batch = specs(5) + specs(2, first=8) + specs(1, first=5, attempt=2)
    groups = contiguous_batches(batch, limit=4)
    assert [[s.index for s in g] for g in groups] == [[0, 1, 2, 3], [4], [8, 9], [5]]
