"""The one surface a plugin imports: ``from lamina.sdk import ...``.

Everything a backend, a lifecycle plugin or a tool embedding lamina needs is named here,
and nothing else of lamina's internals is part of the contract. An import contract checked
in CI keeps every first-party plugin on this surface.

Stability promise (docs/sdk.md):

* a name in ``__all__`` keeps working for every 0.x minor version after the one that added
  it; a removal is announced one minor version ahead with a ``DeprecationWarning``;
* classes and functions may gain keyword arguments with defaults, records may gain fields
  with defaults, hooks may gain arguments (an implementation takes the subset it wants);
* anything not in ``__all__`` (every module under ``lamina`` other than this one,
  ``lamina.hookspecs``, ``lamina.errors``, ``lamina.testing`` and the user-facing layer
  APIs) may change in any release.

Names load lazily: importing this module costs nothing until a name is used, so a plugin's
entry module stays cheap on every ``lamina`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina._lazy import lazy_exports
from lamina.hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from lamina.builtin.file_datastore import FileDatastore
    from lamina.client.refs import resolve_run
    from lamina.compute.env_options import plain_env_validator
    from lamina.compute.remote_common import (
        QueuedRemoteCompute,
        RemoteJob,
        command_line,
        contiguous_batches,
        failure_outcome,
        parse_index_ranges,
        read_attempt_outcome,
        settle,
        task_command,
    )
    from lamina.config.options import build_options, option_docs, options_to_dict
    from lamina.config.paths import (
        file_url_to_path,
        is_absolute_path,
        is_windows_path,
        local_path,
        portable_name_problem,
        split_scheme,
    )
    from lamina.config.recorded import datastore_spec, parse_datastore_spec, record_stack
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.hashing import (
        TableDigest,
        check_object_key,
        is_object_key,
        new_hash,
        object_key,
        reserve,
        stamp,
        table_digest,
    )
    from lamina.datastore.serializers import builtin_serializers
    from lamina.datastore.wrapper import DatastoreWrapper
    from lamina.deploy import DeploymentPlan
    from lamina.deploy import deploy as deploy_flow
    from lamina.errors import (
        ArtifactNotFoundError,
        BackendUnreachableError,
        BrokenPluginWarning,
        ConfigError,
        ConfigWarning,
        CorruptArtifactError,
        DataSourceError,
        DatastoreError,
        FeatureStoreError,
        ImmutableRunError,
        LaminaError,
        MetadataError,
        ModelNotFoundError,
        ModelRegistryError,
        OptionError,
        PluginError,
        RunFailedError,
        RunNotFoundError,
        SerializationError,
        StepError,
        TrackerWarning,
        UntrustedArtifactError,
    )
    from lamina.features.partitioned import join_partition
    from lamina.flow.loader import load_flow_file
    from lamina.flow.triggers import EventTrigger, Triggers, eventbridge_cron
    from lamina.interfaces import (
        LAYERS,
        BufferDatastore,
        BufferSerializer,
        CollectableDatastore,
        CollectableMetadataStore,
        ComponentSpec,
        Compute,
        Datastore,
        FeatureStore,
        Layer,
        MetadataStore,
        Monitor,
        Orchestrator,
        PodCompute,
        RendersTasks,
        Serializer,
        ServingBackend,
    )
    from lamina.interfaces.data_source import (
        DataInput,
        DataRead,
        DataSource,
        DataSourceSpec,
        arrow_table,
        jsonable_params,
        safe_url,
    )
    from lamina.interfaces.feature_store import OnlineStore, OnlineStoreSpec
    from lamina.interfaces.model_registry import AliasChange, ModelRegistry, ModelVersion
    from lamina.kernel.hookcalls import HookFailure
    from lamina.kernel.pluginmanager import BrokenPlugin, LoadedPlugin, PluginManager
    from lamina.logs import get_logger
    from lamina.namespaces import Branch
    from lamina.recordcodec import (
        ALIAS_CHANGE_COLUMNS,
        MODEL_VERSION_COLUMNS,
        NAMESPACE_OF_ROW,
        alias_change_from_row,
        check_result_from_row,
        encode_field,
        in_step_order,
        model_version_from_row,
        namespace_condition,
        with_crashed,
    )
    from lamina.records import (
        ArtifactRef,
        Resources,
        RunRecord,
        TaskOutcome,
        TaskRecord,
        TaskSpec,
    )
    from lamina.runtime.context import TaskContext
    from lamina.runtime.current import current
    from lamina.runtime.envs import run_task_in_env
    from lamina.runtime.forks import mark_fork_unsafe
    from lamina.runtime.remote import (
        build_spec,
        load_snapshot_flow,
        read_manifest,
        run_remote_task,
        task_stack,
    )
    from lamina.runtime.scheduler import Scheduler
    from lamina.runtime.task import execute_task, record_failure, write_outcome
    from lamina.serving import (
        Deployment,
        Model,
        PayloadError,
        Schema,
        ServingError,
        load_artifact,
        resolve_model,
    )
    from lamina.sqltext import (
        FILTER_OPERATORS,
        bind_params,
        dnf_filter,
        filter_text,
        line_column,
        sql_where,
    )
    from lamina.stack import Stack
    from lamina.tracking import MetricPoint, RunSummary, call_tracker, run_summary
    from lamina.versioning.ids import new_run_id

_EXPORTS = {
    # records
    "ArtifactRef": "lamina.records",
    "Resources": "lamina.records",
    "RunRecord": "lamina.records",
    "TaskOutcome": "lamina.records",
    "TaskRecord": "lamina.records",
    "TaskSpec": "lamina.records",
    # teams: which branch of a project a run or deployment belongs to
    "Branch": "lamina.namespaces",
    # interfaces: one Protocol per layer, and how a plugin offers a component
    "LAYERS": "lamina.interfaces",
    "ComponentSpec": "lamina.interfaces",
    "Compute": "lamina.interfaces",
    "PodCompute": "lamina.interfaces",
    "RendersTasks": "lamina.interfaces",
    "Datastore": "lamina.interfaces",
    "CollectableDatastore": "lamina.interfaces",
    "BufferDatastore": "lamina.interfaces",
    "BufferSerializer": "lamina.interfaces",
    "CollectableMetadataStore": "lamina.interfaces",
    "FeatureStore": "lamina.interfaces",
    "Layer": "lamina.interfaces",
    "MetadataStore": "lamina.interfaces",
    "Monitor": "lamina.interfaces",
    "Orchestrator": "lamina.interfaces",
    "Serializer": "lamina.interfaces",
    "ServingBackend": "lamina.interfaces",
    "OnlineStore": "lamina.interfaces.feature_store",
    "DataInput": "lamina.interfaces.data_source",
    "jsonable_params": "lamina.interfaces.data_source",
    "safe_url": "lamina.interfaces.data_source",
    "bind_params": "lamina.sqltext",
    "line_column": "lamina.sqltext",
    "dnf_filter": "lamina.sqltext",
    "filter_text": "lamina.sqltext",
    "sql_where": "lamina.sqltext",
    "FILTER_OPERATORS": "lamina.sqltext",
    "arrow_table": "lamina.interfaces.data_source",
    "DataSourceError": "lamina.errors",
    "table_digest": "lamina.datastore.hashing",
    "mark_fork_unsafe": "lamina.runtime.forks",
    "TableDigest": "lamina.datastore.hashing",
    "DataRead": "lamina.interfaces.data_source",
    "DataSource": "lamina.interfaces.data_source",
    "DataSourceSpec": "lamina.interfaces.data_source",
    "AliasChange": "lamina.interfaces.model_registry",
    "ModelRegistry": "lamina.interfaces.model_registry",
    "ModelVersion": "lamina.interfaces.model_registry",
    "OnlineStoreSpec": "lamina.interfaces.feature_store",
    "join_partition": "lamina.features.partitioned",
    # errors
    "ArtifactNotFoundError": "lamina.errors",
    "BackendUnreachableError": "lamina.errors",
    "BrokenPluginWarning": "lamina.errors",
    "ConfigWarning": "lamina.errors",
    "ConfigError": "lamina.errors",
    "CorruptArtifactError": "lamina.errors",
    "DatastoreError": "lamina.errors",
    "FeatureStoreError": "lamina.errors",
    "ImmutableRunError": "lamina.errors",
    "LaminaError": "lamina.errors",
    "MetadataError": "lamina.errors",
    "ModelNotFoundError": "lamina.errors",
    "ModelRegistryError": "lamina.errors",
    "OptionError": "lamina.errors",
    "PluginError": "lamina.errors",
    "RunFailedError": "lamina.errors",
    "RunNotFoundError": "lamina.errors",
    "SerializationError": "lamina.errors",
    "UntrustedArtifactError": "lamina.errors",
    "StepError": "lamina.errors",
    "TrackerWarning": "lamina.errors",
    # the running task (its context: stack and run)
    "current": "lamina.runtime.current",
    # the stack, the plugin manager, options and logging
    "Stack": "lamina.stack",
    "PluginManager": "lamina.kernel.pluginmanager",
    "LoadedPlugin": "lamina.kernel.pluginmanager",
    "BrokenPlugin": "lamina.kernel.pluginmanager",
    "HookFailure": "lamina.kernel.hookcalls",
    "build_options": "lamina.config.options",
    "option_docs": "lamina.config.options",
    "options_to_dict": "lamina.config.options",
    "plain_env_validator": "lamina.compute.env_options",
    "get_logger": "lamina.logs",
    # building blocks for tools and tests: the artifact store over any datastore, the
    # builtin file datastore, flows from files, run ids and references, deploying a flow
    "ArtifactStore": "lamina.datastore.artifacts",
    "builtin_serializers": "lamina.datastore.serializers",
    "FileDatastore": "lamina.builtin.file_datastore",
    "load_flow_file": "lamina.flow.loader",
    "new_run_id": "lamina.versioning.ids",
    "deploy_flow": "lamina.deploy:deploy",
    "resolve_run": "lamina.client.refs",
    "local_path": "lamina.config.paths",
    "file_url_to_path": "lamina.config.paths",
    "split_scheme": "lamina.config.paths",
    "is_windows_path": "lamina.config.paths",
    "is_absolute_path": "lamina.config.paths",
    "portable_name_problem": "lamina.config.paths",
    # composition: wrap a builtin (or any) component
    "DatastoreWrapper": "lamina.datastore.wrapper",
    # what every metadata store shares, so that stores agree
    "encode_field": "lamina.recordcodec",
    "alias_change_from_row": "lamina.recordcodec",
    "check_result_from_row": "lamina.recordcodec",
    "model_version_from_row": "lamina.recordcodec",
    "ALIAS_CHANGE_COLUMNS": "lamina.recordcodec",
    "MODEL_VERSION_COLUMNS": "lamina.recordcodec",
    "in_step_order": "lamina.recordcodec",
    "namespace_condition": "lamina.recordcodec",
    "NAMESPACE_OF_ROW": "lamina.recordcodec",
    "with_crashed": "lamina.recordcodec",
    # object keys and hashing (content addressing)
    "check_object_key": "lamina.datastore.hashing",
    "is_object_key": "lamina.datastore.hashing",
    "object_key": "lamina.datastore.hashing",
    "new_hash": "lamina.datastore.hashing",
    "stamp": "lamina.datastore.hashing",
    "reserve": "lamina.datastore.hashing",
    # remote tasks: what a compute backend launches and how it reads the outcome
    "task_command": "lamina.compute.remote_common",
    "contiguous_batches": "lamina.compute.remote_common",
    "command_line": "lamina.compute.remote_common",
    "failure_outcome": "lamina.compute.remote_common",
    "parse_index_ranges": "lamina.compute.remote_common",
    "read_attempt_outcome": "lamina.compute.remote_common",
    "settle": "lamina.compute.remote_common",
    "QueuedRemoteCompute": "lamina.compute.remote_common",
    "RemoteJob": "lamina.compute.remote_common",
    "run_remote_task": "lamina.runtime.remote",
    "task_stack": "lamina.runtime.remote",
    "build_spec": "lamina.runtime.remote",
    "TaskContext": "lamina.runtime.context",
    "datastore_spec": "lamina.config.recorded",
    "parse_datastore_spec": "lamina.config.recorded",
    "record_stack": "lamina.config.recorded",
    "read_manifest": "lamina.runtime.remote",
    "load_snapshot_flow": "lamina.runtime.remote",
    "execute_task": "lamina.runtime.task",
    "run_task_in_env": "lamina.runtime.envs",
    "write_outcome": "lamina.runtime.task",
    "record_failure": "lamina.runtime.task",
    # orchestrators: a deployment plan, and the scheduler that executes one in-process
    "DeploymentPlan": "lamina.deploy",
    "Scheduler": "lamina.runtime.scheduler",
    # orchestrators: schedules and triggers of a deployed flow
    "Triggers": "lamina.flow.triggers",
    "EventTrigger": "lamina.flow.triggers",
    "eventbridge_cron": "lamina.flow.triggers",
    # serving backends
    "Deployment": "lamina.serving",
    "Model": "lamina.serving",
    "PayloadError": "lamina.serving",
    "Schema": "lamina.serving",
    "ServingError": "lamina.serving",
    "load_artifact": "lamina.serving",
    "resolve_model": "lamina.serving",
    # trackers (MLflow, W&B...): a run flattened for them, a bounded retry that never
    # fails the run
    "MetricPoint": "lamina.tracking",
    "RunSummary": "lamina.tracking",
    "call_tracker": "lamina.tracking",
    "run_summary": "lamina.tracking",
}

__all__ = [
    "ALIAS_CHANGE_COLUMNS",
    "FILTER_OPERATORS",
    "LAYERS",
    "MODEL_VERSION_COLUMNS",
    "NAMESPACE_OF_ROW",
    "AliasChange",
    "ArtifactNotFoundError",
    "ArtifactRef",
    "ArtifactStore",
    "BackendUnreachableError",
    "Branch",
    "BrokenPlugin",
    "BrokenPluginWarning",
    "BufferDatastore",
    "BufferSerializer",
    "CollectableDatastore",
    "CollectableMetadataStore",
    "ComponentSpec",
    "Compute",
    "ConfigError",
    "ConfigWarning",
    "CorruptArtifactError",
    "DataInput",
    "DataRead",
    "DataSource",
    "DataSourceError",
    "DataSourceSpec",
    "Datastore",
    "DatastoreError",
    "DatastoreWrapper",
    "Deployment",
    "DeploymentPlan",
    "EventTrigger",
    "FeatureStore",
    "FeatureStoreError",
    "FileDatastore",
    "HookFailure",
    "ImmutableRunError",
    "LaminaError",
    "Layer",
    "LoadedPlugin",
    "MetadataError",
    "MetadataStore",
    "MetricPoint",
    "Model",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelRegistryError",
    "ModelVersion",
    "Monitor",
    "OnlineStore",
    "OnlineStoreSpec",
    "OptionError",
    "Orchestrator",
    "PayloadError",
    "PluginError",
    "PluginManager",
    "PodCompute",
    "QueuedRemoteCompute",
    "RemoteJob",
    "RendersTasks",
    "Resources",
    "RunFailedError",
    "RunNotFoundError",
    "RunRecord",
    "RunSummary",
    "Scheduler",
    "Schema",
    "SerializationError",
    "Serializer",
    "ServingBackend",
    "ServingError",
    "Stack",
    "StepError",
    "TableDigest",
    "TaskContext",
    "TaskOutcome",
    "TaskRecord",
    "TaskSpec",
    "TrackerWarning",
    "Triggers",
    "UntrustedArtifactError",
    "alias_change_from_row",
    "arrow_table",
    "bind_params",
    "build_options",
    "build_spec",
    "builtin_serializers",
    "call_tracker",
    "check_object_key",
    "check_result_from_row",
    "command_line",
    "contiguous_batches",
    "current",
    "datastore_spec",
    "deploy_flow",
    "dnf_filter",
    "encode_field",
    "eventbridge_cron",
    "execute_task",
    "failure_outcome",
    "file_url_to_path",
    "filter_text",
    "get_logger",
    "hookimpl",
    "hookspec",
    "in_step_order",
    "is_absolute_path",
    "is_object_key",
    "is_windows_path",
    "join_partition",
    "jsonable_params",
    "line_column",
    "load_artifact",
    "load_flow_file",
    "load_snapshot_flow",
    "local_path",
    "mark_fork_unsafe",
    "model_version_from_row",
    "namespace_condition",
    "new_hash",
    "new_run_id",
    "object_key",
    "option_docs",
    "options_to_dict",
    "parse_datastore_spec",
    "parse_index_ranges",
    "plain_env_validator",
    "portable_name_problem",
    "read_attempt_outcome",
    "read_manifest",
    "record_failure",
    "record_stack",
    "reserve",
    "resolve_model",
    "resolve_run",
    "run_remote_task",
    "run_summary",
    "run_task_in_env",
    "safe_url",
    "settle",
    "split_scheme",
    "sql_where",
    "stamp",
    "table_digest",
    "task_command",
    "task_stack",
    "with_crashed",
    "write_outcome",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
