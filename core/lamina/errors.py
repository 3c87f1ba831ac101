"""The one exception hierarchy lamina raises.

A host that embeds lamina catches :class:`LaminaError` (or a subclass) and never has to
know which layer failed. Every message names the thing, the place and the fix, because the
person reading it is usually a data scientist looking at a notebook cell.
"""

from __future__ import annotations


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose.

    ``hint`` is the fix, when we know one; it is appended to the message so that a plain
    ``str(err)`` (what a notebook shows) already tells the user what to do.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  fix: {hint}")


# --- configuration and plugins -------------------------------------------------------


class ConfigError(LaminaError):
    """A config file, a stack or a component's options are wrong."""


class OptionError(ConfigError):
    """One wrong option of a component (or of a plugin's table): an unknown key, a value
    of the wrong type, a missing required option, or a value its class refused.

    ``key`` is the offending option (None when the table as a whole is wrong, e.g. a
    required option is missing). Raised by :func:`lamina.config.options.build_options`;
    the stack adds the config file and line before it reaches the user.
    """

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class StackNotFoundError(ConfigError):
    """The stack named by ``--stack`` / ``LAMINA_STACK`` is not defined."""


class PluginError(LaminaError):
    """A plugin could not be loaded, or two plugins conflict."""


class PluginNotInstalledError(PluginError):
    """A stack names a component whose plugin is not installed."""


class MissingRequiredPluginError(PluginError):
    """``required_plugins`` in the config names a distribution that is absent or too old."""


class BrokenPluginWarning(UserWarning):
    """An installed plugin failed to load and the stack does not depend on it: the run goes
    on without its hooks. ``lamina stack check`` reports it as a problem."""


class ConfigWarning(UserWarning):
    """Something in the config is ignored (a ``[stacks.NAME]`` table in
    ``lamina.secrets.toml`` for a stack the config does not define): lamina goes on."""


class BackendUnreachableError(LaminaError):
    """A component could not reach its backend (``lamina stack check``)."""


# --- flows ----------------------------------------------------------------------------


class FlowDefinitionError(LaminaError):
    """A flow is wrong before anything runs: a cycle, an unknown name, a bad option."""


class FlowLoadError(LaminaError):
    """A flow file could not be imported, or holds no (or several) flows."""


class ParameterError(FlowDefinitionError):
    """A flow parameter is missing, unknown, or cannot be parsed."""


class RunFailedError(LaminaError):
    """A run finished with failed tasks. ``run`` is the finished run, for inspection."""

    def __init__(self, message: str, *, run: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.run = run


class RunInterruptedError(LaminaError):
    """A run was stopped (Ctrl-C); it can be resumed."""

    def __init__(self, message: str, *, run_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.run_id = run_id


class StepError(LaminaError):
    """A step raised. Carries the step, the task index and the formatted traceback."""

    def __init__(
        self, message: str, *, step: str, index: int | None, traceback: str = ""
    ) -> None:
        super().__init__(message)
        self.step = step
        self.index = index
        self.traceback = traceback


# --- data and records -----------------------------------------------------------------


class DatastoreError(LaminaError):
    """The datastore could not store or return an object."""


class CorruptArtifactError(DatastoreError):
    """An object's bytes do not match its content hash (truncated or altered on disk)."""


class ArtifactNotFoundError(DatastoreError):
    """An artifact or record is not in the datastore."""


class UntrustedArtifactError(DatastoreError):
    """A value stored as a pickle (loading it runs code) comes from a run outside the
    trusted namespaces, and the caller did not consent (``load(trust=True)``)."""


class SerializationError(DatastoreError):
    """A value could not be serialized or deserialized."""


class MetadataError(LaminaError):
    """The metadata store could not record or answer."""


class RunNotFoundError(MetadataError):
    """No run, step or task matches the reference given."""


class NamespaceNotFoundError(RunNotFoundError):
    """A namespace was named (``Client(namespace=)``, ``--namespace``) that has no runs."""


class OtherNamespaceError(RunNotFoundError):
    """A run named by id lives in another namespace than the reader's: the message names
    both, and the hint how to read it (``Client(namespace=...)``, ``--namespace``)."""


class ImmutableRunError(MetadataError):
    """Something tried to change a finished run (only tags may be added)."""


# --- feature store --------------------------------------------------------------------


class FeatureStoreError(LaminaError):
    """A feature definition, a source or a feature request is wrong (an unknown feature, a
    missing or mistyped column, an unreachable source); the message names the feature view
    and the column."""


class DataSourceError(LaminaError):
    """A data source could not read or write: unknown source, bad credentials, an
    unreachable server, an SQL error, a type with no Arrow mapping, a version that no
    longer exists. The one-line message names the source and the fix; inside a step,
    ``lamina.data`` adds the step's name."""

    def __init__(self, message: str, *, source: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.source = source
