"""`lamina deploy` to the airflow orchestrator, without running Airflow: the DAG file's
text, what each step option becomes, and the errors."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow_util import SHOP_FLOW as FLOW

from lamina import load_stack
from lamina.deploy import DEPLOYMENTS_PREFIX, deploy
from lamina.errors import BackendUnreachableError, LaminaError
from lamina.sdk import datastore_spec, record_stack

#: What a DAG file may import at parse time: the standard library and Airflow.
PARSE_TIME_IMPORTS = {"__future__", "json", "shlex", "subprocess", "sys", "datetime", "airflow",
                      "kubernetes"}


def _project(root: Path, orchestrator: str = "", compute: str = "", flow: str = FLOW) -> Path:
    (root / "dags").mkdir(exist_ok=True)
    # pods need stores they can reach: a shared datastore and metadata store
    stores = (['datastore = { plugin = "s3", url = "s3://ml/lamina" }',
               'metadata = { plugin = "postgres", url = "postgresql://lamina@db/lamina" }']
              if compute else ['datastore = "file://.lamina"'])
    lines = ["[stacks.af]", *stores,
             f'orchestrator = {{ plugin = "airflow", dags_folder = "dags"{orchestrator} }}']
    if compute:
        lines.append(f"compute = {{ {compute} }}")
    (root / "lamina.toml").write_text("\n".join(lines) + "\n")
    (root / "flow.py").write_text(flow)
    return root


def _imports(text: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    return found


def test_dry_run_prints_the_dag_and_writes_nothing(project: Path) -> None:
    _project(project)
    done = subprocess.run(
        [sys.executable, "-m", "lamina", "deploy", "flow.py", "--stack", "af", "--dry-run"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "from airflow.sdk import DAG, Param, task" in text
    assert "dag_id='lamina_shop'" in text
    assert "t_sales = step_sales.partial(lamina_run=lamina_run).expand(index=indexes_sales)" in text
    assert list((project / "dags").iterdir()) == []
    assert load_stack("af").artifacts.list(DEPLOYMENTS_PREFIX) == []
    ast.parse(text)


def test_deploy_writes_a_reviewable_dag_and_uploads_the_code(project: Path) -> None:
    _project(project, orchestrator=', schedule = "@daily", tags = ["team-a"], python = "/opt/py/bin/python"')
    stack = load_stack("af")
    where = deploy("flow.py", stack=stack)
    path = Path(where)
    assert path == project / "dags" / "lamina_shop.py"
    text = path.read_text()
    assert _imports(text) <= PARSE_TIME_IMPORTS  # lamina is never imported at parse time
    assert "schedule='@daily'" in text and "'team-a'" in text and "'lamina'" in text
    assert "PYTHON = '/opt/py/bin/python'" in text
    # the snapshot the DAG names is in the datastore, with the flow file's bytes of now
    deployment = next(line for line in text.splitlines() if line.startswith("DEPLOYMENT ="))
    deployment_id = deployment.split("'")[1]
    record = stack.artifacts.get_json(f"{DEPLOYMENTS_PREFIX}/shop/{deployment_id}.json")
    assert record["flow_file"] == "flow.py"
    assert stack.artifacts.get_bytes(record["code_files"]["flow.py"]) == FLOW.encode()


def test_step_options_and_params_map_to_airflow(project: Path) -> None:
    _project(project, orchestrator=", retries = 1, pool = \"ml\", max_active_tasks = 8")
    text = deploy("flow.py", stack=load_stack("af"), dry_run=True)
    sales = text[text.index("def step_sales") - 200: text.index("def step_sales")]
    assert "task_id='sales'" in sales
    assert "retries=2" in sales
    assert "execution_timeout=timedelta(seconds=90.0)" in sales
    assert "pool_slots=2" in sales
    assert '"retries": 1' in text and '"pool": \'ml\'' in text and "max_active_tasks=8" in text
    assert "'limit': Param(3, type='integer'" in text
    assert "'scale': Param(1.5, type='number'" in text
    assert "'title': Param(type='string'" in text  # required: no default
    assert "@task(task_id=\"lamina_finish\", trigger_rule=\"all_done\", outlets=[FINISHED])" in text


def test_dags_folder_missing_or_unset(project: Path) -> None:
    _project(project)
    (project / "dags").rmdir()
    with pytest.raises(BackendUnreachableError, match=r"dags folder .*dags does not exist") as err:
        deploy("flow.py", stack=load_stack("af"))
    assert "dags_folder" in str(err.value)
    (project / "lamina.toml").write_text(
        '[stacks.af]\ndatastore = "file://.lamina"\norchestrator = { plugin = "airflow" }\n'
    )
    with pytest.raises(LaminaError, match="no dags_folder"):
        deploy("flow.py", stack=load_stack("af"))


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ('@flow.step(compute="dask")', "compute='dask'"),
        ("@flow.step(cache=True)", "cache=True"),
        ("@flow.step(memory=2048)", "memory=2048"),
    ],
)
def test_options_airflow_cannot_express_are_refused(project: Path, decorator: str, message: str) -> None:
    flow = textwrap.dedent(f'''
        from lamina import Flow

        flow = Flow("odd")


        {decorator}
        def only() -> int:
            return 1
        ''')
    _project(project, flow=flow)
    with pytest.raises(LaminaError, match=message) as err:
        deploy("flow.py", stack=load_stack("af"), dry_run=True)
    assert "flow.py:" in str(err.value) and "fix:" in str(err.value)


def test_memory_can_be_ignored_and_params_must_be_json(project: Path) -> None:
    flow = FLOW.replace("cpu=2", "memory=512")
    _project(project, orchestrator=", ignore_resources = true", flow=flow)
    assert "def step_sales" in deploy("flow.py", stack=load_stack("af"), dry_run=True)
    (project / "flow.py").write_text(FLOW.replace("limit: int = 3", "limit: tuple = (1, 2)"))
    with pytest.raises(LaminaError, match="Airflow param cannot hold"):
        deploy("flow.py", stack=load_stack("af"), dry_run=True)


def test_kubernetes_compute_gets_pod_operators(project: Path) -> None:
    flow = FLOW.replace("cpu=2", "cpu=2, memory=4096, gpu=1")
    _project(project, compute='plugin = "k8s", image = "registry/ml:7", namespace = "ml", '
             'service_account = "runner"', flow=flow)
    text = deploy("flow.py", stack=load_stack("af"), dry_run=True)
    ast.parse(text)
    assert _imports(text) <= PARSE_TIME_IMPORTS
    assert "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator" in text
    assert "'namespace': 'ml'" in text and "'image': 'registry/ml:7'" in text
    assert "'serviceAccountName': 'runner'" in text  # in POD_TEMPLATE, from the compute
    assert ("k8s.V1ResourceRequirements(requests={'cpu': '2', 'memory': '4096Mi'}, "
            "limits={'memory': '4096Mi', 'nvidia.com/gpu': '1'})") in text
    assert "step_sales.expand(labels=indexes_sales.output.map(index_labels))" in text
    assert "task_id='prepare_sales'" in text and "do_xcom_push=True" in text
    assert "PYTHON = 'python'" in text  # the image's interpreter, from the k8s options
    assert "@task" not in text  # every task is a pod


def test_non_flow_targets_and_local_stacks(project: Path) -> None:
    _project(project)
    with pytest.raises(LaminaError, match="is not a file"):
        deploy("missing.toml", stack=load_stack("af"))
    (project / "lamina.toml").write_text('[stacks.here]\ndatastore = "file://.lamina"\n')
    with pytest.raises(LaminaError, match="nothing to deploy"):
        deploy("flow.py", stack=load_stack("here"))


def test_airflow_python_without_airflow_is_a_clear_error(project: Path) -> None:
    _project(project, orchestrator=f", airflow_python = {sys.executable!r}")
    with pytest.raises(LaminaError, match="Airflow 3 is not installed in") as err:
        deploy("flow.py", stack=load_stack("af"))
    assert "pip install 'apache-airflow>=3'" in str(err.value)
    assert list((project / "dags").iterdir()) == []
    missing = str(project / "no-such-python")
    _project(project, orchestrator=f", airflow_python = {missing!r}")
    with pytest.raises(LaminaError, match="does not exist"):
        deploy("flow.py", stack=load_stack("af"))


def test_pod_commands_render_to_the_task_command(project: Path) -> None:
    jinja2 = pytest.importorskip("jinja2")  # Airflow renders templated fields with Jinja
    _project(project, compute='plugin = "k8s", image = "registry/ml:7"')
    text = deploy("flow.py", stack=load_stack("af"), dry_run=True)
    helpers: dict = {}
    exec(text[text.index("FLOW ="):text.index("POD =")], helpers)
    exec("import shlex\n" + text[text.index("RUN_ID ="):text.index("with DAG(")], helpers)

    class TaskInstance:
        map_index, try_number = 4, 2

        @staticmethod
        def xcom_pull(task_ids: str) -> str:
            assert task_ids == "lamina_start"
            return "20261127T000000000-abcdef"

    [command] = helpers["step_args"]("sales")
    argv = shlex.split(jinja2.Template(command).render(ti=TaskInstance))
    stack = load_stack("af")
    spec = datastore_spec(record_stack(stack))  # the stack's datastore, never a guessed URL
    assert json.loads(spec)["component"] == "s3" and "${" not in spec
    assert argv == ["python", "-m", "lamina", "task", "--datastore-spec", spec,
                    "--run", "20261127T000000000-abcdef", "--step", "sales", "--index", "4",
                    "--attempt", "2"]
    [command] = helpers["step_args"]("regions", prepare=True)
    TaskInstance.map_index = -1  # not mapped
    rendered = jinja2.Template(command).render(ti=TaskInstance)
    first, second = rendered.split(" && ")
    assert shlex.split(first)[3:5] == ["stepwise", "prepare"]
    assert shlex.split(second)[-4:] == ["--index", "0", "--attempt", "2"]
