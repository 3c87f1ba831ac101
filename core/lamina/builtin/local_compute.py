"""The ``local`` compute: a pool of long-lived worker processes on this machine.

Workers start once per run, so a task costs a message over a pipe, not a Python start-up:
specs go out by reference and outcomes come back by reference. A worker that overruns its
task's timeout, or dies (a segfault, the OOM killer), is replaced and its task reported
failed with the reason.

How a worker starts is the ``start_method`` option (:func:`resolve_start_method`):

* ``fork`` (the default on Linux): the worker is a copy of the runtime process and uses
  its flow, stack and plugins as they are in memory;
* ``spawn`` (the default on macOS and Windows) and ``forkserver``: the worker is a fresh
  interpreter. It receives a small picklable :class:`WorkerSetup`, rebuilds the stack
  from it, and imports the flow from its file (checked against the run's code snapshot),
  or, for a flow with no file (a notebook's), loads its steps from the snapshot of
  pickled step functions stored in the datastore when the run started.

A step with its own environment (``env=``, :mod:`lamina.runtime.envs`) gets workers of
its own: fresh interpreters of that environment's Python, started as a plain subprocess
(``python -c ...``) that receive the same :class:`WorkerSetup` over their pipe. The pool
keeps one set of workers per environment within the same ``workers`` limit; an idle
worker of another environment makes room when a step's environment has none.

Every worker holds the read end of a *lifeline* pipe whose only write end is the runtime
process's: when the runtime dies, even by ``kill -9``, the pipe reaches end-of-file and the
worker exits at once, on every platform (no Linux-only ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.builtin.plugin import START_METHOD_ENV, START_METHODS
from lamina.datastore.hashing import bytes_digest
from lamina.errors import ConfigError, LaminaError
from lamina.flow.loader import load_flow_file
from lamina.kernel.pluginmanager import PluginManager
from lamina.logs import get_logger
from lamina.records import TaskOutcome, TaskSpec
from lamina.runtime.forks import fork_unsafe_reason
from lamina.runtime.launch import flow_file_of
from lamina.runtime.task import execute_task, record_failure
from lamina.stack import Stack

if TYPE_CHECKING:
    from lamina.builtin.plugin import LocalComputeOptions
    from lamina.flow.flow import Flow
    from lamina.runtime.context import RunContext

#: Exit code of a worker that ended because the runtime process is gone.
PARENT_GONE_EXIT = 75
_SIGKILL: int | None = getattr(signal, "SIGKILL", None)  # there is none on Windows


def default_start_method(platform: str | None = None) -> str:
    """``fork`` on Linux, ``spawn`` elsewhere (macOS, Windows): forking a process that
    has loaded macOS system frameworks is unsafe, and Windows has no fork."""
    platform = sys.platform if platform is None else platform
    return "fork" if platform.startswith("linux") else "spawn"


def resolve_start_method(
    option: str | None, env: Mapping[str, str] | None = None, platform: str | None = None
) -> str:
    """The start method of the local compute's workers: the ``start_method`` option if
    set, else the ``LAMINA_START_METHOD`` environment variable, else the platform's
    default (:func:`default_start_method`).

    :raises lamina.errors.ConfigError: the method is unknown or this platform lacks it.
    """
    env = os.environ if env is None else env
    if option:
        method, where = option, "the local compute's start_method option"
    elif env.get(START_METHOD_ENV):
        method, where = env[START_METHOD_ENV].strip(), f"the environment variable {START_METHOD_ENV}"
    else:
        return default_start_method(platform)
    if method not in START_METHODS:
        raise ConfigError(
            f"start method {method!r} (from {where}) is not one of {', '.join(START_METHODS)}",
            hint="use start_method = \"spawn\" (every platform) or \"fork\" (Linux, macOS)",
        )
    if platform is None:
        platform, available = sys.platform, multiprocessing.get_all_start_methods()
    else:  # another platform's rules (Windows has no fork)
        available = ["spawn"] if platform == "win32" else list(START_METHODS)
    if method not in available:
        raise ConfigError(
            f"start method {method!r} (from {where}) is not available on {platform}; "
            f"available: {', '.join(available)}",
            hint=f"use start_method = \"{default_start_method(platform)}\" on this platform",
        )
    return method


# -- what a fresh (spawned) worker receives ---------------------------------------------------

#: Hooks only the runtime process calls: a plugin registered in this process (not through
#: an entry point) that implements nothing else is not sent to spawned workers; any other
#: is, as a fork would copy it.
_RUNTIME_ONLY_HOOKS = frozenset({
    "lamina_before_run", "lamina_after_run", "lamina_on_run_error", "lamina_cli_commands",
    "lamina_validate_stack",
})


@attrs.frozen
class StackRecipe:
    """How to build, in a fresh process, the stack a run uses: the resolved components
    and options, the config, the environment and the plugins registered by hand. Pickles
    (with cloudpickle, for plugins defined in a notebook or a test)."""

    name: str
    project_root: Path
    config: Any
    stack_config: Any
    env: dict[str, str]
    resolved: dict[str, Any]
    autoload: bool
    disabled: tuple[str, ...]
    extra_plugins: tuple[tuple[str, Any], ...]
    branch: Any = None  # lamina.namespaces.Branch: the run's, so the worker's stack has it
    data_recorded: dict[str, Any] = attrs.field(factory=dict)  # data sources of a recorded stack

    @classmethod
    def of(cls, stack: Stack) -> StackRecipe:
        """The recipe of ``stack`` (builds nothing)."""
        pm = stack.plugins
        extra = tuple(
            (p.name, p.plugin)
            for p in pm.loaded
            if not p.entry_point and not set(p.hooks) <= _RUNTIME_ONLY_HOOKS
        )
        return cls(
            name=stack.name,
            project_root=Path(stack.project_root),
            config=stack.config,
            stack_config=stack.stack_config,
            env=dict(stack._env),
            resolved=dict(stack._resolved),
            autoload=pm.autoload,
            disabled=tuple(pm.disabled),
            extra_plugins=extra,
            branch=stack.branch,
            data_recorded=dict(stack._data_recorded),
        )

    def build(self) -> Stack:
        """A stack equal to the one the recipe was taken of (its components not built)."""
        plugins = PluginManager(autoload=self.autoload, disabled=self.disabled)
        for name, plugin in self.extra_plugins:
            plugins.register(plugin, name=name)
        stack = Stack(
            name=self.name, plugins=plugins, project_root=self.project_root,
            config=self.config, env=self.env,
        )
        stack.stack_config = self.stack_config
        stack._resolved.update(self.resolved)
        stack._data_config = dict(self.stack_config.data) if self.stack_config else {}
        stack._data_recorded = dict(self.data_recorded)
        if self.branch is not None:
            stack.branch = self.branch
        stack._configure_plugins()
        return stack


@attrs.frozen
class WorkerSetup:
    """Everything a spawned worker needs to run a run's tasks; it pickles.

    :param flow_file: the file the flow is imported from ("" when its steps come from
        ``steps_key``); ``flow_variable`` names the flow in it.
    :param flow_file_key: the content key of that file in the run's code snapshot: a
        worker refuses to run a flow file that changed since the run started.
    :param steps_key: object key of the pickled ``{step name: function}`` of a flow that
        has no file (a notebook's), stored in the datastore when the run started.
    """

    run_id: str
    flow_name: str
    stack: StackRecipe
    flow_file: str = ""
    flow_variable: str = ""
    flow_file_key: str = ""
    steps_key: str = ""
    step_files: dict[str, str] = attrs.field(factory=dict)


def flow_module_variable(flow: Flow) -> tuple[str, str]:
    """(file, variable) when the flow is a module-level variable of the file that defines
    its steps (what a spawned worker imports), else ("", "")."""
    path = flow_file_of(flow)
    if not path:
        return "", ""
    for step in flow.steps.values():
        module = sys.modules.get(getattr(step.fn, "__module__", "") or "")
        module_file = getattr(module, "__file__", None)
        if module is None or not module_file or os.path.abspath(module_file) != path:
            continue
        for variable, value in list(vars(module).items()):
            if value is flow:
                return path, variable
    return "", ""


def make_worker_setup(ctx: RunContext) -> WorkerSetup:
    """What spawned workers of ``ctx``'s run receive. A flow with no module-level home in
    a file has its step functions pickled (cloudpickle: by value for a notebook's) and
    stored in the datastore.

    :raises lamina.errors.LaminaError: a step or a plugin cannot be pickled.
    """
    import cloudpickle

    recipe = StackRecipe.of(ctx.stack)
    for name, plugin in recipe.extra_plugins:
        try:
            cloudpickle.dumps(plugin)
        except Exception as err:
            raise LaminaError(
                f"plugin {name!r}, registered in this process, cannot be sent to the "
                f"{ctx.flow.name!r} run's workers, which start fresh (spawn): "
                f"{type(err).__name__}: {err}",
                hint="make the plugin object picklable, announce it through an entry point, "
                "or set the local compute's start_method = \"fork\" (Linux, macOS)",
            ) from err
    path, variable = flow_module_variable(ctx.flow)
    if path:
        record = ctx.record
        return WorkerSetup(
            run_id=ctx.run_id, flow_name=ctx.flow.name, stack=recipe, flow_file=path,
            flow_variable=variable, flow_file_key=record.code_files.get(record.flow_file, ""),
        )
    steps = {name: step.fn for name, step in ctx.flow.steps.items()}
    try:
        data = cloudpickle.dumps(steps)
    except Exception as err:
        bad = next((n for n, fn in steps.items() if not _pickles(fn)), "?")
        raise LaminaError(
            f"step {bad!r} of flow {ctx.flow.name!r} cannot be sent to workers that start "
            f"fresh (spawn): {type(err).__name__}: {err}",
            hint="define the flow in a .py file (workers then import it), keep unpicklable "
            "objects (locks, connections, open files) out of the step's closure and globals, "
            "or set the local compute's start_method = \"fork\" (Linux, macOS)",
        ) from err
    key = ctx.artifacts.put_bytes(data)
    files = {name: fn.__code__.co_filename for name, fn in steps.items() if hasattr(fn, "__code__")}
    return WorkerSetup(
        run_id=ctx.run_id, flow_name=ctx.flow.name, stack=recipe, steps_key=key, step_files=files
    )


_DYNAMIC_CODE = "<dynamic-code>"  # the file name cloudpickle gives code it pickles by value


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _with_filename(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _restore_filenames(fns: dict[str, Callable[..., Any]], files: Mapping[str, str]) -> None:
    """Give step functions pickled by value their file name back (cloudpickle drops it),
    with the functions of their module they use, so a failure names the user's file."""
    for name, fn in fns.items():
        filename = files.get(name, "")
        if not isinstance(fn, types.FunctionType) or not filename:
            continue
        related = [fn, *(
            v for v in fn.__globals__.values()
            if isinstance(v, types.FunctionType) and v.__module__ == fn.__module__
        )]
        for func in related:
            if func.__code__.co_filename == _DYNAMIC_CODE:
                func.__code__ = _with_filename(func.__code__, filename)


def _pickles(fn: Any) -> bool:
    import cloudpickle

    try:
        cloudpickle.dumps(fn)
        return True
    except Exception:
        return False


def load_worker_setup(setup: WorkerSetup) -> tuple[dict[str, Callable[..., Any]], Any, Any]:
    """In a fresh worker: (step functions by name, artifact store, stack) of the run."""
    stack = setup.stack.build()
    artifacts = stack.artifacts
    if setup.steps_key:
        fns: dict[str, Callable[..., Any]] = pickle.loads(
            artifacts.get_bytes(setup.steps_key, name=f"{setup.run_id} pickled steps")
        )
        _restore_filenames(fns, setup.step_files)
        return fns, artifacts, stack
    data = Path(setup.flow_file).read_bytes()
    if setup.flow_file_key and bytes_digest(data) != setup.flow_file_key:
        raise LaminaError(
            f"the flow file {setup.flow_file} changed after run {setup.run_id} started; "
            "its workers import it afresh and would run other code than the run recorded",
            hint="rerun the flow (lamina resume reuses what already succeeded)",
        )
    global _IMPORTING_FLOW
    _IMPORTING_FLOW = setup.flow_file
    try:
        flow = load_flow_file(f"{setup.flow_file}:{setup.flow_variable}")
    finally:
        _IMPORTING_FLOW = ""
    if flow.name != setup.flow_name:
        raise LaminaError(
            f"{setup.flow_file}:{setup.flow_variable} is flow {flow.name!r}, "
            f"not {setup.flow_name!r}",
            hint="rerun the flow",
        )
    return {name: step.fn for name, step in flow.steps.items()}, artifacts, stack


#: Set while a fresh worker imports its flow file: a run started then is the file calling
#: ``flow.run()`` at import time, which would start workers without end.
_IMPORTING_FLOW = ""


@contextlib.contextmanager
def _main_file_hidden() -> Iterator[None]:
    """Hide ``__main__.__file__`` while a worker is spawned when it names no file (Python
    run from standard input: ``<stdin>``): ``multiprocessing`` would make the new
    interpreter run that "file" and fail. The worker needs nothing from ``__main__``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not path or os.path.isfile(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


# -- the worker process -------------------------------------------------------------------------

#: This process's ends of its workers' pipes. A forked worker inherits copies of them and
#: closes them first thing, so that the runtime process holds the only write end of each
#: lifeline and its death (only) ends every worker.
_PARENT_ENDS: set[Connection] = set()
_PARENT_ENDS_LOCK = threading.Lock()


@attrs.frozen
class _SetupFailed:
    """Sent instead of an outcome by a worker that could not load its run (``setup``), or
    whose task's machinery failed outside the step (``backend``: the datastore cannot be
    reached while the task reads its inputs or writes its result)."""

    error: str
    reason: str = "setup"


def _watch_lifeline(lifeline: Connection) -> None:
    """Exit the worker as soon as the runtime process is gone (its end of ``lifeline``
    closed: nothing is ever sent on it)."""

    def watch() -> None:
        try:
            lifeline.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="lamina-lifeline", daemon=True).start()


def _worker_main(conn: Connection, lifeline: Connection, setup: Any) -> None:
    """A worker: ``setup`` is the run's :class:`RunContext` when forked (nothing pickled),
    the pickled :class:`WorkerSetup` otherwise."""
    for end in list(_PARENT_ENDS):  # forked: the runtime's ends of every pipe, ours too
        end.close()
    _PARENT_ENDS.clear()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runtime's to handle
    _watch_lifeline(lifeline)
    failed = ""
    fns: dict[str, Callable[..., Any]] = {}
    artifacts: Any = None
    stack: Any = None
    try:
        if isinstance(setup, bytes):
            fns, artifacts, stack = load_worker_setup(pickle.loads(setup))
        else:
            fns = {name: step.fn for name, step in setup.flow.steps.items()}
            artifacts, stack = setup.artifacts, setup.stack
    except Exception as err:
        failed = f"{type(err).__name__}: {err}"
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            break
        if batch is None:
            break
        # In order, one outcome per task as soon as it is done: the runtime knows that the
        # first task it has no outcome for is the one running.
        for spec in batch:
            fn = fns.get(spec.step)
            if failed or fn is None:
                conn.send(_SetupFailed(failed or f"the flow the worker loaded has no step "
                                       f"{spec.step!r}; it has: {', '.join(fns)}"))
                continue
            try:
                outcome = execute_task(spec, fn, stack, artifacts=artifacts)
            except Exception as err:  # not the step's: it reports its own errors
                # one line to the runtime, not a traceback dump on the terminal
                conn.send(_SetupFailed(f"{type(err).__name__}: {err}", reason="backend"))
                continue
            conn.send(outcome)
    conn.close()


def _env_worker_entry(conn_fd: int, lifeline_fd: int) -> None:
    """A worker in a step's environment (started by :class:`_Worker` with that
    environment's Python): receives the pickled :class:`WorkerSetup`, then works as any
    spawned worker."""
    conn = Connection(conn_fd)
    lifeline = Connection(lifeline_fd, writable=False)
    try:
        setup = conn.recv_bytes()
    except (EOFError, OSError):
        return
    _worker_main(conn, lifeline, setup)


class _EnvProcess:
    """A worker started as a subprocess, behind the few ``multiprocessing.Process``
    methods the pool uses."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)


#: Tasks handed to one worker ahead of time when tasks are short, so that it never waits
#: for the runtime between two of them (the runtime's turn-around is then off the critical
#: path): about _AHEAD seconds of work, at most _DEPTH_SHORT tasks. Long tasks are handed
#: out one at a time, so that the work stays balanced between workers.
_DEPTH_SHORT = 16
_AHEAD = 0.05  # seconds


class _Worker:
    """One worker process; ``env`` is the step environment it runs in
    (:class:`lamina.runtime.envs.StepEnv`; None for lamina's own), ``self.env`` its key."""

    def __init__(self, mp: Any, setup: Any, env: Any = None) -> None:
        parent_conn, child_conn = mp.Pipe(duplex=True)
        lifeline_r, lifeline_w = mp.Pipe(duplex=False)
        with _PARENT_ENDS_LOCK:
            _PARENT_ENDS.update((parent_conn, lifeline_w))
        self.env: str = env.key if env is not None else ""
        self.process: Any
        try:
            if env is not None:
                from lamina.runtime.envs import task_environ

                fds = (child_conn.fileno(), lifeline_r.fileno())
                code = ("from lamina.builtin.local_compute import _env_worker_entry; "
                        f"_env_worker_entry({fds[0]}, {fds[1]})")
                self.process = _EnvProcess(subprocess.Popen(
                    [env.executable, "-c", code], pass_fds=fds, env=task_environ(env),
                ))
                parent_conn.send_bytes(setup)
            else:
                self.process = mp.Process(
                    target=_worker_main, args=(child_conn, lifeline_r, setup), daemon=True
                )
                with _main_file_hidden():
                    self.process.start()
        finally:
            child_conn.close()
            lifeline_r.close()
        self.conn: Connection = parent_conn
        self.lifeline: Connection = lifeline_w
        self.assigned: collections.deque[TaskSpec] = collections.deque()
        self.deadline: float | None = None
        self.started: float = 0.0
        self.done = 0

    @property
    def spec(self) -> TaskSpec | None:
        """The task running now (the oldest one without an outcome)."""
        return self.assigned[0] if self.assigned else None

    def give(self, specs: list[TaskSpec]) -> None:
        was_idle = not self.assigned
        self.conn.send(specs)
        self.assigned.extend(specs)
        if was_idle:
            self._head_started(time.time())

    def _head_started(self, now: float) -> None:
        self.started = now
        head = self.spec
        self.deadline = now + head.timeout if head is not None and head.timeout else None

    def finished_head(self) -> TaskSpec:
        spec = self.assigned.popleft()
        self.done += 1
        if self.assigned:
            self._head_started(time.time())
        else:
            self.deadline = None
        return spec

    def _close(self) -> None:
        with _PARENT_ENDS_LOCK:
            _PARENT_ENDS.discard(self.conn)
            _PARENT_ENDS.discard(self.lifeline)
        self.conn.close()
        self.lifeline.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self._close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._close()


class LocalCompute:
    """Runs tasks in worker processes that live for the whole run (see the module's
    docstring for how they start)."""

    #: specs reach the workers as they are, so a task can store its own foreach element
    #: (``TaskSpec.staged``): the scheduler does not write a wide foreach's elements first
    stores_staged_elements = True

    def __init__(self, options: LocalComputeOptions) -> None:
        self.options = options
        self.max_in_flight = options.resolved_workers()
        #: ``fork``, ``forkserver`` or ``spawn`` (:func:`resolve_start_method`)
        self.start_method = resolve_start_method(options.start_method)
        #: how many tasks the scheduler may hand over before their turn (see _DEPTH_SHORT)
        self.max_queued = self.max_in_flight * (_DEPTH_SHORT + 2)
        self._ctx: RunContext | None = None
        self._mp: Any = None
        self._setup: Any = None  # what each new worker receives (see _worker_main)
        self._env_setup: bytes | None = None  # what each new worker of a step environment receives
        #: (context, setup) of forkserver workers started in place of forked ones
        self._fresh: tuple[Any, bytes] | None = None
        self._workers: dict[int, _Worker] = {}  # fileno -> every live worker
        #: tasks not handed out yet, by the key of their step's environment ("": lamina's own)
        self._queues: dict[str, collections.deque[TaskSpec]] = {}
        self._ready: list[TaskOutcome] = []
        self._task_seconds: float | None = None  # moving average of task durations

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context  # type: ignore[assignment]
        self._setup = None  # a stack's compute serves its runs one after another
        self._env_setup = None
        self._fresh = None
        self._retire_env_workers()
        # one worker per step environment (leaving a slot to lamina's own) starts now, so
        # that its interpreter starts while the steps before it run
        envs = list(dict.fromkeys(e.key for e in self._step_envs().values()))
        for key in envs[: max(0, self.max_in_flight - 1)]:
            if not any(w.env == key for w in self._workers.values()):
                worker = self._new_worker(key)
                self._workers[worker.conn.fileno()] = worker

    def submit(self, spec: TaskSpec) -> None:
        self._queues.setdefault(self._env_of(spec), collections.deque()).append(spec)
        self._dispatch()

    def running(self) -> int:
        return (sum(len(w.assigned) for w in self._workers.values())
                + sum(len(q) for q in self._queues.values()))

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        self._dispatch()
        busy = [w for w in self._workers.values() if w.assigned]
        if not self._ready and busy:
            wait_for = timeout
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            if deadlines:
                wait_for = max(0.0, min(wait_for, min(deadlines) - time.time()))
            for conn in wait([w.conn for w in busy], timeout=wait_for):
                self._collect(conn)  # type: ignore[arg-type]
            self._expire()
        self._dispatch()
        ready, self._ready = self._ready, []
        return ready

    def shutdown(self, *, cancel: bool) -> None:
        self._queues.clear()
        for worker in list(self._workers.values()):
            worker.kill() if cancel and worker.assigned else worker.stop()
        self._workers.clear()

    def check(self) -> str:
        return (
            f"local compute: {self.max_in_flight} worker processes ({self.start_method}) "
            f"on {socket.gethostname()}"
        )

    # -- internals ------------------------------------------------------------------------

    def _depth(self) -> int:
        if self._task_seconds is None:
            return 2
        return max(1, min(_DEPTH_SHORT, int(_AHEAD / max(self._task_seconds, 1e-6))))

    def _env_of(self, spec: TaskSpec) -> str:
        """The key of the environment ``spec``'s step runs in ("" for lamina's own)."""
        env = self._step_envs().get(spec.step)
        return env.key if env is not None else ""

    def _step_envs(self) -> dict[str, Any]:
        """Step name -> the built environment of the run's steps that have one."""
        return dict(getattr(self._ctx, "envs", None) or {})

    def _retire_env_workers(self) -> None:
        """Stop the workers of step environments a new run does not use."""
        keep = {e.key for e in self._step_envs().values()}
        for key, worker in list(self._workers.items()):
            if worker.env and worker.env not in keep and not worker.assigned:
                del self._workers[key]
                worker.stop()

    def _grow(self) -> None:
        """Start workers for queued tasks: lamina's own environment fills the free slots
        of the pool as before; a step environment gets at most one worker per queued
        task. When the pool is full, idle workers of other environments with nothing
        queued make room, up to one per queued task."""
        for env, queue in self._queues.items():
            if not queue:
                continue
            mine = sum(1 for w in self._workers.values() if w.env == env)
            while mine < self.max_in_flight:
                if len(self._workers) >= self.max_in_flight:
                    if mine >= len(queue):
                        break
                    idle = next((w for w in self._workers.values() if w.env != env
                                 and not w.assigned and not self._queues.get(w.env)), None)
                    if idle is None:
                        break
                    self._remove(idle, requeue=False)
                elif env and mine >= len(queue):
                    break
                worker = self._new_worker(env)
                self._workers[worker.conn.fileno()] = worker
                mine += 1

    def _dispatch(self) -> None:
        if not any(self._queues.values()):
            return
        depth = self._depth()
        limit = self.options.max_tasks_per_worker
        self._grow()
        # least loaded first, so that a fresh or idle worker gets work before a busy one
        for worker in sorted(self._workers.values(), key=lambda w: len(w.assigned)):
            queue = self._queues.get(worker.env)
            if not queue:
                continue
            room = depth - len(worker.assigned)
            if limit is not None:
                room = min(room, limit - worker.done - len(worker.assigned))
            if room <= 0:
                continue
            batch = [queue.popleft() for _ in range(min(room, len(queue)))]
            try:
                worker.give(batch)
            except OSError:  # the worker died meanwhile: its tasks go back to the queue
                queue.extendleft(reversed(batch))
                self._remove(worker, requeue=True)

    def _remove(self, worker: _Worker, *, requeue: bool) -> None:
        """Forget a dead or stopped worker; put the tasks it had not started back first."""
        for key, known in list(self._workers.items()):
            if known is worker:
                del self._workers[key]
        if requeue:
            queue = self._queues.setdefault(worker.env, collections.deque())
            queue.extendleft(reversed(list(worker.assigned)))
            worker.assigned.clear()
        worker.kill()

    def _new_worker(self, env: str = "") -> _Worker:
        if _IMPORTING_FLOW:
            raise LaminaError(
                f"a run was started while a worker imported the flow file {_IMPORTING_FLOW}: "
                "the file starts a run at import time, which would start workers without end",
                hint="start the run under `if __name__ == \"__main__\":` (or use `lamina run`)",
            )
        if env:
            return self._new_env_worker(env)
        if self.start_method == "fork" and fork_unsafe_reason():
            return self._new_fresh_worker()
        if self._setup is None:
            ctx = self._require_ctx()
            if self.start_method == "fork":
                self._setup = ctx  # inherited by the fork, never pickled
            else:
                # once per run: every worker gets the same bytes
                import cloudpickle

                self._setup = cloudpickle.dumps(make_worker_setup(ctx))
        if self._mp is None:
            self._mp = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                self._mp.set_forkserver_preload(["lamina.builtin.local_compute"])
        return _Worker(self._mp, self._setup)

    def _new_fresh_worker(self) -> _Worker:
        """A forkserver worker in place of a forked one: this process holds a library
        that a forked copy cannot use (:mod:`lamina.runtime.forks`)."""
        if self._fresh is None:
            import cloudpickle

            ctx = self._require_ctx()
            get_logger("lamina.compute").info(
                "local compute starts its workers fresh (forkserver)",
                reason=f"{fork_unsafe_reason()} cannot be used in a forked copy of this process")
            mp = multiprocessing.get_context("forkserver")
            mp.set_forkserver_preload(["lamina.builtin.local_compute"])
            self._fresh = (mp, cloudpickle.dumps(make_worker_setup(ctx)))
        return _Worker(*self._fresh)

    def _new_env_worker(self, env: str) -> _Worker:
        """A worker in the step environment ``env``: a fresh interpreter of its Python."""
        ctx = self._require_ctx()
        built = next(e for e in ctx.envs.values() if e.key == env)
        if sys.platform == "win32":
            step = next(s for s, e in ctx.envs.items() if e.key == env)
            raise LaminaError(
                f"step '{step}' has an environment (env=), and the local compute runs "
                "environment workers on Linux and macOS only (they inherit their pipes)",
                hint="run the flow in WSL 2, or on a remote compute (dask, k8s, batch)",
            )
        if self._env_setup is None:
            import cloudpickle

            setup = make_worker_setup(ctx)
            other = built.python and ".".join(built.python.split(".")[:2]) != (
                f"{sys.version_info.major}.{sys.version_info.minor}")
            if setup.steps_key and other:
                step = next(s for s, e in ctx.envs.items() if e.key == env)
                raise LaminaError(
                    f"step '{step}' runs on Python {built.python}, and the flow "
                    f"'{ctx.flow.name}' is not a module-level variable of a .py file: its "
                    "steps would be sent as Python "
                    f"{sys.version_info.major}.{sys.version_info.minor} bytecode, which "
                    "another Python version cannot run",
                    hint="define the flow at the top level of a .py file (workers then "
                    "import it), or leave python= out of the step's Env",
                )
            self._env_setup = cloudpickle.dumps(setup)
        return _Worker(multiprocessing, self._env_setup, env=built)

    def _require_ctx(self) -> RunContext:
        if self._ctx is None:
            raise RuntimeError("LocalCompute.start() was not called")
        return self._ctx

    def _collect(self, conn: Connection) -> None:
        worker = self._workers[conn.fileno()]
        while worker.assigned:
            try:
                outcome: TaskOutcome | _SetupFailed = conn.recv()
            except (EOFError, OSError):
                self._worker_died(worker)
                return
            spec = worker.finished_head()
            if isinstance(outcome, _SetupFailed):
                outcome = self._synthetic_failure(
                    spec, worker, outcome.reason,
                    f"the worker could not load the run ({self.start_method}): {outcome.error}"
                    if outcome.reason == "setup" else outcome.error,
                )
            took = outcome.finished_at - outcome.started_at
            avg = self._task_seconds
            self._task_seconds = took if avg is None else 0.8 * avg + 0.2 * took
            self._ready.append(outcome)
            if not conn.poll():
                break
        limit = self.options.max_tasks_per_worker
        if limit is not None and worker.done >= limit and not worker.assigned:
            self._workers.pop(conn.fileno(), None)
            worker.stop()

    def _worker_died(self, worker: _Worker) -> None:
        spec = worker.spec
        assert spec is not None
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        reason = (
            f"the worker process was killed by signal {-code}"
            + (" (SIGKILL: out of memory?)" if _SIGKILL is not None and code == -_SIGKILL else "")
            if code is not None and code < 0
            else f"the worker process exited with code {code}"
        )
        worker.assigned.popleft()
        self._remove(worker, requeue=True)
        self._ready.append(self._synthetic_failure(spec, worker, "killed", reason))

    def _expire(self) -> None:
        now = time.time()
        for worker in list(self._workers.values()):
            spec = worker.spec
            if spec is not None and worker.deadline is not None and now >= worker.deadline:
                worker.assigned.popleft()
                self._remove(worker, requeue=True)
                self._ready.append(
                    self._synthetic_failure(
                        spec, worker, "timeout",
                        f"the task ran longer than its timeout of {spec.timeout:g} s and was stopped",
                    )
                )

    def _synthetic_failure(
        self, spec: TaskSpec, worker: _Worker, reason: str, message: str
    ) -> TaskOutcome:
        """An outcome for a task whose worker could not report one; recorded like any other."""
        ctx = self._require_ctx()
        step = ctx.flow.steps[spec.step]
        outcome = TaskOutcome(
            run_id=spec.run_id,
            step=spec.step,
            index=spec.index,
            attempt=spec.attempt,
            status="failed",
            started_at=worker.started,
            finished_at=time.time(),
            error=f"{reason}: {message}",
            error_type={"timeout": "TaskTimeout", "setup": "WorkerSetupError",
                        "backend": "BackendError"}.get(
                reason, "WorkerDied"
            ),
            location=step.where,
            exit_reason=reason,
            cache_key=spec.cache_key,
            host=socket.gethostname(),
            pid=worker.process.pid or 0,
        )
        return record_failure(ctx.artifacts, outcome)

    def __repr__(self) -> str:
        return f"LocalCompute(workers={self.max_in_flight}, start_method={self.start_method!r})"

