"""SHAP explanations for lamina models.

* ``lamina_model_actions``: ``POST /v2/models/{name}[/versions/{variant}]/explain`` on the
  local model server (``lamina serve``): per-row SHAP values of a tree or linear model.
* ``lamina_model_registered``: when ``[plugins.explain_shap] background`` names a data set,
  the global feature importance (mean |SHAP| per feature over it) of every newly registered
  version, stored in the datastore with the model (:func:`stored_importance` reads it).
* ``lamina explain REF --data PATH``: the same on demand, for any model reference
  (``FLOW/RUN/STEP``, what a registered version points at); without ``--data``, shows
  the stored importance.

shap is imported only when an explanation is computed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import warnings
from typing import Any

import attrs

from lamina.sdk import LaminaError, Model, ModelVersion, hookimpl, resolve_model

#: The entry-point name this distribution registers the plugin under.
PLUGIN_NAME = "explain_shap"
#: Where global importances are stored in the datastore: ``explanations/FLOW/RUN/STEP.json``.
RECORD_PREFIX = "explanations"


def _positive(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of rows, got {value!r}")


@attrs.frozen
class ExplainOptions:
    """Options of ``[plugins.explain_shap]``, validated by lamina when a stack loads.

    :param background: a Parquet or CSV file (relative to the project) with the model's
        input columns: the background the base value is computed over (linear models) and
        the rows global importance is averaged over. Empty: linear models use the zero
        point, and nothing is computed when a version is registered.
    :param on_register: compute and store the global importance of every newly registered
        version (needs ``background``).
    :param max_rows: at most this many background rows are used (the first ones).
    :param class_index: the class a classifier's output is explained for; -1: the last
        (a binary classifier's positive class).
    """

    background: str = ""
    on_register: bool = True
    max_rows: int = attrs.field(default=1000, validator=_positive)
    class_index: int = -1


@hookimpl
def lamina_plugin_options() -> type:
    return ExplainOptions


def _options(stack: Any) -> ExplainOptions:
    options = stack.plugin_options(PLUGIN_NAME) if stack is not None else None
    return options if isinstance(options, ExplainOptions) else ExplainOptions()


def read_background(stack: Any, path: str, model: Model, *, max_rows: int = 1000) -> Any:
    """The rows of a Parquet or CSV file as the ``[N, F]`` float array the model takes:
    its input columns by name (all columns, in order, for a model with one array input)."""
    import numpy as np
    import pyarrow as pa

    full = stack.resolve_path(path) if stack is not None else path
    try:
        if full.lower().endswith((".csv", ".csv.gz")):
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(full)
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(full)
    except (OSError, pa.ArrowInvalid) as exc:
        raise LaminaError(f"explain_shap: cannot read the background data {path!r}: {exc}",
                          hint="background = a Parquet or CSV file with the model's input "
                          "columns, relative to the project") from None
    names = [f.name for f in model.schema.inputs]
    if len(names) == 1 and names[0] not in table.column_names:
        names = table.column_names
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise LaminaError(
            f"explain_shap: the background data {path!r} has no column(s) {', '.join(missing)}",
            hint=f"the model takes {', '.join(names)}; its columns are "
            f"{', '.join(table.column_names)}")
    table = table.slice(0, max_rows)
    return np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(float)
                            for n in names])


def explainer_for(model: Model, stack: Any = None, *, background: Any = None) -> Any:
    """An :class:`~lamina_explain_shap.explain.Explainer` for ``model`` with the stack's
    options (background data, class)."""
    from lamina_explain_shap.explain import Explainer

    options = _options(stack)
    if background is None and options.background:
        background = read_background(stack, options.background, model,
                                     max_rows=options.max_rows)
    return Explainer(model, background=background,
                     class_index=None if options.class_index < 0 else options.class_index)


@hookimpl
def lamina_model_actions(stack: Any) -> dict[str, Any]:
    def factory(model: Model) -> Any:
        return explainer_for(model, stack).handle

    return {"explain": factory}


# ---------------------------------------------------------------------- global importance


def _record_key(ref: str) -> str:
    return f"{RECORD_PREFIX}/{ref.strip('/')}.json"


def explain_model(stack: Any, ref: str, data: Any, *, version: ModelVersion | None = None,
                  store: bool = True) -> dict[str, Any]:
    """Global feature importance of the model ``ref`` (``FLOW/RUN/STEP``) over ``data``
    (a file path, or rows ``[N, F]``): mean |SHAP| per feature, most important first,
    stored in the datastore beside the model unless ``store`` is False."""
    loaded = resolve_model(stack, ref)
    options = _options(stack)
    rows = (read_background(stack, data, loaded.model, max_rows=options.max_rows)
            if isinstance(data, str) else data)
    from lamina_explain_shap.explain import global_importance

    explainer = explainer_for(loaded.model, stack, background=rows)
    importance = global_importance(explainer, rows)
    result = {
        "ref": loaded.ref, "model": version.name if version else "",
        "version": version.version if version else None,
        "explainer": explainer.kind, "output": explainer.output_name, "rows": len(rows),
        "data": data if isinstance(data, str) else "",
        "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "importance": [{"feature": f, "mean_abs_shap": v} for f, v in importance],
    }
    if store:
        stack.datastore.put_record(_record_key(loaded.ref), json.dumps(result, indent=1).encode())
    return result


def stored_importance(stack: Any, ref: str) -> dict[str, Any] | None:
    """The global importance stored for the model ``ref`` (``FLOW/RUN/STEP``, a registered
    version's ``ref``), or None."""
    data = stack.datastore.get_record(_record_key(ref))
    return json.loads(data) if data else None


@hookimpl
def lamina_model_registered(version: ModelVersion, stack: Any) -> None:
    options = _options(stack)
    if not (options.background and options.on_register):
        return
    try:
        explain_model(stack, version.ref, options.background, version=version)
    except Exception as exc:  # an explanation never fails a registration
        warnings.warn(f"explain_shap: no global importance for model {version.name} version "
                      f"{version.version}: {exc}", stacklevel=2)


# ---------------------------------------------------------------------- CLI


@hookimpl
def lamina_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="global SHAP feature importance of a model (added by lamina-explain-shap)",
        description="Compute the global feature importance (mean |SHAP| per feature) of the "
        "model a reference names (FLOW/RUN/STEP, what a registered version points at) over "
        "a data set, store it beside the model and print it; without --data, print the "
        "stored one. Tree and linear models.")
    parser.add_argument("ref", metavar="REF", help="the model: FLOW/RUN/STEP, or a registered "
                        "version: model:NAME@ALIAS, model:NAME/VERSION")
    parser.add_argument("--data", metavar="PATH", default=None,
                        help="a Parquet or CSV file with the model's input columns")
    parser.add_argument("--top", type=int, default=20, metavar="N",
                        help="show the N most important features (default 20)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_explain_command)


def _explain_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from lamina.registry import is_model_ref, resolve
    from lamina.sdk import Stack

    stack = Stack.load(getattr(args, "stack", None), config_file=getattr(args, "config", None))
    console = Console()
    version = None
    ref = args.ref
    if is_model_ref(ref):  # a registered version: its FLOW/RUN/STEP, and its name
        version = resolve(ref, stack=stack)
        ref = version.ref
    if args.data:
        result = explain_model(stack, ref, args.data, version=version)
    else:
        found = stored_importance(stack, ref)
        if found is None:
            raise LaminaError(f"no feature importance is stored for {args.ref!r}",
                              hint=f"lamina explain {args.ref} --data PATH computes it")
        result = found
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    table = Table(title=escape(f"{result['ref']}: mean |SHAP| over {result['rows']} rows "
                               f"({result['explainer']}, {result['output']})"))
    table.add_column("feature")
    table.add_column("mean |SHAP|", justify="right")
    for item in result["importance"][:args.top]:
        table.add_row(escape(item["feature"]), f"{item['mean_abs_shap']:.6g}")
    console.print(table)
    return 0
