"""Hand a deployment to the stack's serving backend (what ``lamina deploy SPEC`` calls).

A deployment belongs to the stack's branch (``stack.branch``): its name is qualified by
it (``churn-alice-movies``), so are its prediction log (``predictions/<name>/``) and
everything the backend creates from the name, and it is stamped with who deployed it and
when (``Deployment.deployed``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.serving.spec import Deployment, load_spec

if TYPE_CHECKING:
    from lamina.namespaces import Branch
    from lamina.stack import Stack


def for_branch(deployment: Deployment, branch: Branch) -> Deployment:
    """``deployment`` as ``branch`` deploys it: the name qualified for the branch as a
    DNS label (``churn-alice-movies``; unchanged without a project) and ``deployed``
    stamped (who, when, which branch, production or not). A deployment already stamped
    is returned as it is, so a spec handed on to a server process is not qualified twice.
    """
    import attrs

    from lamina.branch_records import deployed_stamp, dns_label

    if deployment.deployed:
        return deployment
    return attrs.evolve(
        deployment, name=dns_label(branch, deployment.name, "deployment name"),
        deployed=deployed_stamp(branch),
    )


def qualified_name(stack: Stack, name: str) -> str:
    """The name deployment ``name`` has on the stack's branch (what ``--stop NAME``,
    ``lamina ab report NAME`` and ``lamina monitor NAME`` look for): ``churn-alice-NAME``;
    a name that already carries the branch's prefix is kept as it is."""
    from lamina.branch_records import dns_label

    prefix = dns_label(stack.branch, "x")[:-1]
    if stack.branch.project and name.startswith(prefix):
        return name
    return dns_label(stack.branch, name, "deployment name")


def serving_backend(stack: Stack) -> Any:
    """The stack's serving component; the builtin ``local`` one when the stack names none
    (the embedded default, like the file datastore)."""
    if stack.has("serving"):
        return stack.component("serving")
    from lamina.config.options import build_options

    spec = stack.plugins.find_component("serving", "local")
    return spec.factory(build_options(spec.config, {}), stack)


def pin_models(deployment: Deployment, stack: Stack, *, force: bool = False) -> Deployment:
    """``deployment`` for ``stack``'s branch with its registry references
    (``model:churn@champion``) resolved to versions and recorded in
    ``deployed["models"]``; a version whose gate failed is refused unless ``force``
    (see :func:`lamina.registry.pin_deployment`)."""
    from lamina.registry import pin_deployment

    return pin_deployment(for_branch(deployment, stack.branch), stack,  # type: ignore[no-any-return]
                          force=force)


def deploy(deployment: Deployment, stack: Stack | str | None = None, *, dry_run: bool = False,
           force: bool = False) -> str:
    """Deploy with the stack's serving backend for the stack's branch (see
    :func:`for_branch`); return the endpoint (or, with ``dry_run``, what would be
    deployed). Registry references (``model:churn@champion``) are resolved now and the
    versions recorded (:func:`pin_models`); ``force`` deploys a version whose checks
    failed, recorded as forced."""
    from lamina.stack import resolve_stack

    resolved = resolve_stack(stack)
    deployment = pin_models(deployment, resolved, force=force)
    return serving_backend(resolved).deploy(deployment, dry_run=dry_run)


def deploy_from_file(path: str | Path, stack: Stack | str | None, *, dry_run: bool = False,
                     force: bool = False) -> str:
    """Read a deployment spec file (TOML, see :mod:`lamina.serving.spec`) and deploy it on
    the stack's serving backend. Returns the endpoint URL, or with ``dry_run`` the text of
    what would be deployed (nothing is started or applied)."""
    return deploy(load_spec(path), stack, dry_run=dry_run, force=force)
