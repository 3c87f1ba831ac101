"""Lifecycle hooks mirroring lamina into MLflow.

* ``lamina_after_run`` / ``lamina_on_run_error``: one MLflow run per lamina run (found
  again by its tag ``lamina_run_id``, so mirroring twice updates, never duplicates) with
  the flow parameters, the run's tags, lamina's facts (``lamina.*`` tags), every metric a
  task logged (``STEP/NAME``, a foreach index as MLflow's step) and the stored results of
  the steps named in ``artifacts``.
* ``lamina_model_registered``: a version of the registered model of the same name in
  MLflow's model registry, its source the model's artifact logged into the run, tagged
  ``lamina_version`` and ``lamina_ref``.
* ``lamina_model_promoted``: the alias moved (or removed) in MLflow too, with who and why
  as tags of the model version.

Options come from ``[plugins.tracking_mlflow]``; without ``tracking_uri`` the plugin is
idle. A tracker that does not answer never fails a run: each call is retried
(``retries``), then a :class:`lamina.sdk.TrackerWarning` is shown and the run is tagged
``tracker-failed:mlflow``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from typing import Any

import attrs

from lamina.sdk import (
    AliasChange,
    ModelVersion,
    RunRecord,
    RunSummary,
    call_tracker,
    hookimpl,
    run_summary,
)

#: The entry-point name this distribution registers the plugin under.
PLUGIN_NAME = "tracking_mlflow"
#: The MLflow run tag holding the lamina run id.
RUN_TAG = "lamina_run_id"
#: The folder of the MLflow run the chosen results are logged under.
ARTIFACT_DIR = "lamina"
_SCHEMES = ("", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https",
            "databricks", "databricks-uc")


def _tracking_uri(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    scheme = (value if value in ("databricks", "databricks-uc")
              else urllib.parse.urlsplit(value).scheme.split("+")[0])
    if value and scheme not in _SCHEMES and len(scheme) != 1:  # len 1: a Windows drive
        raise ValueError(
            f"{attribute.name} {value!r} is not an MLflow tracking URI (a folder, file:, "
            'sqlite:, a database URL or http(s):); e.g. tracking_uri = "sqlite:///mlflow.db" '
            'or "http://mlflow.internal:5000"')


def _not_negative(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen
class MlflowOptions:
    """Options of ``[plugins.tracking_mlflow]``, validated by lamina when a stack loads.

    :param tracking_uri: where runs go: a folder or ``file:`` URI, ``sqlite:///mlflow.db``,
        a database URL, or an ``mlflow server`` URL (``http://host:5000``). Empty: the
        plugin is idle.
    :param registry_uri: where registered versions go (default: ``tracking_uri``).
    :param experiment: the MLflow experiment (default: the flow's name).
    :param artifacts: steps whose stored results are logged as artifacts of the MLflow run
        (under ``lamina/STEP/``). A registered model's step is always logged.
    :param register_models: mirror registered versions and alias moves into MLflow's model
        registry.
    :param stacks: mirror only runs on these stacks (empty: every stack).
    :param retries: further attempts after a failed call to MLflow (bounded backoff
        0.5 s, 1 s, 2 s ..., at most 5 s each).
    :param timeout: seconds per HTTP request to an MLflow server.
    """

    tracking_uri: str = attrs.field(default="", validator=_tracking_uri)
    registry_uri: str = attrs.field(default="", validator=_tracking_uri)
    experiment: str = ""
    artifacts: tuple[str, ...] = ()
    register_models: bool = True
    stacks: tuple[str, ...] = ()
    retries: int = attrs.field(default=2, validator=_not_negative)
    timeout: float = attrs.field(default=10.0, validator=_positive)


@hookimpl
def lamina_plugin_options() -> type:
    return MlflowOptions


def _options(stack: Any) -> MlflowOptions | None:
    """The stack's options when the plugin is active for it, else None."""
    if stack is None:
        return None
    options = stack.plugin_options(PLUGIN_NAME)
    if not isinstance(options, MlflowOptions) or not options.tracking_uri:
        return None
    if options.stacks and getattr(stack, "name", None) not in options.stacks:
        return None
    return options


def _uri(stack: Any, uri: str) -> str:
    """A relative folder or ``sqlite:///relative.db`` is relative to the project, as every
    path in a stack is."""
    if uri.split(":")[0] in ("databricks", "databricks-uc"):
        return uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + stack.resolve_path(uri.removeprefix("sqlite:///"))
    if "://" not in uri and not uri.startswith("file:"):
        return stack.resolve_path(uri)
    return uri


@contextlib.contextmanager
def _http_limits(options: MlflowOptions) -> Iterator[None]:
    """MLflow's HTTP client retries 7 times over minutes by default, configured only by
    environment variables: bound it for the duration of a call (our own retries are the
    bounded ones), unless the user set them."""
    wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{options.timeout:g}"}
    added = [k for k in wanted if k not in os.environ]
    os.environ.update({k: wanted[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class Mirror:
    """An MLflow client for one stack's options (what the hooks use; usable from a
    notebook to mirror an older run again: ``Mirror(stack).run(stack.metadata.get_run(ID))``)."""

    def __init__(self, stack: Any, options: MlflowOptions | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.stack = stack
        self.options = options or stack.plugin_options(PLUGIN_NAME)
        tracking = _uri(stack, self.options.tracking_uri)
        registry = _uri(stack, self.options.registry_uri) if self.options.registry_uri else tracking
        self.client = MlflowClient(tracking_uri=tracking, registry_uri=registry)

    # ------------------------------------------------------------------ runs

    def find_run(self, run_id: str, experiment: str | None = None) -> str | None:
        """The MLflow run id mirroring lamina run ``run_id``, if it was mirrored."""
        names = [experiment] if experiment else None
        ids = []
        if names is None:
            ids = [e.experiment_id for e in self.client.search_experiments()]
        else:
            exp = self.client.get_experiment_by_name(names[0])
            ids = [exp.experiment_id] if exp is not None else []
        if not ids:
            return None
        found = self.client.search_runs(ids, filter_string=f"tags.`{RUN_TAG}` = '{run_id}'",
                                        max_results=1)
        return found[0].info.run_id if found else None

    def _experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:  # created meanwhile by another process
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def run(self, run: RunRecord, *, steps: tuple[str, ...] = ()) -> str:
        """Mirror a finished (or failed) lamina run; returns the MLflow run id."""
        from mlflow.entities import Metric, Param, RunTag

        summary = run_summary(run, self.stack)
        experiment = self.options.experiment or run.flow
        mlflow_id = self.find_run(run.run_id, experiment)
        if mlflow_id is None:
            created = self.client.create_run(
                self._experiment(experiment), start_time=int(run.started_at * 1000),
                tags={RUN_TAG: run.run_id}, run_name=run.run_id)
            mlflow_id = created.info.run_id
        existing = self.client.get_run(mlflow_id).data.params
        params = [Param(k, _text(v, 6000)) for k, v in summary.params.items()
                  if k not in existing]  # a param is written once in MLflow
        tags = [RunTag(k, _text(v, 5000)) for k, v in {**summary.tags, **summary.system,
                                                       "mlflow.user": run.user}.items() if k]
        metrics = [Metric(m.key, m.value, int(m.timestamp * 1000), m.step)
                   for m in summary.metrics]
        for i in range(0, max(len(params), len(tags), len(metrics)), 100):
            self.client.log_batch(mlflow_id, metrics=metrics[i:i + 100],
                                  params=params[i:i + 100], tags=tags[i:i + 100])
        for step in dict.fromkeys((*self.options.artifacts, *steps)):
            self._log_results(mlflow_id, summary, step)
        status = {"succeeded": "FINISHED", "running": "RUNNING",
                  "interrupted": "KILLED"}.get(run.status, "FAILED")
        if status != "RUNNING":
            self.client.set_terminated(mlflow_id, status=status,
                                       end_time=int((run.finished_at or run.started_at) * 1000))
        return str(mlflow_id)

    def _log_results(self, mlflow_id: str, summary: RunSummary, step: str) -> None:
        """The stored bytes of a step's results, as stored (no value is loaded, so no
        pickle runs), with each one's reference next to it."""
        found = {index: ref for (s, index), ref in summary.outputs.items() if s == step}
        if not found:
            return
        with tempfile.TemporaryDirectory(prefix="lamina-mlflow-") as tmp:
            folder = os.path.join(tmp, step)
            os.makedirs(folder)
            for index, ref in sorted(found.items()):
                name = str(index) if len(found) > 1 else "result"
                with open(self.stack.datastore.blob_path(ref.key), "rb") as src, \
                        open(os.path.join(folder, f"{name}.{ref.serializer}"), "wb") as dst:
                    dst.write(src.read())
                with open(os.path.join(folder, f"{name}.ref.json"), "w") as out:
                    json.dump(ref.to_dict(), out, indent=1, default=str)
            self.client.log_artifacts(mlflow_id, folder, f"{ARTIFACT_DIR}/{step}")

    # ------------------------------------------------------------------ registry

    def register(self, version: ModelVersion) -> str:
        """Mirror a registered version; returns MLflow's version number (MLflow numbers
        its own versions: lamina's is the tag ``lamina_version``)."""
        from mlflow.exceptions import MlflowException

        found = self._version(version.name, version.version)
        if found is not None:
            return found
        flow, _, step = _split_ref(version.ref)
        run = self.stack.metadata.get_run(version.run_id)
        mlflow_id = self.find_run(version.run_id, self.options.experiment or flow)
        if mlflow_id is None or not self._has_results(mlflow_id, step):
            mlflow_id = self.run(run, steps=(step,))
        try:
            self.client.create_registered_model(
                version.name, tags={"lamina_namespace": version.namespace} if version.namespace else None)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {"lamina_version": str(version.version), "lamina_ref": version.ref,
                "lamina_run_id": version.run_id, "lamina_registered_by": version.registered_by,
                "lamina_registered_at": version.registered_at}
        tags.update({f"lamina_metadata_{k}": _text(v, 5000) for k, v in version.metadata.items()})
        created = self.client.create_model_version(
            version.name, source=f"runs:/{mlflow_id}/{ARTIFACT_DIR}/{step}", run_id=mlflow_id,
            tags={k: v for k, v in tags.items() if v},
            description=str(version.metadata.get("description", "")) or None)
        return str(created.version)

    def _has_results(self, mlflow_id: str, step: str) -> bool:
        return bool(self.client.list_artifacts(mlflow_id, f"{ARTIFACT_DIR}/{step}"))

    def _version(self, name: str, version: int) -> str | None:
        """MLflow's version number of lamina's version ``version`` of ``name``."""
        try:
            found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        except Exception:
            return None
        for v in found:
            if v.tags.get("lamina_version") == str(version):
                return str(v.version)
        return None

    def promote(self, version: ModelVersion, change: AliasChange) -> None:
        """Move (or remove) the alias in MLflow, registering the version first if needed."""
        if change.version is None:
            with contextlib.suppress(Exception):  # an alias MLflow never had
                self.client.delete_registered_model_alias(change.name, change.alias)
            return
        number = self._version(version.name, version.version) or self.register(version)
        self.client.set_registered_model_alias(change.name, change.alias, number)
        prefix = f"lamina_alias_{change.alias}"
        for key, value in {f"{prefix}_by": change.user, f"{prefix}_at": change.at,
                           f"{prefix}_reason": change.reason,
                           f"{prefix}_forced": "true" if change.forced else ""}.items():
            if value:
                self.client.set_model_version_tag(change.name, number, key, _text(value, 5000))


def _split_ref(ref: str) -> tuple[str, str, str]:
    parts = ref.split("/")
    if len(parts) != 3:
        raise ValueError(f"model version ref {ref!r} is not FLOW/RUN_ID/STEP")
    return parts[0], parts[1], parts[2]


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:limit]


# ---------------------------------------------------------------------- hooks


def _mirror_run(run: RunRecord, stack: Any) -> None:
    options = _options(stack)
    if options is None:
        return
    with _http_limits(options):
        call_tracker(PLUGIN_NAME, lambda: Mirror(stack, options).run(run), stack=stack,
               run_id=run.run_id, retries=options.retries, what=f"run {run.flow}/{run.run_id}")


@hookimpl
def lamina_after_run(run: RunRecord, stack: Any) -> None:
    _mirror_run(run, stack)


@hookimpl
def lamina_on_run_error(run: RunRecord, error: BaseException, stack: Any) -> None:
    _mirror_run(run, stack)


@hookimpl
def lamina_model_registered(version: ModelVersion, stack: Any) -> None:
    options = _options(stack)
    if options is None or not options.register_models:
        return
    with _http_limits(options):
        call_tracker(PLUGIN_NAME, lambda: Mirror(stack, options).register(version), stack=stack,
               run_id=version.run_id, retries=options.retries,
               what=f"model {version.name} version {version.version}")


@hookimpl
def lamina_model_promoted(version: ModelVersion, change: AliasChange, stack: Any) -> None:
    options = _options(stack)
    if options is None or not options.register_models:
        return
    with _http_limits(options):
        call_tracker(PLUGIN_NAME, lambda: Mirror(stack, options).promote(version, change),
               stack=stack, run_id=version.run_id, retries=options.retries,
               what=f"alias {change.alias} of model {change.name}")
