"""Hook specifications: everything a plugin can offer or observe.

A plugin is a module (or object) with functions named like the specs below, decorated with
``lamina.hookimpl``, and announced by an entry point in the group ``lamina``::

    [project.entry-points.lamina]
    my_plugin = "my_package.plugin"

An implementation may accept a subset of a spec's arguments, so adding an argument to a spec
never breaks a plugin. lamina calls every hook with keyword arguments only.

The builtin backends (file datastore, local compute, in-process orchestrator, SQLite
metadata) are registered through these same hooks by ``lamina.builtin.plugin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from lamina.interfaces import ComponentSpec, Serializer
    from lamina.interfaces.data_source import DataSourceSpec
    from lamina.interfaces.feature_store import OnlineStoreSpec
    from lamina.interfaces.model_registry import AliasChange, ModelVersion
    from lamina.records import ArtifactRef, RunRecord, TaskOutcome, TaskSpec
    from lamina.runtime.context import TaskContext
    from lamina.stack import Stack

PROJECT_NAME = "lamina"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------
# Components: one hook per layer. Each returns the components the plugin offers.
# All are historic-free, non-firstresult: every plugin's list is collected.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_datastores() -> list[ComponentSpec]:
    """Offer datastore components (the data layer).

    Called once when the plugin manager collects components (``lamina plugins``, building a
    stack). Return :class:`lamina.interfaces.ComponentSpec` objects with
    ``layer="datastore"`` whose factory builds a :class:`lamina.interfaces.Datastore`.
    Set ``url_schemes`` so that ``datastore = "scheme://..."`` finds the component.

    :return: a list of component specs (may be empty). Not firstresult: all are collected.
    """


@hookspec
def lamina_compute_backends() -> list[ComponentSpec]:
    """Offer compute components (``layer="compute"``), each building a
    :class:`lamina.interfaces.Compute`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_orchestrators() -> list[ComponentSpec]:
    """Offer orchestrator components (``layer="orchestrator"``), each building a
    :class:`lamina.interfaces.Orchestrator`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_metadata_stores() -> list[ComponentSpec]:
    """Offer versioning (metadata) components (``layer="metadata"``), each building a
    :class:`lamina.interfaces.MetadataStore`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_feature_stores() -> list[ComponentSpec]:
    """Offer feature-store components (``layer="feature_store"``), each building a
    :class:`lamina.interfaces.FeatureStore`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_online_stores() -> list[OnlineStoreSpec]:
    """Offer online stores for feature stores (the newest feature values per key), each a
    :class:`lamina.interfaces.feature_store.OnlineStoreSpec` building a
    :class:`lamina.interfaces.feature_store.OnlineStore`.

    Called when a feature store is built and resolves its ``online_store`` option.

    :return: a list of online-store specs. Not firstresult.
    """


@hookspec
def lamina_data_sources() -> list[DataSourceSpec]:
    """Called once when the plugin manager collects components: the kinds of data source
    (warehouses, lakes) this plugin offers, each named by a stack's
    ``[stacks.S.data.NAME] plugin = "..."``.

    :return: a list of :class:`lamina.interfaces.data_source.DataSourceSpec`. Not
        firstresult.
    """


@hookspec
def lamina_model_registries() -> list[ComponentSpec]:
    """Called once when the plugin manager collects components: the model registries this
    plugin offers (layer ``"registry"``); the builtin one keeps its records in the
    metadata store.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_serving_backends() -> list[ComponentSpec]:
    """Offer serving components (``layer="serving"``), each building a
    :class:`lamina.interfaces.ServingBackend`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_monitors() -> list[ComponentSpec]:
    """Offer monitoring components (``layer="monitoring"``), each building a
    :class:`lamina.interfaces.Monitor`.

    Called when components are collected.

    :return: a list of component specs. Not firstresult.
    """


@hookspec
def lamina_serializers() -> list[Serializer]:
    """Offer serializers that turn values into stored bytes and back.

    Called once per process, the first time an artifact is saved or loaded. The
    serializer with the highest ``priority`` whose ``handles(value)`` is true writes a
    value; the recorded ``name`` chooses the reader.

    :return: a list of :class:`lamina.interfaces.Serializer`. Not firstresult.
    """


# -------------------------------------------------------------------------------------
# Stack: configuration, validation, CLI.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_plugin_options() -> type:
    """Declare the options of the plugin's own ``[plugins.<name>]`` table as an attrs class.

    Called when a stack is loaded. The table is turned into an instance of the class and
    validated exactly like a component's options (unknown keys with a did-you-mean, wrong
    types, attrs validators; errors name the config file and line), before
    ``lamina_configure`` runs; the generated config reference
    (``python -m lamina.config.reference``) lists its fields. ``${VAR}`` references are
    expanded from the environment.

    :return: an attrs class whose fields all have defaults (a plugin with no table in the
        config gets the defaults). Not firstresult: each plugin answers for itself.
    """


@hookspec(historic=True)
def lamina_configure(stack: Stack) -> None:
    """Let a plugin read its options when a stack is loaded.

    A historic hook: called for every registered plugin when a :class:`lamina.Stack` is
    loaded (after its components are validated, before anything runs), and again for each
    plugin registered later (``PluginManager.register`` from a notebook or a test), with
    every stack loaded so far. Pull the options with ``stack.plugin_options("<name>")``:
    an instance of the class the plugin declares with ``lamina_plugin_options``, or the raw
    table (a dict) if it declares none. Keep per-stack state on the stack, never in module
    globals (``stack.plugin_state("<name>")`` is a dict for that).

    :param stack: the stack being loaded.
    """


@hookspec
def lamina_validate_stack(stack: Stack) -> list[str] | None:
    """Check a whole stack for problems that no single component can see (a remote
    compute with a local-only datastore, an orchestrator that needs a shared metadata
    store...).

    Called by ``Stack.validate()`` (``lamina stack check``, and before a run).

    :param stack: the resolved stack.
    :return: a list of problems, each one sentence naming the component and the fix;
        empty or None when all is well. Not firstresult: all lists are collected.
    """


@hookspec
def lamina_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to the ``lamina`` command line.

    Called while the CLI parser is built, i.e. on every ``lamina`` invocation, so the
    implementation must import nothing heavy: add the parser, and import the work inside
    the command's handler. Set ``parser.set_defaults(handler=fn)``; ``fn(args)`` returns
    the exit code.

    :param subparsers: the top-level ``argparse`` subparsers object.
    """


# -------------------------------------------------------------------------------------
# Lifecycle: runs. Kedro's before/after/on-error shape. Called in the process that drives
# the run (the orchestrator); as everywhere in pluggy, the most recently registered plugin
# is called first.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_before_run(run: RunRecord, stack: Stack) -> None:
    """Called when a run has been recorded and before its first task is submitted.

    :param run: the new run's record (status ``running``).
    :param stack: the stack it runs on.
    """


@hookspec
def lamina_after_run(run: RunRecord, stack: Stack) -> None:
    """Called after a run finished successfully and its record is closed.

    :param run: the finished run's record (status ``succeeded``).
    :param stack: the stack it ran on.
    """


@hookspec
def lamina_on_run_error(run: RunRecord, error: BaseException, stack: Stack) -> None:
    """Called after a run failed or was interrupted, once its record is closed.

    :param run: the run's record (status ``failed`` or ``interrupted``).
    :param error: the exception the run raises to its caller.
    :param stack: the stack it ran on.
    """


# -------------------------------------------------------------------------------------
# Lifecycle: tasks. Called in the process that executes the task (a local worker, a Dask
# worker, or the remote ``python -m lamina task`` process), in the task's own
# ``contextvars`` context: several tasks may run at once in one process, so keep per-task
# state in the context (or in ``context``), never in module globals.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_before_task(spec: TaskSpec, context: TaskContext) -> None:
    """Called just before a step function is called for one task attempt.

    :param spec: the task being run (run id, step, index, attempt, inputs by reference).
    :param context: the task's :class:`lamina.runtime.context.TaskContext`: its
        ``stack`` (read your settings from ``context.stack``, e.g.
        ``context.stack.config.plugins``, not from module globals), ``run_id``, ``flow``,
        ``step``, ``index``, ``attempt``, ``artifacts``, and the run (``context.run()``,
        ``context.manifest()``). In a remote task the stack is the run's own, rebuilt
        from what the run recorded.
    """


@hookspec
def lamina_after_task(spec: TaskSpec, outcome: TaskOutcome, context: TaskContext) -> None:
    """Called after a task attempt succeeded and its result was stored.

    :param spec: the task.
    :param outcome: its outcome (``status == "succeeded"``, ``output`` set).
    :param context: the task's context (stack and run), as for ``lamina_before_task``.
    """


@hookspec
def lamina_on_task_error(
    spec: TaskSpec, outcome: TaskOutcome, error: BaseException, context: TaskContext
) -> None:
    """Called after a task attempt failed (the step raised, or its result could not be
    stored). A timeout, which kills the worker, is reported by ``lamina_on_run_error``
    and in the task record instead.

    :param spec: the task.
    :param outcome: its outcome (``status == "failed"``, traceback set).
    :param error: the exception.
    :param context: the task's context (stack and run), as for ``lamina_before_task``.
    """


# -------------------------------------------------------------------------------------
# Lifecycle: artifacts. Called in the process that saves or loads the artifact.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_before_artifact_save(name: str, value: Any, stack: Stack | None) -> None:
    """Called before a value is serialized into the datastore.

    :param name: what the value is (``RUN/STEP/INDEX`` for a step result, or a label such
        as ``foreach-element``).
    :param value: the value itself; do not mutate it.
    :param stack: the stack whose datastore stores it (a plugin reads its settings from
        it); None for an artifact store built by hand.
    """


@hookspec
def lamina_after_artifact_save(name: str, ref: ArtifactRef, created: bool, stack: Stack | None) -> None:
    """Called after a value was stored.

    :param name: as for ``lamina_before_artifact_save``.
    :param ref: the stored artifact's reference (content hash, serializer, size).
    :param created: False when identical bytes were already stored (content addressing).
    :param stack: as for ``lamina_before_artifact_save``.
    """


@hookspec
def lamina_on_artifact_error(name: str, error: BaseException, stack: Stack | None) -> None:
    """Called when saving or loading an artifact failed (serializer error, corrupt object,
    unreachable store).

    :param name: what was being saved or loaded.
    :param error: the exception, which is raised again after the hook.
    :param stack: as for ``lamina_before_artifact_save``.
    """


@hookspec
def lamina_after_artifact_load(ref: ArtifactRef, value: Any, stack: Stack | None) -> None:
    """Called after an artifact was read back and its integrity checked.

    :param ref: the artifact's reference.
    :param value: the loaded value; do not mutate it.
    :param stack: as for ``lamina_before_artifact_save``.
    """


# -------------------------------------------------------------------------------------
# Lifecycle: serving and monitoring. Defined now so plugins can rely on them; emitted by
# the serving and monitoring layers.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_model_deployed(deployment: Any, endpoint: str) -> None:
    """Called after a serving backend deployed (or updated) a deployment.

    :param deployment: the deployment spec (models, weights).
    :param endpoint: the URL it answers at.
    """


@hookspec
def lamina_model_actions(stack: Stack) -> dict[str, Any] | None:
    """Offer extra POST routes on the local model server (``lamina serve``):
    ``/v2/models/{name}[/versions/{variant}]/{action}``, e.g. ``explain``.

    Called once when a server's app is built (:func:`lamina.serving.server.build_app`),
    so the implementation must be cheap: return factories, import heavy libraries in them.
    The server answers a route the way it answers ``infer``: it checks the token, parses
    the body, picks the variant (the one named in the path, else the router's choice),
    decodes ``inputs`` against the model's schema and prepares them as the model's predict
    function takes them. Then, the first time a variant is asked for the action, it calls
    ``factory(model)`` (a :class:`lamina.sdk.Model`) and keeps the handler it returns;
    each request calls ``handler(inputs, request)`` with the prepared inputs and the whole
    parsed body. The handler returns a JSON-serializable dict, answered merged into
    ``{"model_name", "model_version", "id", "parameters": {"variant", "model"}}``.
    A factory that raises :class:`lamina.sdk.ServingError` (the model is not supported)
    makes the route answer 501 with its message; a :class:`lamina.sdk.PayloadError` from
    the handler answers 400 naming the field. A name the server already routes (``infer``,
    ``outcomes``, ``ready``) or offered by two plugins is refused when the app is built.

    :param stack: the stack the server runs on (the plugin's options are there).
    :return: ``{action name: factory}``, or None. Not firstresult: all are merged.
    """


@hookspec
def lamina_prediction_logged(records: list[dict[str, Any]]) -> None:
    """Called after a batch of prediction-log records was written.

    :param records: the records of the batch (request id, variant, model ref, latency).
    """


@hookspec
def lamina_alert(
    name: str, severity: str, message: str, details: dict[str, Any], stack: Stack
) -> None:
    """Called when monitoring raises an alert (drift, quality, performance threshold),
    once per alert, in the process that made the report (a monitoring flow's step).

    :param name: the alert's name (``drift:age``, ``quality:age``, ``drift:dataset``,
        ``performance:VARIANT:accuracy``).
    :param severity: ``info``, ``warning`` or ``critical``.
    :param message: one human sentence.
    :param details: numbers behind it (statistic, p-value, threshold), JSON-serializable.
    :param stack: the stack the monitoring ran on (its config holds the channel's options).
    """


@hookspec
def lamina_model_registered(version: ModelVersion, stack: Stack) -> None:
    """Called after a model version was registered, in the process that registered it.

    :param version: the new version.
    :param stack: the stack whose registry holds it (trackers read their options there).
    """


@hookspec
def lamina_model_promoted(version: ModelVersion, change: AliasChange, stack: Stack) -> None:
    """Called after an alias moved to (or was removed from) a version.

    :param version: the version the alias now points at (for a removal, the one it left).
    :param change: the recorded move: alias, previous version, user, time, reason, forced.
    :param stack: the stack whose registry holds it.
    """


# -------------------------------------------------------------------------------------
# Retention: what ``lamina gc`` and ``lamina runs --delete`` must keep.
# -------------------------------------------------------------------------------------


@hookspec
def lamina_retention_keep(stack: Stack) -> list[str]:
    """Called by ``lamina gc`` (and ``lamina runs --delete``) before anything is deleted,
    once per collection, in the process that collects.

    Return the ids of the runs that something outside the run records needs: a registered
    model version, a serving deployment, a feature materialization, a deployment of your
    platform. Those runs are kept whatever the retention policy says, and so is every
    object they point at. Not firstresult: every plugin's list counts. Return ``[]`` (or
    None) when you keep nothing. An id may be a unique prefix of a run id.

    :param stack: the stack being collected (its metadata store, datastore and config).
    """
