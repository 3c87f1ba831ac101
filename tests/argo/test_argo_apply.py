"""`lamina deploy --apply` submits the manifests through the Kubernetes API (the official
client), against the recorded exchange replayed on loopback (see replay.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from argo_util import write_project
from replay import TOKEN, ReplayArgo

from lamina.deploy import deploy
from lamina.errors import BackendUnreachableError, LaminaError
from lamina.stack import Stack

NS = "ml"
BASE = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}"


@pytest.fixture
def cluster():
    with ReplayArgo(NS) as replay:
        yield replay


def _stack(tmp_path: Path, cluster: ReplayArgo, **options: object) -> tuple[Path, Stack]:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig.json")
    flow = write_project(tmp_path / "project", kubeconfig=str(kubeconfig), **options)
    return flow, Stack.load("argo", cwd=flow.parent, env={})


def test_apply_creates_the_template_cron_workflow_and_sensor(tmp_path, cluster) -> None:
    flow, stack = _stack(tmp_path, cluster)
    result = deploy(str(flow), stack=stack, apply=True)
    assert "WorkflowTemplate argo-shop created" in result
    posts = cluster.calls("POST")
    assert [r.path for r in posts] == [f"{BASE}/workflowtemplates", f"{BASE}/cronworkflows",
                                       f"{BASE}/sensors"]
    assert posts[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert posts[0].body["spec"]["templates"][0]["name"] == "main"
    assert set(cluster.objects) == {("workflowtemplates", "argo-shop"),
                                    ("cronworkflows", "argo-shop"), ("sensors", "argo-shop")}


def test_apply_again_replaces_with_the_stored_resource_version(tmp_path, cluster) -> None:
    flow, stack = _stack(tmp_path, cluster)
    deploy(str(flow), stack=stack, apply=True)
    stored = cluster.objects[("workflowtemplates", "argo-shop")]["metadata"]["resourceVersion"]
    result = deploy(str(flow), stack=stack, apply=True)
    assert "WorkflowTemplate argo-shop updated" in result
    put = cluster.calls("PUT")[0]
    assert put.path == f"{BASE}/workflowtemplates/argo-shop"
    assert put.body["metadata"]["resourceVersion"] == stored
    assert cluster.objects[("workflowtemplates", "argo-shop")]["metadata"]["generation"] == 2


def test_objects_a_flow_no_longer_needs_are_deleted(tmp_path, cluster) -> None:
    flow, stack = _stack(tmp_path, cluster)
    deploy(str(flow), stack=stack, apply=True)
    flow.write_text(flow.read_text().replace(
        'Flow("argo_shop", schedule="0 3 * * 1-5", trigger_on_finish="ingest",\n'
        '            trigger=EventTrigger("orders-ready", params={"path": "uri"}))',
        'Flow("argo_shop")'))
    result = deploy(str(flow), stack=stack, apply=True)
    assert "CronWorkflow argo-shop deleted" in result and "Sensor argo-shop deleted" in result
    assert set(cluster.objects) == {("workflowtemplates", "argo-shop")}


def test_rbac_refusal_names_the_verbs_to_grant(tmp_path) -> None:
    with ReplayArgo(NS, forbid={"workflowtemplates"}) as cluster:
        flow, stack = _stack(tmp_path, cluster)
        with pytest.raises(BackendUnreachableError, match="refused to create WorkflowTemplate") as err:
            deploy(str(flow), stack=stack, apply=True)
    assert "verbs get, create, update on workflowtemplates" in str(err.value)


def test_an_unreachable_cluster_is_reported_with_the_fix(tmp_path, cluster) -> None:
    flow, stack = _stack(tmp_path, cluster)
    cluster.__exit__(None, None, None)  # the server is gone
    with pytest.raises(BackendUnreachableError, match="cannot reach the Kubernetes API"):
        deploy(str(flow), stack=stack, apply=True)


def test_apply_on_an_orchestrator_that_writes_files_is_refused(tmp_path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "lamina.toml").write_text('[stacks.local]\ndatastore = "file://.lamina"\n')
    write_project(tmp_path / "flows")
    stack = Stack.load("local", cwd=root, env={})
    with pytest.raises(LaminaError, match="--apply means nothing"):
        deploy(str(tmp_path / "flows" / "plain.py"), stack=stack, apply=True)
