"""Find the :class:`Flow` in a Python file, as ``lamina run FLOW.py`` does."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import FlowLoadError

if TYPE_CHECKING:
    from lamina.flow.flow import Flow


def split_flow_ref(ref: str) -> tuple[str, str | None]:
    """``path/flow.py:name`` -> (path, name); ``path/flow.py`` -> (path, None)."""
    if ":" in ref and not ref.endswith(".py") and ref.rsplit(":", 1)[0].endswith(".py"):
        path, name = ref.rsplit(":", 1)
        return path, name
    return ref, None


def load_flow_file(ref: str | Path) -> Flow:
    """Import ``ref`` (``file.py`` or ``file.py:variable``) and return its flow.

    The file's folder goes first on ``sys.path`` so it can import its sibling modules,
    exactly as ``python file.py`` would.
    """
    from lamina.flow.flow import Flow

    path_text, name = split_flow_ref(str(ref))
    path = Path(path_text).resolve()
    if not path.is_file():
        raise FlowLoadError(
            f"flow file {path_text!r} does not exist",
            hint="pass the path of a .py file that defines a Flow",
        )
    module_name = path.stem if path.stem.isidentifier() else "lamina_flow"
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) != str(path):
        module_name = f"lamina_flow_{abs(hash(str(path)))}"
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FlowLoadError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[module_name]
        tb = "".join(traceback.format_exception(err))
        raise FlowLoadError(
            f"importing flow file {path_text} raised {type(err).__name__}: {err}\n{tb}",
            hint="fix the error above; the file must import cleanly",
        ) from err
    flows = {k: v for k, v in vars(module).items() if isinstance(v, Flow)}
    if name is not None:
        if name not in flows:
            raise FlowLoadError(
                f"{path_text} has no flow named {name!r}; it defines: {', '.join(flows) or 'none'}",
            )
        return flows[name]
    unique = {id(v): v for v in flows.values()}
    if not unique:
        raise FlowLoadError(
            f"{path_text} defines no Flow", hint='create one: flow = Flow("my-flow")'
        )
    if len(unique) > 1:
        raise FlowLoadError(
            f"{path_text} defines several flows: {', '.join(flows)}",
            hint=f"choose one: {path_text}:{next(iter(flows))}",
        )
    return next(iter(unique.values()))
