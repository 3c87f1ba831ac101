"""Branches and namespaces: the names every layer qualifies, and the choices refused."""

from __future__ import annotations

import pytest

from lamina.errors import ConfigError
from lamina.namespaces import Branch, resolve_branch, user_branch_name
from lamina.stack import Stack


def test_a_run_without_a_project_is_in_its_users_namespace() -> None:
    branch = resolve_branch(user="alice", project=None)
    assert branch == Branch(user="alice")
    assert branch.namespace == "user:alice"
    assert branch.qualify("churn") == "churn"


def test_a_projects_default_branch_is_the_users_own() -> None:
    branch = resolve_branch(user="Alice Smith", project="churn")
    assert branch.name == "Alice-Smith" and not branch.production
    assert branch.namespace == "project:churn/branch:Alice-Smith"
    assert branch.qualify("train", "-") == "churn-Alice-Smith-train"


def test_production_is_explicit_and_its_own_branch() -> None:
    prod = resolve_branch(user="bob", project="churn", production=True)
    assert prod.production and prod.namespace == "project:churn/branch:prod"
    with pytest.raises(ConfigError, match="--production"):
        resolve_branch(user="bob", project="churn", branch="prod")
    assert user_branch_name("prod") == "user-prod"


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "-x", "x" * 64, "a b"])
def test_bad_branch_names_are_refused_by_name(bad: str) -> None:
    if not bad:
        assert resolve_branch(user="a", project="p", branch=bad).name == "a"
        return
    with pytest.raises(ConfigError, match="not a valid name"):
        resolve_branch(user="a", project="p", branch=bad)


def test_a_branch_without_a_project_says_how_to_set_one() -> None:
    with pytest.raises(ConfigError, match="needs a project") as err:
        resolve_branch(user="a", project=None, branch="test")
    assert "project =" in str(err.value)


def test_the_configs_project_gives_the_stack_its_branch(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAMINA_USER", "carol")
    (tmp_path / "lamina.toml").write_text('project = "churn"\n')
    stack = Stack.load(cwd=tmp_path)
    assert stack.branch.namespace == "project:churn/branch:carol"
    (tmp_path / "lamina.toml").write_text('project = "no/slash"\n')
    with pytest.raises(ConfigError, match=r"lamina.toml.*project 'no/slash'"):
        Stack.load(cwd=tmp_path)
