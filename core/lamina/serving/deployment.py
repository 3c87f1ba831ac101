"""Hand a deployment to the stack's serving backend (what ``lamina deploy SPEC`` calls)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.serving.spec import Deployment, load_spec

if TYPE_CHECKING:
    from lamina.stack import Stack


def serving_backend(stack: Stack) -> Any:
    """The stack's serving component; the builtin ``local`` one when the stack names none
    (the embedded default, like the file datastore)."""
    if stack.has("serving"):
        return stack.component("serving")
    from lamina.config.options import build_options

    spec = stack.plugins.find_component("serving", "local")
    return spec.factory(build_options(spec.config, {}), stack)


def deploy(deployment: Deployment, stack: Stack | str | None = None, *, dry_run: bool = False) -> str:
    """Deploy with the stack's serving backend; return the endpoint (or, with ``dry_run``,
    what would be deployed)."""
    from lamina.stack import resolve_stack

    return serving_backend(resolve_stack(stack)).deploy(deployment, dry_run=dry_run)


def deploy_from_file(path: str | Path, stack: Stack | str | None, *, dry_run: bool = False) -> str:
    """Read a deployment spec file (TOML, see :mod:`lamina.serving.spec`) and deploy it on
    the stack's serving backend. Returns the endpoint URL, or with ``dry_run`` the text of
    what would be deployed (nothing is started or applied)."""
    return deploy(load_spec(path), stack, dry_run=dry_run)
