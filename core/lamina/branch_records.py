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
- :func:`branch_to_record` / :func:`branch_from_record`: the branch as JSON, so a process
  started by an engine (an Airflow task, a served model) acts for the branch that deployed
  it. A recorded stack (``manifest["stack"]["branch"]``) and a flow's deployment record
  (``deployments/FLOW/ID.json``, key ``branch``) carry it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from lamina.errors import ConfigError
from lamina.namespaces import Branch

__all__ = [
    "branch_from_record",
    "branch_to_record",
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


def branch_to_record(branch: Branch) -> dict[str, Any]:
    """The branch as JSON: ``user``, ``project``, ``branch``, ``production``,
    ``namespace``."""
    return {
        "user": branch.user,
        "project": branch.project,
        "branch": branch.name,
        "production": branch.production,
        "namespace": branch.namespace,
    }


def branch_from_record(record: Mapping[str, Any] | None) -> Branch | None:
    """The branch :func:`branch_to_record` (or :func:`deployed_stamp`) wrote, or None when
    ``record`` holds none (a record written before branches)."""
    if not record or not isinstance(record, Mapping):
        return None
    user = record.get("user") or record.get("deployed_by") or ""
    if not user and not record.get("project"):
        return None
    return Branch(
        user=str(user),
        project=str(record.get("project") or ""),
        name=str(record.get("branch") or ""),
        production=bool(record.get("production", False)),
    )


def deployed_stamp(branch: Branch, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Who deployed, when, for which branch: what a deployment record keeps
    (``deployed_by``, ``deployed_at`` ISO UTC, ``project``, ``branch``, ``namespace``,
    ``production``)."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    record = branch_to_record(branch)
    return {
        "deployed_by": record.pop("user"),
        "deployed_at": when.isoformat(timespec="seconds"),
        **record,
    }


def describe_stamp(stamp: Mapping[str, Any]) -> str:
    """One line for people: ``production branch of churn, deployed by alice at ...``."""
    who = f"deployed by {stamp.get('deployed_by') or '?'} at {stamp.get('deployed_at') or '?'}"
    if not stamp.get("project"):
        return f"{who} (no project: the user's own namespace)"
    where = (f"production branch of project {stamp['project']}" if stamp.get("production")
             else f"branch {stamp.get('branch')} of project {stamp['project']}")
    return f"{where}, {who}"
