"""What a branch leaves on what it deploys: qualified names, and who deployed it, when.

Every layer names what it deploys or writes with :meth:`lamina.namespaces.Branch.qualify`
(an Airflow DAG id ``churn.alice.movies``, a serving deployment ``churn-alice-movies``, an
online-store table, a monitoring report). This module holds the few pieces those layers
share:

- :func:`dns_label`: the qualified name as a DNS-1123 label (serving deployments,
  Kubernetes objects);
- :func:`deployed_stamp`: the ``deployed_by`` / ``deployed_at`` / ``branch`` /
  ``production`` record a deployment keeps (deploying to production is explicit and
  recorded);
- the branch as JSON is :func:`lamina.namespaces.branch_to_dict` /
  :func:`lamina.namespaces.branch_from_dict`, which also reads a deployment stamp.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from lamina.errors import ConfigError
from lamina.namespaces import Branch

__all__ = [
    "deployed_stamp",
    "describe_stamp",
    "dns_label",
]


def dns_label(branch: Branch, base: str, what: str = "name") -> str:
    """``base`` qualified for ``branch`` as a DNS-1123 label (lowercase letters, digits
    and ``-``): ``churn-alice-movies``; ``base`` unchanged without a project.

    :raises lamina.errors.ConfigError: the qualified name is longer than 63 characters.
    """
    if not branch.project:
        return base
    label = re.sub(r"[^a-z0-9-]+", "-", branch.qualify(base, "-").lower())
    label = re.sub(r"-{2,}", "-", label).strip("-")
    if len(label) > 63:
        raise ConfigError(
            f"{what} {base!r} on branch {branch.name!r} of project {branch.project!r} "
            f"becomes {label!r}, longer than the 63 characters a DNS name allows",
            hint="use a shorter project, branch or deployment name",
        )
    return label


def deployed_stamp(branch: Branch, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Who deployed, when, for which branch: what a deployment record keeps
    (``deployed_by``, ``deployed_at`` ISO UTC, ``project``, ``branch``, ``namespace``,
    ``production``)."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "deployed_by": branch.user,
        "deployed_at": when.isoformat(timespec="seconds"),
        "project": branch.project,
        "branch": branch.name,
        "production": branch.production,
        "namespace": branch.namespace,
    }


def describe_stamp(stamp: Mapping[str, Any]) -> str:
    """One line for people: ``production branch of churn, deployed by alice at ...``."""
    who = f"deployed by {stamp.get('deployed_by') or '?'} at {stamp.get('deployed_at') or '?'}"
    if not stamp.get("project"):
        return f"{who} (no project: the user's own namespace)"
    where = (f"production branch of project {stamp['project']}" if stamp.get("production")
             else f"branch {stamp.get('branch')} of project {stamp['project']}")
    return f"{where}, {who}"
