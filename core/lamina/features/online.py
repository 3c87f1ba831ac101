"""Online features for a request, by key: what a model server calls per prediction.

The serving layer (or any request handler) calls::

    from lamina.features import online_features

    row = online_features("churn_model", [{"driver_id": 1001}], stack=stack)
    # {"driver_id": [1001], "conv_rate": [0.42], ...}

The feature store of the stack is built once and kept, so a call is one indexed lookup in
the online store, well under a millisecond for 100 keys with the builtin SQLite store.
Called without ``stack=`` (or ``store=``), the project's stack and its feature store are
built on the first call and kept for the process: reused while the configuration stays the
same (working directory, environment, config file and the secrets file beside it), built
again when any of it changes, for instance when ``lamina.toml`` is edited.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

#: How many configurations (working directory x environment x config file) keep a store.
CACHE_SIZE = 8

_lock = threading.Lock()
# (pid, cwd, environment) -> (the config file used, the state of the files, the store)
_stores: OrderedDict[Hashable, tuple[str | None, Hashable, Any]] = OrderedDict()


def _stat(path: str) -> Hashable:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _environment() -> int:
    # os.environ's own bytes mapping when CPython has one: hashing it costs a few
    # microseconds, decoding every variable through os.environ ten times that
    data = getattr(os.environ, "_data", None)
    items = data.items() if isinstance(data, dict) else os.environ.items()
    return hash(frozenset(items))


def _files(cwd: str, env: Mapping[str, str], config: str | None) -> Hashable:
    """The state of every file that decides the configuration: the config files that
    could apply, walking up from ``cwd`` as the config search does, up to the one that
    applied last time (``config``), and the secrets file beside it. A file created,
    edited or removed on that path changes it; cheaper than the search itself."""
    from lamina.config import CONFIG_ENV, CONFIG_NAME, SECRETS_NAME

    explicit = env.get(CONFIG_ENV)
    if explicit:
        path = os.path.join(cwd, os.path.expanduser(explicit))
        return (_stat(path), _stat(os.path.join(os.path.dirname(path), SECRETS_NAME)))
    states: list[Hashable] = []
    folder = cwd
    while True:
        for name in (CONFIG_NAME, "pyproject.toml"):
            path = os.path.join(folder, name)
            state = _stat(path)
            states.append(state)
            if state is not None and (name == CONFIG_NAME or path == config):
                states.append(_stat(os.path.join(folder, SECRETS_NAME)))
                return tuple(states)
        parent = os.path.dirname(folder)
        if parent == folder:
            return tuple(states)
        folder = parent


def default_store() -> Any:
    """The feature store of the project's stack, kept per process and configuration.

    What :func:`online_features` uses when given neither ``stack=`` nor ``store=``: the
    stack is loaded and its store built once, then reused until the working directory, the
    environment, the config file or the secrets file beside it changes (a config file
    created, edited or removed anywhere on the way up from the working directory counts).
    """
    cwd = os.getcwd()
    # the pid: a forked child must not share its parent's SQLite connections
    key = (os.getpid(), cwd, _environment())
    with _lock:
        hit = _stores.get(key)
    if hit is not None:
        config, files, store = hit
        if _files(cwd, os.environ, config) == files:
            with _lock:
                if key in _stores:
                    _stores.move_to_end(key)
            return store
    from lamina.features.training import get_store
    from lamina.stack import load_stack

    stack = load_stack()  # raises for a bad config: nothing is kept then
    store = get_store(stack)
    config = None if stack.config_file is None else str(stack.config_file)
    files = _files(cwd, os.environ, config)
    with _lock:
        # A replaced store is not closed: another thread may still be reading from it;
        # its connections close when it is collected.
        _stores[key] = (config, files, store)
        _stores.move_to_end(key)
        while len(_stores) > CACHE_SIZE:
            _stores.popitem(last=False)
    return store


def clear_store_cache() -> None:
    """Forget the stores :func:`default_store` kept; the next call builds them again."""
    with _lock:
        _stores.clear()


def online_features(
    features: Any,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    stack: Any = None,
    store: Any = None,
    now: Any = None,
) -> dict[str, list[Any]]:
    """The newest materialized feature values for each entity row, None where missing
    or older than the view's TTL.

    :param features: ``["view:feature", ...]``, a FeatureService or a service's name (what
        the model was trained with, so serving asks for exactly the same features).
    :param entity_rows: one mapping of join keys per prediction row.
    :param stack: the stack whose feature store to use (default: the project's, built on
        the first call and kept until the configuration changes: see :func:`default_store`).
    :param store: a feature store to use directly instead.
    :return: column -> values, one per entity row (join keys first).
    """
    if store is None:
        if stack is None:
            store = default_store()
        else:
            from lamina.features.training import get_store

            store = get_store(stack)
    return store.get_online_features(features, entity_rows, now=now)  # type: ignore[no-any-return]
