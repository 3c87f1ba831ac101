"""The code of a run: which project files it imported, their hash, per-step code hashes.

Two kinds of fingerprint:

- the **code snapshot** of a run: the flow file and every project module it imported
  (:func:`local_modules`), stored by content (:func:`snapshot_files`) and summarised by
  :func:`code_hash`, so ``lamina diff`` can show exactly what changed between two runs;
- the **step code hash** (:func:`function_code_hash`): the source of one step function
  plus the project functions, classes and constants it uses, followed transitively. It is
  what step caching and ``lamina resume`` compare: changing a helper a step calls
  invalidates that step, editing an unrelated function or a comment elsewhere in the file
  does not.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import inspect
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_EXCLUDED_PARTS = frozenset({"site-packages", "dist-packages", ".lamina", "__pycache__"})
_SIMPLE_CONSTANTS = (int, float, complex, str, bytes, bool, type(None))


# --- the code snapshot of a run -------------------------------------------------------


def _in_virtualenv(path: Path, root: Path) -> bool:
    """Whether a folder between ``root`` and ``path`` is a virtual environment."""
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            return False
        if (parent / "pyvenv.cfg").is_file():
            return True
    return False


@functools.lru_cache(maxsize=8192)
def _resolved(filename: str) -> str:
    """``filename`` with its symlinks resolved; a module's file does not move while the
    process runs, and resolving hundreds of them per run cost a tenth of a second."""
    return str(Path(filename).resolve())


def local_modules(entry_file: str, root: str) -> list[str]:
    """The files of the run's code snapshot: the flow file plus every imported module whose
    source lives under ``root`` (the project), outside site-packages, virtual environments
    and ``.lamina``.

    Call it after the flow file has been imported, so ``sys.modules`` holds what it pulled
    in. Returns sorted absolute paths; compiled-only and extension modules are skipped (a
    snapshot is source).
    """
    root_path = Path(root).resolve()
    inside = os.path.join(str(root_path), "")
    files = {str(Path(entry_file).resolve())}
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top == "lamina" or top.startswith("lamina_"):
            continue  # lamina and its plugins are versioned as installed packages
        filename = getattr(module, "__file__", None)
        if not filename or not filename.endswith(".py"):
            continue
        resolved = _resolved(filename)
        if not resolved.startswith(inside):
            continue
        path = Path(resolved)
        relative_parts = path.relative_to(root_path).parts
        if _EXCLUDED_PARTS.intersection(relative_parts) or _in_virtualenv(path, root_path):
            continue
        if path.is_file():
            files.add(str(path))
    return sorted(files)


def relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root`` as a posix path: the name a file has in a snapshot."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()


def snapshot_files(files: Iterable[str], root: str) -> dict[str, bytes]:
    """Read the snapshot's files: relative posix path -> source bytes, sorted by path."""
    snapshot = {relative_name(f, root): Path(f).read_bytes() for f in files}
    return dict(sorted(snapshot.items()))


def code_hash(files: dict[str, str]) -> str:
    """One SHA-256 over a snapshot given as relative path -> object key (content hash).

    Independent of the order of ``files``; renaming a file changes it, as does any edit.
    """
    digest = hashlib.sha256()
    for name, key in sorted(files.items()):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(key.encode())
        digest.update(b"\n")
    return digest.hexdigest()


# --- the code hash of one step --------------------------------------------------------


@functools.cache
def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.join(os.path.realpath(p), "") for p in prefixes if p)


def _is_project_object(obj: Any) -> bool:
    """Whether ``obj`` (a function or class) is user code rather than a library's."""
    module = getattr(obj, "__module__", None) or ""
    if module == "builtins" or module == "lamina" or module.startswith("lamina."):
        return False
    try:
        filename = inspect.getfile(obj)
    except (TypeError, OSError):  # builtins, C extensions, classes without a file
        return False
    if filename.startswith("<"):  # exec'd code, a notebook cell; "<frozen ...>" is stdlib
        return not filename.startswith("<frozen")
    path = os.path.realpath(filename)
    parts = set(Path(path).parts)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not path.startswith(_library_prefixes())


def _code_fingerprint(code: types.CodeType) -> str:
    """Bytecode, constants and names of a code object (and its nested ones), with no
    memory addresses, for functions whose source is unavailable (exec, some notebooks)."""
    parts = [code.co_code.hex(), repr(code.co_names), repr(code.co_varnames)]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            parts.append(_code_fingerprint(const))
        else:
            parts.append(repr(const))
    return "|".join(parts)


def _own_text(obj: Any) -> str:
    """The source of a function or class, dedented; its bytecode if there is no source."""
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        pass
    code = getattr(obj, "__code__", None)
    if code is not None:
        return "bytecode:" + _code_fingerprint(code)
    if isinstance(obj, type):  # a class without source: its functions' bytecode
        members = sorted(vars(obj).items())
        return "class:" + "|".join(
            f"{name}={_code_fingerprint(v.__code__)}"
            for name, v in members
            if isinstance(v, types.FunctionType)
        )
    return repr(obj)


def _all_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _all_names(const)
    return names


def _key(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}:{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"


def _functions_of(obj: Any) -> list[types.FunctionType]:
    """The Python functions whose globals a function or class body uses."""
    if isinstance(obj, types.FunctionType):
        return [obj]
    found = []
    for value in vars(obj).values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        if isinstance(value, types.FunctionType):
            found.append(value)
    return found


def _references(fn: types.FunctionType) -> dict[str, Any]:
    """What a function uses by global name (or closure): name -> object."""
    names = _all_names(fn.__code__)
    glb = fn.__globals__
    refs: dict[str, Any] = {}
    for name in names:
        if name not in glb:
            continue
        value = glb[name]
        refs[name] = value
        if isinstance(value, types.ModuleType):  # `helpers.clean(x)`: follow attributes
            for attr in names:
                member = getattr(value, attr, None)
                if isinstance(member, (types.FunctionType, type)):
                    refs[f"{name}.{attr}"] = member
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            refs[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return refs


def function_code_hash(fn: Any) -> str:
    """SHA-256 of a step function's code and of the project code it depends on.

    Covers the function's own source (dedented; bytecode and constants when there is no
    source, as for ``exec``'d code), plus, transitively, the source of every function and
    class it references by global name (also as ``module.name``) or through a closure that
    is defined in the project rather than in the standard library, site-packages or
    lamina itself, and the value of simple constants (numbers, strings) it reads. The
    result is the same in every process and independent of memory addresses.
    """
    fn = inspect.unwrap(fn)
    texts: dict[str, str] = {}
    pending: list[tuple[str, Any]] = [("", fn)]
    visited: set[int] = set()
    while pending:
        label, obj = pending.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        texts[_key(obj) if label else "<step>"] = _own_text(obj)
        for function in _functions_of(obj):
            for name, value in _references(function).items():
                if isinstance(value, types.FunctionType | type):
                    value = inspect.unwrap(value) if callable(value) else value
                    if id(value) not in visited and _is_project_object(value):
                        pending.append((name, value))
                elif isinstance(value, _SIMPLE_CONSTANTS):
                    texts[f"{function.__module__}:{name}=const"] = repr(value)
    digest = hashlib.sha256()
    for key, text in sorted(texts.items()):
        digest.update(key.encode())
        digest.update(b"\0")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


# --- diffs ------------------------------------------------------------------------------


def text_diff(a: str, b: str, name_a: str = "a", name_b: str = "b") -> str:
    """A unified diff of two texts (empty when equal), as ``lamina diff`` prints for code."""
    lines_a = a.splitlines(keepends=True)
    lines_b = b.splitlines(keepends=True)
    if lines_a and not lines_a[-1].endswith("\n"):
        lines_a[-1] += "\n\\ No newline at end of file\n"
    if lines_b and not lines_b[-1].endswith("\n"):
        lines_b[-1] += "\n\\ No newline at end of file\n"
    return "".join(difflib.unified_diff(lines_a, lines_b, fromfile=name_a, tofile=name_b))
