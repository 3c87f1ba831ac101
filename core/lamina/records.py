"""Immutable values that cross layer boundaries: artifact references, task specs, outcomes,
run and task records.

They are frozen attrs classes so that a plugin can neither mutate what the core gave it nor
hand back something half-filled; ``to_dict``/``from_dict`` give the JSON shape stored in
the datastore and the metadata store.
"""

from __future__ import annotations

from typing import Any

import attrs

_GETTERS: dict[type, Any] = {}


def _by_position(self: Any) -> tuple[Any, ...]:
    """``__reduce__`` of the records that travel between processes with every task (a
    spec out, an outcome back): the class and its field values in order, which pickles
    and unpickles in a fraction of the time of attrs' per-field state dict."""
    cls = type(self)
    getter = _GETTERS.get(cls)
    if getter is None:
        import operator

        names = [a.name for a in attrs.fields(cls)]
        getter = _GETTERS[cls] = operator.attrgetter(*names) if len(names) > 1 else (
            lambda obj, name=names[0]: (getattr(obj, name),))
    return (cls, getter(self))


RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "crashed")
TASK_STATUSES = ("succeeded", "failed", "reused", "running", "pending")


@attrs.frozen
class ArtifactRef:
    """A pointer to a stored value: its content hash and how to read it back.

    ``key`` is the hex BLAKE3 of the stored bytes (the object's name in the datastore);
    ``serializer`` names the serializer that wrote it; ``type`` is the Python type's
    qualified name; ``info`` carries cheap facts worth showing without loading (shape,
    dtype, rows, columns).
    """

    __reduce__ = _by_position

    key: str
    serializer: str
    size: int
    type: str = ""
    info: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "serializer": self.serializer,
            "size": self.size,
            "type": self.type,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(
            key=data["key"],
            serializer=data["serializer"],
            size=int(data["size"]),
            type=data.get("type", ""),
            info=dict(data.get("info") or {}),
        )


@attrs.frozen
class Resources:
    """What one task asks of the machine it runs on. Units: cores, MiB, GPUs."""

    __reduce__ = _by_position

    cpu: float | None = None
    memory: int | None = None
    gpu: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class TaskSpec:
    """Everything a compute backend needs to run one task, by reference.

    ``inputs`` maps a step parameter to the reference(s) of the upstream result (a list of
    references for a foreach upstream, a list of lists for a nested foreach's groups);
    ``elements`` maps each foreach name to the reference of this task's element. ``params`` are the flow parameters the step takes, as values
    (they are small and recorded with the run). ``datastore_spec`` is the stack's
    datastore component and options as the run recorded them (compact JSON, secrets only
    as ``${VAR}`` references): a remote task reads the run's manifest through the stack's
    own datastore with it (``python -m lamina task --datastore-spec``).
    """

    __reduce__ = _by_position

    run_id: str
    flow: str
    step: str
    index: int
    attempt: int
    datastore_url: str
    inputs: dict[str, Any] = attrs.field(factory=dict)
    elements: dict[str, ArtifactRef] = attrs.field(factory=dict)
    params: dict[str, Any] = attrs.field(factory=dict)
    timeout: float | None = None
    resources: Resources = attrs.field(factory=Resources)
    cache_key: str = ""
    datastore_spec: str = ""
    #: the bytes of foreach elements not stored yet, by foreach name: the task stores
    #: them before it runs (a compute that receives specs as they are, such as the local
    #: pool, lets its workers write a wide foreach's elements instead of the scheduler)
    staged: dict[str, bytes] = attrs.field(factory=dict)

    @property
    def task_id(self) -> str:
        """``RUN/STEP/INDEX``: the task's address everywhere in lamina."""
        return f"{self.run_id}/{self.step}/{self.index}"

    def input_keys(self) -> dict[str, Any]:
        """Each input and foreach element by object key (a list for a foreach upstream):
        what a task record keeps of its inputs, for lineage."""
        keys: dict[str, Any] = {
            param: _flat(ref_keys(ref)) if isinstance(ref, list) else ref.key
            for param, ref in self.inputs.items()
        }
        keys.update((param, ref.key) for param, ref in self.elements.items())
        return keys


def ref_keys(value: Any) -> Any:
    """The object key of a reference, or the keys of a list (of lists) of references."""
    if isinstance(value, list):
        return [ref_keys(v) for v in value]
    return value.key


def _flat(keys: list[Any]) -> list[str]:
    """A nested foreach's groups of keys as one list (lineage needs no grouping)."""
    out: list[str] = []
    for key in keys:
        out.extend(_flat(key) if isinstance(key, list) else [key])
    return out


@attrs.frozen
class TaskOutcome:
    """What became of one task attempt. Written to the datastore by whoever ran it."""

    __reduce__ = _by_position

    run_id: str
    step: str
    index: int
    attempt: int
    status: str  # "succeeded" | "failed"
    started_at: float
    finished_at: float
    output: ArtifactRef | None = None
    error: str = ""
    error_type: str = ""
    location: str = ""  # file:line of the innermost frame in user code
    traceback: str = ""
    exit_reason: str = ""  # "exception", "timeout", "killed", "oom", ...
    stdout_key: str = ""
    stderr_key: str = ""
    cache_key: str = ""
    metrics: dict[str, float] = attrs.field(factory=dict)
    host: str = ""
    pid: int = 0
    #: What the step read from data sources (``lamina.data``), each the JSON shape of a
    #: :class:`lamina.interfaces.data_source.DataInput`, in the order it read them.
    data_inputs: list[dict[str, Any]] = attrs.field(factory=list)

    @property
    def task_id(self) -> str:
        return f"{self.run_id}/{self.step}/{self.index}"

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=False)
        data["output"] = self.output.to_dict() if self.output else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskOutcome:
        data = dict(data)
        out = data.get("output")
        data["output"] = ArtifactRef.from_dict(out) if out else None
        names = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@attrs.frozen
class TaskRecord:
    """A task as the metadata store keeps it: the outcome plus how the run used it."""

    run_id: str
    step: str
    index: int
    status: str
    attempt: int = 1
    started_at: float | None = None
    finished_at: float | None = None
    output: ArtifactRef | None = None
    inputs: dict[str, Any] = attrs.field(factory=dict)  # param -> key or [keys]
    element: str = ""  # short repr of the foreach element(s), for display
    error: str = ""
    error_type: str = ""
    location: str = ""
    traceback: str = ""
    exit_reason: str = ""
    stdout_key: str = ""
    stderr_key: str = ""
    cache_key: str = ""
    reused_from: str = ""  # task id whose result this task reused (resume / cache)
    metrics: dict[str, float] = attrs.field(factory=dict)
    #: What the task read from data sources: JSON shapes of
    #: :class:`lamina.interfaces.data_source.DataInput` (a reused task keeps its origin's).
    data_inputs: list[dict[str, Any]] = attrs.field(factory=list)

    @property
    def task_id(self) -> str:
        return f"{self.run_id}/{self.step}/{self.index}"

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@attrs.frozen
class RunRecord:
    """A run as the metadata store keeps it. Immutable once ``finished_at`` is set,
    except for ``tags``."""

    run_id: str
    flow: str
    status: str
    started_at: float
    finished_at: float | None = None
    params: dict[str, Any] = attrs.field(factory=dict)
    tags: tuple[str, ...] = ()
    user: str = ""
    host: str = ""
    pid: int = 0
    # Teams (lamina.namespaces): "user:alice" or "project:churn/branch:prod"; "" in
    # records written before namespaces existed.
    namespace: str = ""
    project: str = ""
    branch: str = ""
    production: bool = False
    stack: str = ""
    datastore_url: str = ""
    flow_file: str = ""
    code_hash: str = ""
    code_files: dict[str, str] = attrs.field(factory=dict)  # relative path -> object key
    step_code: dict[str, str] = attrs.field(factory=dict)  # step -> code hash
    python_version: str = ""
    packages_key: str = ""  # object key of the installed-packages list
    git_commit: str = ""
    git_dirty: bool | None = None
    resumed_from: str = ""
    orchestrator: str = ""
    orchestrator_run_id: str = ""
    error: str = ""
    steps: tuple[str, ...] = ()  # in topological order

    @property
    def id(self) -> str:
        """The run's id, under the name every public object uses (``Run.id``, the CLI's
        JSON ``id``); ``run_id`` stays the stored field."""
        return self.run_id

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at
