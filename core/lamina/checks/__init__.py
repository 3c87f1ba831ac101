"""Black-box model checks: declarative suites that run a model on data, and the gates
that keep a version from production until its checks pass.

::

    from lamina import checks

    suite = checks.load_suite("checks.toml")          # or checks.Suite(...) in Python
    result = checks.run(suite, "model:churn/8", "data/holdout.parquet")
    print(result)                                     # PASSED / FAILED, check by check
    result.passed, result.failed, result.to_html()

A model is a :class:`lamina.serving.Model`, an estimator with ``predict`` (and
``predict_proba``), a function of a dict of columns, or a registry reference
(``model:churn/8``): then the result is stored with the version (what ``lamina model
promote`` and ``lamina deploy`` check), the champion check compares it with
``model:churn@champion``, and the report is kept in the datastore. In a flow, call
:func:`run` in a step and return the result. See ``docs/models.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina._lazy import lazy_exports

if TYPE_CHECKING:
    from lamina.checks.runner import CheckResult, SuiteResult
    from lamina.checks.suite import Check, Suite, load_suite
    from lamina.stack import Stack

_EXPORTS = {
    "Check": "lamina.checks.suite",
    "Suite": "lamina.checks.suite",
    "load_suite": "lamina.checks.suite",
    "CheckResult": "lamina.checks.runner",
    "SuiteResult": "lamina.checks.runner",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Check", "CheckResult", "Suite", "SuiteResult", "load_suite", "run"]


def run(suite: Any, model: Any, data: Any, *, champion: Any = None,
        stack: Stack | str | None = None, record: bool | None = None,
        trust: bool | None = None) -> SuiteResult:
    """Run a check suite on a model over data; return the :class:`SuiteResult`.

    :param suite: a :class:`Suite`, a TOML path, a dict, or a list of :class:`Check`.
    :param model: the model, or a registry reference (``model:churn/8``).
    :param data: a pandas DataFrame, a pyarrow Table, a dict of arrays, or a Parquet/CSV
        path: the inputs, the label column (``suite.target``) and the slice columns.
    :param champion: what ``champion`` checks compare with; by default, for a registry
        reference, the version the ``champion`` alias points at (none: those checks pass,
        saying so).
    :param record: store the result with the version (default: when ``model`` is a
        registry reference).
    :param trust: load a registered version pickled by a run outside the stack's trusted
        namespaces (see ``docs/security.md``).
    :raises lamina.errors.CheckSuiteError: a malformed suite, a missing column.
    """
    from lamina.checks.runner import run_suite
    from lamina.checks.suite import as_suite
    from lamina.registry import is_model_ref

    parsed_suite = as_suite(suite)
    version = None
    model_name = ""
    resolved_stack = None
    if isinstance(model, str):
        from lamina.registry import RegisteredModel, resolve
        from lamina.stack import resolve_stack

        text = model if is_model_ref(model) else f"model:{model}"
        resolved_stack = resolve_stack(stack)
        version = resolve(text, stack=resolved_stack)
        model_name = f"{version.name}/{version.version}"
        model = RegisteredModel(resolved_stack, version).load(trust=trust)
    champion_name = ""
    if isinstance(champion, str):
        from lamina.registry import RegisteredModel, resolve
        from lamina.stack import resolve_stack

        resolved_stack = resolved_stack or resolve_stack(stack)
        text = champion if is_model_ref(champion) else f"model:{champion}"
        other = resolve(text, stack=resolved_stack)
        champion_name = f"{other.name}/{other.version}"
        champion = RegisteredModel(resolved_stack, other).load(trust=trust)
    elif champion is None and version is not None and parsed_suite.needs_champion:
        champion, champion_name = _current_champion(resolved_stack, version, trust)
    elif champion is not None:
        champion_name = "given"
    result = run_suite(parsed_suite, model, data, champion=champion, model_name=model_name,
                       champion_name=champion_name)
    if version is not None and (record is None or record):
        store_result(resolved_stack, version.name, version.version, result)
    return result


def _current_champion(stack: Any, version: Any, trust: bool | None) -> tuple[Any, str]:
    from lamina.errors import ModelNotFoundError
    from lamina.registry import RegisteredModel, get_registry

    try:
        champ = get_registry(stack).get(version.name, alias="champion")
    except ModelNotFoundError:
        return None, ""
    if champ.version == version.version:
        return None, ""
    return RegisteredModel(stack, champ).load(trust=trust), f"{champ.name}/{champ.version}"


def store_result(stack: Any, name: str, version: int, result: SuiteResult) -> dict[str, Any]:
    """Keep ``result`` with ``name`` version ``version``: the JSON and the HTML report in
    the stack's datastore, a summary in the registry (what the gates read). Returns the
    summary."""
    import json

    from lamina.registry import now_iso, record_check
    from lamina.stack import resolve_stack

    resolved = resolve_stack(stack)
    full = result.to_dict()
    artifacts = resolved.artifacts
    summary = {
        "suite": result.suite, "passed": result.passed, "failed": result.failed,
        "rows": result.rows, "champion": result.champion, "user": resolved.branch.user,
        "at": now_iso(),
        "artifact": artifacts.put_bytes(json.dumps(full, default=str).encode()),
        "report": artifacts.put_bytes(result.to_html(
            title=f"Checks of {name} version {version}: {result.suite}").encode()),
        "checks": [{"name": c.name, "kind": c.kind, "passed": c.passed, "detail": c.detail}
                   for c in result.checks],
    }
    record_check(name, version, summary, stack=resolved)
    return summary
