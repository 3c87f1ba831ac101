"""What a flow or a step may be called.

Both names become parts of run references (``RUN/STEP/INDEX``), datastore keys and
orchestrator job names, so they use letters, digits, ``-``, ``_`` and ``.`` only, do not
start with a dot (``.`` and ``..`` are path parts, not names) and are at most 128
characters long. A step is also not called ``latest`` (``FLOW/latest`` names a run).
"""

from __future__ import annotations

import re

from lamina.errors import FlowDefinitionError

__all__ = ["MAX_NAME", "check_flow_name", "check_step_name", "name_problem"]

#: The longest flow or step name.
MAX_NAME = 128
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a flow or a step, or None when it can."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long (at most {MAX_NAME})"
    if name.startswith("."):
        return "must not start with '.' ('.' and '..' are path parts, not names)"
    if not _NAME.fullmatch(name):
        return "must use only letters, digits, '-', '_' and '.' (no '/', space or other sign)"
    return None


def check_flow_name(name: object) -> str:
    """``name`` when it can name a flow.

    :raises lamina.errors.FlowDefinitionError: it cannot; the message says why.
    """
    problem = name_problem(name)
    if problem is not None:
        raise FlowDefinitionError(f"flow name {name!r} {problem}", hint='e.g. Flow("churn")')
    return str(name)


def check_step_name(name: object, *, flow: str = "", where: str = "") -> str:
    """``name`` when it can name a step of ``flow``.

    :raises lamina.errors.FlowDefinitionError: it cannot; the message names the flow, the
        step's definition (``file:line``) and why.
    """
    problem = name_problem(name)
    if problem is None and name == "latest":
        problem = "is reserved ('FLOW/latest' names a flow's newest run)"
    if problem is not None:
        at = f" ({where})" if where else ""
        raise FlowDefinitionError(
            f"flow {flow!r}: step name {name!r}{at} {problem}",
            hint="name the function differently, or pass name='train_model' to @flow.step",
        )
    return str(name)
