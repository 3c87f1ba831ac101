"""Calling hooks through pluggy while keeping one plugin's failure from hiding the others.

Every hook is called through pluggy, so ``tryfirst``/``trylast``, ``wrapper=True``
implementations and tracing behave as pluggy documents. What this module adds:

* :func:`call_isolated`: one ordinary pluggy call; when an implementation raises, the
  plugin is named (from the traceback, else by calling each plugin alone) and the hook is
  called again without it: all of them again for a hook without side effects
  (``rerun="all"``), or only those pluggy had not reached yet (``rerun="rest"``), so that a
  working alert channel never fires twice.
* :func:`call_per_plugin`: the hook called plugin by plugin with pluggy's subset callers,
  in pluggy's call order, when each result must be credited to the plugin that returned it
  (the components a distribution offers).
"""

from __future__ import annotations

import inspect
import traceback as tb
from collections.abc import Callable, Sequence
from types import CodeType, FrameType, TracebackType
from typing import Any, Literal

import attrs
import pluggy


@attrs.frozen
class HookFailure:
    """One implementation of a hook that raised: the plugin's name, the exception and its
    formatted traceback."""

    plugin: str
    hook: str
    error: BaseException = attrs.field(eq=False)
    traceback: str = ""

    @property
    def text(self) -> str:
        return f"{self.hook}() failed: {type(self.error).__name__}: {self.error}"


def _code_of(function: Callable[..., Any]) -> CodeType | None:
    function = getattr(function, "__func__", function)
    try:
        function = inspect.unwrap(function)
    except ValueError:  # a wrapper cycle
        return None
    return getattr(function, "__code__", None)


def _frames(traceback: TracebackType | None) -> list[FrameType]:
    frames = []
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    return frames


@attrs.frozen
class Implementer:
    """A registered plugin implementing a hook, as pluggy's public calls describe it:
    its name, the plugin object, the hook function and whether it wraps the others."""

    plugin_name: str
    plugin: object = attrs.field(eq=False, repr=False)
    function: Any = attrs.field(eq=False, repr=False)
    wrapper: bool = False
    rank: tuple[int, int] = (1, 0)


def implementers(
    pm: pluggy.PluginManager, name: str, *, without: Sequence[object] = ()
) -> list[Implementer]:
    """The plugins implementing hook ``name`` (but ``without``), in the order pluggy calls
    them: ``tryfirst`` first, then the others, then ``trylast``, the most recently
    registered first within each; wrappers last. Read from pluggy's public registry
    (``get_hookcallers``, ``parse_hookimpl_opts``); nothing is called."""
    caller = getattr(pm.hook, name)
    found = []
    for position, (plugin_name, plugin) in enumerate(pm.list_name_plugin()):
        if plugin is None or any(plugin is w for w in without):
            continue
        if not any(c is caller for c in pm.get_hookcallers(plugin) or ()):
            continue
        opts: dict[str, Any] = dict(pm.parse_hookimpl_opts(plugin, name) or {})
        wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
        order = 0 if opts.get("tryfirst") else 2 if opts.get("trylast") else 1
        found.append(Implementer(plugin_name, plugin, getattr(plugin, name, None), wrapper,
                                 (order, -position)))
    return sorted(found, key=lambda i: (i.wrapper, i.rank))


def _runs_in(frame: FrameType, impl: Implementer) -> bool:
    """Whether ``frame`` is a call of ``impl``'s function (for a method: on its instance,
    since every instance of one plugin class shares the code)."""
    if impl.function is None or frame.f_code is not _code_of(impl.function):
        return False
    owner = getattr(impl.function, "__self__", None)
    if owner is None:
        return True
    first = frame.f_code.co_varnames[:1]
    return bool(first) and frame.f_locals.get(first[0]) is owner


def culprit_from_traceback(impls: list[Implementer], exc: BaseException) -> Implementer | None:
    """The implementation among ``impls`` that raised ``exc``: the innermost frame of its
    traceback that is a hook function (a wrapper's frame encloses the implementation it
    wraps, so the innermost one is the one that raised)."""
    found = [impl for frame in _frames(exc.__traceback__) for impl in impls
             if _runs_in(frame, impl)]
    return found[-1] if found else None


def _culprit(
    pm: pluggy.PluginManager, name: str, impls: list[Implementer], exc: BaseException,
    kwargs: Callable[[], dict[str, Any]],
) -> Implementer | None:
    """The implementation that raised ``exc``: from the traceback, else the first plugin
    that raises when called alone (a decorated function hides its code object)."""
    found = culprit_from_traceback(impls, exc)
    if found is not None:
        return found
    for impl in impls:
        others = [i.plugin for i in impls if i.plugin is not impl.plugin]
        try:
            pm.subset_hook_caller(name, remove_plugins=others)(**kwargs())
        except Exception:
            return impl
    return None


def call_isolated(
    pm: pluggy.PluginManager,
    name: str,
    kwargs: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    rerun: Literal["all", "rest"] = "all",
) -> tuple[list[Any], list[HookFailure]]:
    """Call hook ``name`` through pluggy; return its results and the failures of the
    implementations that raised (each named, the others' results kept).

    :param rerun: after a failure, call ``all`` other implementations again (hooks without
        side effects: validation, collection), or only the ``rest`` that pluggy had not
        called yet (notifications: an alert already sent is not sent again). With ``rest``
        the results of the implementations called before the failure are lost; use it for
        hooks whose results are not used.
    :param kwargs: the hook's arguments, or a function making them afresh for each call
        (a hook that fills a fresh argparse parser, say, which a failed call left
        half-filled).
    """
    fresh = kwargs if callable(kwargs) else (lambda: kwargs)  # type: ignore[return-value]
    caller: Any = getattr(pm.hook, name)
    failures: list[HookFailure] = []
    removed: list[object] = []
    while True:
        if removed:
            caller = pm.subset_hook_caller(name, remove_plugins=removed)
        try:
            return list(caller(**fresh())), failures
        except Exception as exc:
            impls = implementers(pm, name, without=removed)
            culprit = _culprit(pm, name, impls, exc, fresh)
            if culprit is None:
                raise
            failures.append(HookFailure(
                culprit.plugin_name, name, exc,
                "".join(tb.format_exception(type(exc), exc, exc.__traceback__)),
            ))
            if rerun == "rest":
                position = impls.index(culprit)
                removed.extend(i.plugin for i in impls[: position + 1]
                               if not i.wrapper or i is culprit)
            else:
                removed.append(culprit.plugin)


def call_per_plugin(
    pm: pluggy.PluginManager, name: str, kwargs: dict[str, Any] | None = None
) -> list[tuple[str, list[Any], HookFailure | None]]:
    """Call hook ``name`` once per plugin implementing it (pluggy's subset callers, in
    pluggy's call order): (plugin name, its results, its failure or None). For collection
    hooks whose results must be credited to the plugin that offered them."""
    kwargs = kwargs or {}
    impls = [i for i in implementers(pm, name) if not i.wrapper]
    out: list[tuple[str, list[Any], HookFailure | None]] = []
    for impl in impls:
        others = [i.plugin for i in impls if i.plugin is not impl.plugin]
        try:
            results = pm.subset_hook_caller(name, remove_plugins=others)(**kwargs)
        except Exception as exc:
            text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
            out.append((impl.plugin_name, [], HookFailure(impl.plugin_name, name, exc, text)))
            continue
        out.append((impl.plugin_name, list(results), None))
    return out
