"""Files as flow inputs: :class:`File`.

A flow parameter annotated ``File`` (or ``Annotated[File, ...]``) takes a path on the
machine that launches the run::

    @flow.step
    def raw(data: File = "data/churn.csv") -> int:
        return len(data.read_bytes())

    # lamina run flow.py --set data=~/Downloads/churn-2026-11.csv

At launch the file's bytes are stored in the run's datastore, content-addressed (the same
bytes cost nothing the second time), and the run records the parameter as
``{"lamina.File": "<the path as given>", "hash": "<content key>", "size": <bytes>}``.
The step receives a :class:`File` that reads those stored bytes, so a remote task and a
resumed run read exactly what the launch read, even after the file on the laptop changed.
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import LaminaError, ParameterError
from lamina.runtime import current as current_module

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore

#: The key that marks a recorded File parameter (its value: the path as given).
FILE_MARK = "lamina.File"


@attrs.frozen
class File:
    """A file given to a flow as a parameter, read from the bytes stored at launch.

    :param source: the path on the launching machine, as given (``--set data=PATH``).
    :param hash: the content key of the stored bytes ("" for a File made by hand, whose
        bytes are read from ``source``: a step called in a test or a notebook).
    :param size: the number of bytes stored.
    """

    source: str
    hash: str = ""
    size: int | None = None
    _artifacts: Any = attrs.field(default=None, eq=False, repr=False, alias="artifacts")

    @property
    def name(self) -> str:
        """The file's name (``churn.csv``), without its folder."""
        return PurePath(self.source).name

    @property
    def path(self) -> Path:
        """A local file holding the stored bytes (copied from the datastore once per
        machine, user and content key, under the temporary folder), or ``source`` for a File made by hand. The copy keeps
        the file's name, so readers that look at the extension (``.csv.gz``) work."""
        if not self.hash:
            return Path(self.source)
        artifacts = self._artifacts if self._artifacts is not None else _task_artifacts()
        if artifacts is None:
            raise LaminaError(
                f"File {self.source!r} ({self.hash[:12]}) is stored in a run's datastore, "
                "and no store was given to read it from",
                hint="read it inside a step, or File.stored(record, stack.artifacts)",
            )
        return _materialize(artifacts, self.hash, self.name or "file")

    def read_bytes(self) -> bytes:
        """The file's bytes."""
        return self.path.read_bytes()

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The file's text, decoded with ``encoding``."""
        return self.path.read_text(encoding=encoding, errors=errors)

    def to_param(self) -> dict[str, Any]:
        """The recorded form of this parameter (what the run's params hold)."""
        return {FILE_MARK: self.source, "hash": self.hash, "size": self.size}

    @classmethod
    def stored(cls, param: Mapping[str, Any], artifacts: ArtifactStore | None = None) -> File:
        """The File a recorded parameter (:meth:`to_param`) names; reads from
        ``artifacts`` (default: the running task's store)."""
        return cls(str(param[FILE_MARK]), str(param.get("hash", "")), param.get("size"),
                   artifacts=artifacts)


def is_file_param(value: Any) -> bool:
    """Whether ``value`` is the recorded form of a File parameter."""
    return isinstance(value, Mapping) and FILE_MARK in value


def is_file_annotation(annotation: Any) -> bool:
    """Whether a parameter annotated ``annotation`` takes a File (``File``,
    ``Annotated[File, ...]``, ``File | None``, or the postponed text of one)."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        return text in ("File", "lamina.File") or text.startswith(("Annotated[File,", "File|"))
    if annotation is File:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return is_file_annotation(typing.get_args(annotation)[0])
    if origin is not None:  # Optional[File], File | None
        return any(a is File for a in typing.get_args(annotation))
    return False


def store_file_params(
    flow_params: Mapping[str, Any], values: Mapping[str, Any], artifacts: ArtifactStore
) -> dict[str, Any]:
    """``values`` with each File parameter's file stored in ``artifacts`` and replaced
    by its recorded form. A value already recorded (a resumed run's) is kept as it is:
    the resumed run reads the bytes its origin stored.

    :param flow_params: the flow's parameters by name (their ``annotation`` says which
        take a File).
    :raises lamina.errors.ParameterError: a file is missing or unreadable, or a recorded
        File's bytes are not in the datastore.
    """
    out = dict(values)
    for name, fp in flow_params.items():
        value = values.get(name)
        if value is None or not is_file_annotation(getattr(fp, "annotation", None)):
            continue
        if is_file_param(value):
            if not artifacts.has(str(value.get("hash", ""))):
                raise ParameterError(
                    f"File parameter '{name}': the bytes of {value[FILE_MARK]!r} "
                    f"({str(value.get('hash', ''))[:12]}) are not in the datastore",
                    hint=f"pass the file again: --set {name}=PATH",
                )
            continue
        if isinstance(value, File) and value.hash:
            out[name] = value.to_param()
            continue
        source = value.source if isinstance(value, File) else value
        if not isinstance(source, (str, os.PathLike)):
            raise ParameterError(
                f"File parameter '{name}' got {type(source).__name__} {source!r}, not a path",
                hint=f"--set {name}=PATH/TO/FILE",
            )
        given = os.fspath(source)
        path = Path(given).expanduser()
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ParameterError(
                f"File parameter '{name}': {given} {what}",
                hint=f"--set {name}=PATH/TO/FILE (relative paths start at {os.getcwd()})",
            )
        try:
            key = artifacts.put_file(path)
        except OSError as err:
            raise ParameterError(
                f"File parameter '{name}': cannot read {given}: {err.strerror or err}",
                hint="check the file's permissions",
            ) from None
        out[name] = File(given, key, path.stat().st_size).to_param()
    return out


def with_stored_files(graph: Any, artifacts: ArtifactStore) -> Any:
    """A validated flow graph whose File parameters are stored (:func:`store_file_params`):
    what a launch records and hands to the tasks."""
    params = store_file_params(graph.flow_params, graph.params, artifacts)
    return graph if params == dict(graph.params) else attrs.evolve(graph, params=params)


def file_param_hashes(values: Mapping[str, Any]) -> list[str]:
    """The content keys of the File parameters in recorded ``values``."""
    return [str(v["hash"]) for v in values.values() if is_file_param(v) and v.get("hash")]


def _task_artifacts() -> Any:
    state = current_module.task_state()
    context = getattr(state, "context", None) if state is not None else None
    return getattr(context, "artifacts", None)


def _materialize(artifacts: ArtifactStore, key: str, name: str) -> Path:
    """A local copy of object ``key`` named ``name``, made once (atomically) per key."""
    folder = f"lamina-files-{getpass.getuser()}"  # per user: a shared /tmp stays usable
    target = Path(tempfile.gettempdir()) / folder / key / name
    if target.is_file():
        return target
    source = artifacts.verify(key, name=name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    os.close(fd)
    try:
        shutil.copyfile(source, staged)
        os.replace(staged, target)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
    return target
