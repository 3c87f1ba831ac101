"""The model registry: names, numbered versions, aliases, and the gates a version passes.

::

    from lamina import registry

    v = registry.register_model("churn", "1a2b3c/train")          # version 1, 2, ...
    registry.promote("churn", v.version, "champion", reason="beats v6 on every slice")
    registry.resolve("model:churn@champion")                      # -> ModelVersion
    registry.history("churn")                                     # every alias move

Every function takes ``stack=`` (a :class:`lamina.Stack`, a stack name, or None for the
default stack). Versions live in the namespace of the stack's branch
(:mod:`lamina.namespaces`): ``user:ana`` by default, a project branch, or production
(``--production``): registering or promoting in production is explicit.

The stack's ``registry`` component (the builtin one on the metadata store unless a plugin
offers another through ``lamina_model_registries``) keeps the records; these functions
add what every backend shares: reference parsing, the gates (check results must pass
before ``promote``), and the lifecycle hooks ``lamina_model_registered`` and
``lamina_model_promoted``, called after every register and every alias move.

References: ``model:churn@champion`` (an alias), ``model:churn/7`` (a version),
``model:churn`` (the newest version); the ``model:`` prefix is optional where only a
model can be meant.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import GateFailedError, ModelRegistryError, RunNotFoundError

if TYPE_CHECKING:
    from lamina.interfaces.model_registry import AliasChange, ModelRegistry, ModelVersion
    from lamina.stack import Stack

__all__ = [
    "MODEL_PREFIX",
    "Gate",
    "ModelRef",
    "RegisteredModel",
    "checks",
    "gate",
    "get_registry",
    "history",
    "is_model_ref",
    "names",
    "parse_model_ref",
    "pin_deployment",
    "promote",
    "record_check",
    "register_model",
    "register_ref",
    "remove_alias",
    "require_gate",
    "resolve",
    "versions",
]

#: The prefix of a registry reference in a serving or deployment spec.
MODEL_PREFIX = "model:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def now_iso() -> str:
    """The time now, ISO 8601 UTC to the second (what the registry records)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def check_model_name(value: str, what: str = "model name") -> str:
    """``value`` if it is a valid model name or alias, else a :class:`ModelRegistryError`:
    letters, digits, ``_``, ``.``, ``-``, starting with a letter or digit, at most 63
    characters; an alias is not all digits (``churn@7`` would read as a version)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ModelRegistryError(
            f"{what} {value!r} is not a valid name",
            hint="use letters, digits, '_', '.' and '-', starting with a letter or digit, "
            "at most 63 characters",
        )
    if what == "alias" and value.isdigit():
        raise ModelRegistryError(f"alias {value!r} is all digits",
                                 hint="name an alias with a word (champion, challenger)")
    return value


@attrs.frozen
class ModelRef:
    """A parsed registry reference: ``name`` plus a ``version`` or an ``alias`` (neither:
    the newest version)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = f"@{self.alias}" if self.alias else (f"/{self.version}" if self.version else "")
        return f"{MODEL_PREFIX}{self.name}{tail}"


def is_model_ref(text: str) -> bool:
    """Whether ``text`` names a registered model (``model:...``) rather than a run's step."""
    return isinstance(text, str) and text.strip().startswith(MODEL_PREFIX)


def parse_model_ref(text: str) -> ModelRef:
    """``model:churn@champion``, ``model:churn/7``, ``model:churn`` (the prefix optional)
    as a :class:`ModelRef`; anything else raises :class:`ModelRegistryError` naming it."""
    raw = text.strip()
    body = raw[len(MODEL_PREFIX):] if raw.startswith(MODEL_PREFIX) else raw
    hint = "e.g. model:churn@champion, model:churn/7 or model:churn (the newest version)"
    if "@" in body:
        name, _, alias = body.partition("@")
        if not alias:
            raise ModelRegistryError(f"model reference {text!r} has an empty alias", hint=hint)
        try:
            return ModelRef(check_model_name(name), alias=check_model_name(alias, "alias"))
        except ModelRegistryError as exc:
            raise ModelRegistryError(f"model reference {text!r}: {exc.message}", hint=hint) from None
    name, slash, number = body.partition("/")
    if slash:
        if not number.isdigit() or int(number) < 1:
            raise ModelRegistryError(
                f"model reference {text!r}: version {number!r} is not a number >= 1", hint=hint)
        version: int | None = int(number)
    else:
        version = None
    try:
        return ModelRef(check_model_name(name), version=version)
    except ModelRegistryError as exc:
        raise ModelRegistryError(f"model reference {text!r}: {exc.message}", hint=hint) from None


def _stack(stack: Stack | str | None) -> Stack:
    from lamina.stack import resolve_stack

    return resolve_stack(stack)


def get_registry(stack: Stack | str | None = None) -> ModelRegistry:
    """The stack's registry component: ``registry = { plugin = ... }`` in the stack, else
    the builtin one on the stack's metadata store (acting in the namespace of the
    stack's branch)."""
    resolved = _stack(stack)
    if resolved.has("registry"):
        return resolved.component("registry")  # type: ignore[no-any-return]
    from lamina.config.options import build_options

    spec = resolved.plugins.find_component("registry", "builtin")
    return spec.factory(build_options(spec.config, {}), resolved)  # type: ignore[no-any-return]


def _require_checks(stack: Stack) -> bool:
    if not stack.has("registry"):
        return False
    return bool(getattr(stack.options("registry"), "require_checks", False))


def _artifact_of(stack: Stack, ref: str) -> tuple[str, str, dict[str, Any]]:
    """``(FLOW/RUN/STEP, run id, artifact info)`` of ``RUN/STEP`` or ``FLOW/RUN/STEP``: the
    step's output, which must exist (a succeeded, single-task step)."""
    from lamina.client import Client

    parts = [p for p in ref.strip().split("/") if p]
    hint = "RUN/STEP or FLOW/RUN/STEP, e.g. 1a2b3c/train (lamina runs lists the runs)"
    if len(parts) not in (2, 3):
        raise ModelRegistryError(f"{ref!r} does not name a step of a run", hint=hint)
    flow = parts[0] if len(parts) == 3 else None
    run_ref, step = parts[-2], parts[-1]
    try:
        run = Client(stack, namespace=None).run(run_ref)
        result = run[step]
    except RunNotFoundError as exc:
        raise ModelRegistryError(f"cannot register {ref!r}: {exc.message}",
                                 hint=exc.hint or hint) from None
    if flow is not None and run.flow != flow:
        raise ModelRegistryError(f"cannot register {ref!r}: run {run.id} belongs to flow "
                                 f"{run.flow!r}, not {flow!r}", hint=f"{run.flow}/{run.id}/{step}")
    if len(result.tasks) != 1:
        raise ModelRegistryError(
            f"cannot register {ref!r}: step {step!r} is a foreach with {len(result.tasks)} "
            "results, not one model", hint="register the step that picks one model")
    task = result.task
    if task.record.status not in ("succeeded", "reused") or task.record.output is None:
        raise ModelRegistryError(
            f"cannot register {ref!r}: step {step!r} of run {run.id} has no output "
            f"({task.record.status})", hint=f"lamina show {run.id}")
    out = task.record.output
    return f"{run.flow}/{run.id}/{step}", run.id, {
        "artifact": out.key, "type": out.type, "serializer": out.serializer}


def _hook_registered(stack: Stack, version: ModelVersion) -> None:
    stack.hook.lamina_model_registered(version=version, stack=stack)


def register_model(
    name: str, ref: str, *, metadata: Mapping[str, Any] | None = None,
    stack: Stack | str | None = None,
) -> ModelVersion:
    """Register the output of step ``ref`` (``RUN/STEP`` or ``FLOW/RUN/STEP``) as the
    next version of ``name`` in the stack's namespace; calls ``lamina_model_registered``.

    :param metadata: JSON-safe fields kept with the version (metrics, description).
    :raises lamina.errors.ModelRegistryError: a bad name, or ``ref`` names no output.
    """
    resolved = _stack(stack)
    check_model_name(name)
    full_ref, run_id, info = _artifact_of(resolved, ref)
    return register_ref(resolved, name, full_ref, run_id, {**info, **dict(metadata or {})})


def register_ref(stack: Stack, name: str, ref: str, run_id: str,
                 metadata: Mapping[str, Any]) -> ModelVersion:
    """Register ``ref`` (``FLOW/RUN/STEP``, already checked) as the next version of
    ``name`` and call ``lamina_model_registered``: what :func:`register_model` and
    ``current.register_model`` share."""
    version = get_registry(stack).register(name, ref, metadata={"run_id": run_id, **metadata})
    _hook_registered(stack, version)
    return version


def resolve(ref: str, *, stack: Stack | str | None = None) -> ModelVersion:
    """The version ``ref`` names (``model:churn@champion``, ``model:churn/7``,
    ``model:churn``) in the stack's namespace.

    :raises lamina.errors.ModelNotFoundError: no such name, version or alias.
    """
    parsed = parse_model_ref(ref)
    return get_registry(stack).get(parsed.name, parsed.version, alias=parsed.alias)


def versions(name: str, *, stack: Stack | str | None = None) -> Sequence[ModelVersion]:
    """Every version of ``name``, oldest first."""
    return get_registry(stack).versions(check_model_name(name))


def names(*, stack: Stack | str | None = None) -> Sequence[str]:
    """The registered names in the stack's namespace."""
    return get_registry(stack).names()


def history(name: str, *, stack: Stack | str | None = None) -> Sequence[AliasChange]:
    """Every alias move of ``name``, oldest first (who, when, why, forced or not)."""
    return get_registry(stack).history(check_model_name(name))


@attrs.frozen
class Gate:
    """Whether a version may be promoted or deployed: ``passed`` (True, False, or None when
    it has no check results and none are required), the ``reason`` in one line, and the
    latest result of each suite run on it."""

    passed: bool | None
    reason: str
    results: tuple[Mapping[str, Any], ...] = ()


def _checks_of(registry: Any, name: str, version: int) -> list[dict[str, Any]]:
    checks = getattr(registry, "checks", None)
    return list(checks(name, version)) if callable(checks) else []


def gate(name: str, version: int, *, stack: Stack | str | None = None) -> Gate:
    """The gate of ``name`` version ``version``: the latest result of each check suite run
    on it must pass; with ``require_checks = true`` in the stack's registry options, a
    version without any passing check fails too."""
    resolved = _stack(stack)
    latest: dict[str, dict[str, Any]] = {}
    for result in _checks_of(get_registry(resolved), name, version):
        latest[str(result.get("suite", ""))] = result
    results = tuple(latest.values())
    failed = [r for r in results if not r.get("passed")]
    if failed:
        what = "; ".join(
            f"suite {r.get('suite') or '?'!r} failed "
            f"({', '.join(r.get('failed', [])[:5]) or 'see lamina model show'})" for r in failed)
        return Gate(False, what, results)
    if results:
        return Gate(True, f"{len(results)} check suite{'s' if len(results) > 1 else ''} "
                    "passed", results)
    if _require_checks(resolved):
        return Gate(False, "no check has passed and the stack's registry requires one",
                    results)
    return Gate(None, "no checks run", results)


def require_gate(name: str, version: int, *, action: str, force: bool = False,
                 stack: Stack | str | None = None) -> Gate:
    """:func:`gate`, raising :class:`GateFailedError` when it failed and ``force`` is
    False; ``action`` (``promote``, ``deploy``) names what was refused."""
    status = gate(name, version, stack=stack)
    if status.passed is False and not force:
        raise GateFailedError(
            f"cannot {action} {name} version {version}: {status.reason}",
            hint=f"fix the model and register a new version, run `lamina model check {name} "
            f"{version} --suite ...` again, or add --force (recorded as forced)",
        )
    return status


def promote(
    name: str, version: int, alias: str = "champion", *, reason: str = "",
    force: bool = False, stack: Stack | str | None = None,
) -> AliasChange:
    """Point ``alias`` at ``version`` of ``name``, recorded with the user, time and
    reason; calls ``lamina_model_promoted``. A version whose gate failed is refused
    (:class:`GateFailedError`) unless ``force``; a forced move is recorded as forced.
    """
    resolved = _stack(stack)
    check_model_name(name)
    check_model_name(alias, "alias")
    registry = get_registry(resolved)
    target = registry.get(name, int(version))
    status = require_gate(name, target.version, action=f"promote to {alias!r}", force=force,
                          stack=resolved)
    forced = bool(force and status.passed is False)
    change = registry.set_alias(name, target.version, alias, reason=reason, forced=forced)
    resolved.hook.lamina_model_promoted(version=registry.get(name, target.version),
                                        change=change, stack=resolved)
    return change


def remove_alias(name: str, alias: str, *, reason: str = "",
                 stack: Stack | str | None = None) -> AliasChange:
    """Remove ``alias`` from ``name`` (recorded; calls ``lamina_model_promoted`` with the
    version it left)."""
    resolved = _stack(stack)
    registry = get_registry(resolved)
    left = registry.get(check_model_name(name), alias=check_model_name(alias, "alias"))
    change = registry.set_alias(name, None, alias, reason=reason)
    resolved.hook.lamina_model_promoted(version=registry.get(name, left.version),
                                        change=change, stack=resolved)
    return change


def record_check(name: str, version: int, result: Mapping[str, Any], *,
                 stack: Stack | str | None = None) -> None:
    """Store a check suite's result with a version (what the gates read)."""
    registry = get_registry(stack)
    record = getattr(registry, "record_check", None)
    if not callable(record):
        raise ModelRegistryError(
            f"the stack's registry ({type(registry).__name__}) keeps no check results",
            hint="use the builtin registry, or a registry plugin with record_check()")
    registry.get(name, int(version))  # the version exists
    record(name, int(version), dict(result))


def checks(name: str, version: int | None = None, *,
           stack: Stack | str | None = None) -> list[dict[str, Any]]:
    """Check results stored for ``name`` (one version's, if given), oldest first."""
    registry = get_registry(stack)
    fn = getattr(registry, "checks", None)
    return list(fn(name, version)) if callable(fn) else []


class RegisteredModel:
    """A registered version, for a notebook: ``Client().model("churn@champion")``.

    ``.version`` is the :class:`lamina.interfaces.ModelVersion`; ``.load()`` returns the
    stored value (a :class:`lamina.serving.Model` for a servable one); ``.checks`` the
    stored check results; ``.gate`` whether it may be promoted.
    """

    def __init__(self, stack: Stack, version: ModelVersion) -> None:
        self.stack = stack
        self.version = version

    name = property(lambda self: self.version.name, doc="The model's name.")
    number = property(lambda self: self.version.version, doc="The version number.")
    ref = property(lambda self: self.version.ref, doc="The artifact, FLOW/RUN/STEP.")
    aliases = property(lambda self: self.version.aliases, doc="Aliases pointing at it now.")

    def load(self, *, trust: bool | None = None) -> Any:
        """The value the version points at (read from the datastore, hash checked). A
        pickle made by a run outside the stack's trusted namespaces is refused unless
        ``trust=True`` (see :meth:`lamina.client.Task.load`)."""
        from lamina.client import Client

        run_id, step = self.version.ref.split("/")[1:3]
        return Client(self.stack, namespace=None).run(run_id)[step].task.load(trust=trust)

    @property
    def checks(self) -> list[dict[str, Any]]:
        """The check results stored with this version, oldest first."""
        return checks(self.name, self.number, stack=self.stack)

    @property
    def gate(self) -> Gate:
        """Whether this version may be promoted or deployed (see :func:`gate`)."""
        return gate(self.name, self.number, stack=self.stack)

    def __repr__(self) -> str:
        aliases = f" @{', @'.join(self.aliases)}" if self.aliases else ""
        return f"<RegisteredModel {self.name}/{self.number}{aliases} -> {self.ref}>"


def pin_deployment(deployment: Any, stack: Stack, *, force: bool = False) -> Any:
    """``deployment`` with every ``model:`` reference resolved to the version's
    ``FLOW/RUN/STEP`` and recorded in ``deployed["models"]`` (variant -> reference, name,
    version, resolved ref, gate, forced). A version whose gate failed is refused
    (:class:`GateFailedError`) unless ``force``. Called at deploy time, so a later alias
    move does not change what runs."""
    variants = [*deployment.variants, *([deployment.mirror] if deployment.mirror else [])]
    if not any(is_model_ref(v.model) for v in variants):
        return deployment
    pinned: dict[str, Any] = dict(deployment.deployed.get("models") or {})

    def pin(variant: Any) -> Any:
        if not is_model_ref(variant.model):
            return variant
        version = resolve(variant.model, stack=stack)
        status = require_gate(version.name, version.version, action="deploy", force=force,
                              stack=stack)
        pinned[variant.name] = {
            "ref": variant.model.strip(), "name": version.name, "version": version.version,
            "resolved": version.ref, "namespace": version.namespace,
            "gate": status.passed, "forced": bool(force and status.passed is False),
        }
        return attrs.evolve(variant, model=version.ref)

    return attrs.evolve(
        deployment, variants=tuple(pin(v) for v in deployment.variants),
        mirror=pin(deployment.mirror) if deployment.mirror else None,
        deployed={**dict(deployment.deployed), "models": pinned},
    )

