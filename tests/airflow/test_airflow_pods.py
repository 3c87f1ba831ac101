"""An Airflow DAG over the k8s compute: every option of the compute reaches every pod (the
DAG copies the pod the compute renders for its own Jobs), the pod validates against the
Kubernetes schema, and nothing of the deploying machine (its config file, a SQLite path,
a local folder) is handed to the pods."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from airflow_util import SHOP_FLOW

from lamina import load_stack
from lamina.deploy import deploy
from lamina.errors import LaminaError

K8S_VERSION = "1.31.0"

COMPUTE = (
    'plugin = "k8s", image = "registry/ml:7", namespace = "ml", service_account = "runner", '
    'image_pull_secrets = ["regcred"], image_pull_policy = "Always", '
    'node_selector = { pool = "gpu" }, '
    'tolerations = [{ key = "gpu", operator = "Exists", effect = "NoSchedule" }], '
    'labels = { team = "risk" }, annotations = { "cost/center" = "42" }, '
    'env = { MODE = "prod" }, env_from_secrets = ["s3-creds"], '
    'secret_env = { DB_PASSWORD = "db/password" }, priority_class = "batch", '
    'gpu_resource = "amd.com/gpu", python = "/opt/venv/bin/python"'
)
SHARED = ('datastore = { plugin = "s3", url = "s3://ml/lamina", endpoint_url = '
          '"http://s3.internal:8333" }\n'
          'metadata = { plugin = "postgres", url = "postgresql://lamina@db.internal/lamina" }\n')


def _project(root: Path, *, stores: str = SHARED, compute: str = COMPUTE) -> None:
    (root / "dags").mkdir(exist_ok=True)
    (root / "lamina.toml").write_text(
        "[stacks.af]\n" + stores
        + 'orchestrator = { plugin = "airflow", dags_folder = "dags" }\n'
        + f"compute = {{ {compute} }}\n"
    )
    (root / "flow.py").write_text(SHOP_FLOW.replace("cpu=2", "cpu=2, memory=4096, gpu=1"))


def _dag_namespace(text: str) -> dict:
    """The DAG file's constants and helpers, executed without Airflow."""
    names: dict = {}
    exec("import shlex\n" + text[text.index("FLOW ="):text.index("POD = ")], names)
    exec(text[text.index("RUN_ID ="):text.index("with DAG(")], names)
    return names


def test_every_k8s_option_reaches_the_pods_of_the_dag(project: Path, tmp_path: Path) -> None:
    _project(project)
    text = deploy("flow.py", stack=load_stack("af"), dry_run=True)
    template = _dag_namespace(text)["POD_TEMPLATE"]
    assert "**POD" in text and "'pod_template_dict': POD_TEMPLATE" in text
    meta, spec = template["metadata"], template["spec"]
    [container] = spec["containers"]
    assert meta["namespace"] == "ml"
    assert meta["labels"]["team"] == "risk" and meta["annotations"] == {"cost/center": "42"}
    assert spec["serviceAccountName"] == "runner"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "batch"
    assert container["image"] == "registry/ml:7" and container["imagePullPolicy"] == "Always"
    assert {"name": "MODE", "value": "prod"} in container["env"]
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}
            } in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    # the step's resources, rendered by the compute (its gpu resource name included)
    assert ("k8s.V1ResourceRequirements(requests={'cpu': '2', 'memory': '4096Mi'}, "
            "limits={'memory': '4096Mi', 'amd.com/gpu': '1'})") in text
    assert "PYTHON = '/opt/venv/bin/python'" in text

    # the pod a task gets (template + name + command) is a valid v1/Pod, strictly
    names = _dag_namespace(text)
    pod = json.loads(json.dumps(template))
    pod["metadata"]["name"] = "lamina-shop-sales-0"
    pod["spec"]["containers"][0].update(
        command=["sh", "-c"], args=names["step_args"]("sales"),
        resources={"requests": {"cpu": "2", "memory": "4096Mi"},
                   "limits": {"memory": "4096Mi", "amd.com/gpu": "1"}},
    )
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    done = subprocess.run([str(cli), "--strict", "-k", K8S_VERSION, str(manifest)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_pods_get_no_path_of_the_deploying_machine(project: Path) -> None:
    _project(project)
    text = deploy("flow.py", stack=load_stack("af"), dry_run=True)
    assert "CONFIG" not in text and "--config" not in text
    assert str(project) not in text  # no local path at all
    names = _dag_namespace(text)
    spec = json.loads(names["DATASTORE_SPEC"])
    assert spec["component"] == "s3" and spec["options"]["url"] == "s3://ml/lamina"
    start = text[text.index("lamina_start = KubernetesPodOperator"):]
    assert '"stepwise", "start", "--datastore-spec", DATASTORE_SPEC' in start
    assert '"stepwise", "finish", "--datastore-spec", DATASTORE_SPEC' in text
    [command] = names["step_args"]("sales")
    assert shlex.split(command)[3:6] == ["task", "--datastore-spec", names["DATASTORE_SPEC"]]


@pytest.mark.parametrize(
    ("stores", "message"),
    [
        ('datastore = { plugin = "s3", url = "s3://ml/lamina" }\n',
         "keeps its runs in a SQLite file on this machine"),
        ('datastore = "file://.lamina"\n'
         'metadata = { plugin = "postgres", url = "postgresql://lamina@db/lamina" }\n',
         "a folder on this machine"),
    ],
)
def test_stores_only_this_machine_sees_are_refused_for_pods(
    project: Path, stores: str, message: str
) -> None:
    _project(project, stores=stores)
    with pytest.raises(LaminaError, match=message) as err:
        deploy("flow.py", stack=load_stack("af"), dry_run=True)
    assert "docs/production.md" in str(err.value)
