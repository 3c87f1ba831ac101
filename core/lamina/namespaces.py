"""Namespaces, projects and branches: who a run belongs to, and which copy of a deployed
application a name refers to.

A run without a project belongs to its user's namespace (``user:alice``). A flow with a
project runs on a branch of it: the user's own branch by default, a named branch
(``--branch NAME``) or production (``--production``), and its runs belong to
``project:churn/branch:NAME``. Every layer that names something it deploys or writes
(an orchestrator's job, a serving deployment, a feature materialization, a monitoring
output) qualifies the name with :meth:`Branch.qualify`, so the same flow deployed from
three branches runs side by side without touching the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from lamina.errors import ConfigError

#: The branch name production runs use.
PRODUCTION_BRANCH = "prod"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def check_name(value: str, what: str) -> str:
    """``value`` if it is a valid project or branch name, else a :class:`ConfigError`
    naming it: letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit,
    at most 63 characters (so it fits a DNS label and an Airflow DAG id)."""
    if not _NAME.match(value):
        raise ConfigError(
            f"{what} {value!r} is not a valid name",
            hint="use letters, digits, '_', '.' and '-', starting with a letter or digit, "
            "at most 63 characters",
        )
    return value


@attrs.frozen
class Branch:
    """Where a run or a deployment lives: its user, and its project branch if any.

    :param user: who acts (``LAMINA_USER``, else the login name).
    :param project: the project, ``""`` when the flow has none.
    :param name: the branch within the project (``""`` without a project).
    :param production: True only for the production branch, chosen explicitly.
    """

    user: str
    project: str = ""
    name: str = ""
    production: bool = False

    @property
    def namespace(self) -> str:
        """The namespace runs of this branch are recorded in: ``user:alice`` without a
        project, ``project:churn/branch:prod`` with one."""
        if not self.project:
            return f"user:{self.user}"
        return f"project:{self.project}/branch:{self.name}"

    def qualify(self, base: str, sep: str = ".") -> str:
        """``base`` made unique to this branch: ``churn.alice.base`` (with ``sep``
        between the parts); unchanged without a project, so single-user names stay as
        they were."""
        if not self.project:
            return base
        return sep.join((self.project, self.name, base))


def user_namespace(user: str) -> str:
    """The namespace of ``user``'s runs that have no project: ``user:NAME``."""
    return f"user:{user}"


def user_branch_name(user: str) -> str:
    """The branch a user's runs of a project go to by default: the user name made a
    valid branch name (``Alice Smith`` -> ``Alice-Smith``), never the production one."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", user).strip("-._")[:63] or "user"
    return f"user-{name}"[:63] if name == PRODUCTION_BRANCH else name


def resolve_branch(
    *, user: str, project: str | None, branch: str | None = None, production: bool = False
) -> Branch:
    """The branch a command acts for, from the project (config ``project =`` or
    ``Flow(project=)``) and the ``--branch NAME`` / ``--production`` choice.

    Without a project there is no branch: asking for one is an error, because a name
    that silently meant nothing would deploy over someone else's.
    """
    if not project:
        if branch or production:
            flag = "--production" if production else f"--branch {branch}"
            raise ConfigError(
                f"{flag} needs a project, and this flow has none",
                hint='set project = "NAME" at the top of lamina.toml, or Flow(..., project="NAME")',
            )
        return Branch(user=user)
    check_name(project, "project")
    if production:
        if branch and branch != PRODUCTION_BRANCH:
            raise ConfigError(
                f"--production and --branch {branch} name two branches",
                hint="production is its own branch: give one of them",
            )
        return Branch(user=user, project=project, name=PRODUCTION_BRANCH, production=True)
    if branch:
        check_name(branch, "branch")
        if branch == PRODUCTION_BRANCH:
            raise ConfigError(
                f"branch {PRODUCTION_BRANCH!r} is production",
                hint="deploying to production is explicit: use --production",
            )
        return Branch(user=user, project=project, name=branch)
    return Branch(user=user, project=project, name=user_branch_name(user))


#: The prefix of a user's namespace, and of a project branch's.
USER_PREFIX = "user:"
PROJECT_PREFIX = "project:"


def record_namespace(namespace: str, user: str) -> str:
    """The namespace a run record belongs to: its own, or for a record written before
    namespaces existed (``namespace == ""``) its user's (``user:NAME``)."""
    return namespace or user_namespace(user)


def check_namespace(namespace: str) -> str:
    """``namespace`` if it is well formed (``user:NAME`` or
    ``project:PROJECT/branch:BRANCH``), else a :class:`ConfigError` naming it."""
    if namespace.startswith(USER_PREFIX) and len(namespace) > len(USER_PREFIX):
        return namespace
    match = re.match(r"^project:([^/]+)/branch:(.+)$", namespace)
    if match:
        check_name(match.group(1), "project")
        check_name(match.group(2), "branch")
        return namespace
    raise ConfigError(
        f"namespace {namespace!r} is not a namespace",
        hint="user:NAME or project:PROJECT/branch:BRANCH (None, or --all, for every namespace)",
    )


def branch_to_dict(branch: Branch) -> dict[str, object]:
    """``branch`` as JSON: what a run manifest, a recorded stack and a deployment record
    carry (``user``, ``project``, ``name``, ``production``, ``namespace``), so a process
    started by an engine (an Airflow task, a served model) acts for the branch that
    started it."""
    return {
        "user": branch.user, "project": branch.project, "name": branch.name,
        "production": branch.production, "namespace": branch.namespace,
    }


def branch_from_dict(data: object) -> Branch | None:
    """The :class:`Branch` :func:`branch_to_dict` wrote, or None for a record without
    one (written before branches were recorded). Also reads a deployment stamp
    (``deployed_by`` for the user, ``branch`` for the name) and records written with
    the ``branch`` key."""
    if not isinstance(data, Mapping):
        return None
    user = data.get("user") or data.get("deployed_by") or ""
    if not user and not data.get("project"):
        return None
    return Branch(
        user=str(user), project=str(data.get("project") or ""),
        name=str(data.get("name") or data.get("branch") or ""),
        production=bool(data.get("production")),
    )
