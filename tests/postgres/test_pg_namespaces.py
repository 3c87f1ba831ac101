"""Namespaces on the team store: alice and bob write to one PostgreSQL record and each
reads their own runs by default; the global view is one argument away."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_pg_flows import FLOW, team_config

from lamina import Client
from lamina.errors import NamespaceNotFoundError, OtherNamespaceError
from lamina.flow.loader import load_flow_file
from lamina.stack import Stack


def test_alice_and_bob_share_one_postgres_record(project, pg_url, pg_schema, monkeypatch):
    team_config(project, pg_url, pg_schema)
    flow = load_flow_file(str(FLOW))
    runs = {}
    for user in ("alice", "bob"):
        monkeypatch.setenv("LAMINA_USER", user)
        stack = Stack.load("team", cwd=project)
        runs[user] = flow.run(stack=stack, n=3)
        stack.close()
    for user in ("alice", "bob"):
        monkeypatch.setenv("LAMINA_USER", user)
        mine = Client(Stack.load("team", cwd=project))
        assert mine.latest_run("pgsquare").id == runs[user].id
        assert [r.id for r in mine.runs()] == [runs[user].id]
    everyone = Client(Stack.load("team", cwd=project), namespace=None)
    assert [r.id for r in everyone.runs("pgsquare")] == [runs["bob"].id, runs["alice"].id]
    assert everyone.namespaces() == ["user:alice", "user:bob"]
    with pytest.raises(OtherNamespaceError, match="'user:alice'"):
        Client(Stack.load("team", cwd=project)).run(runs["alice"].id)  # bob reads
    with pytest.raises(NamespaceNotFoundError, match="did you mean 'user:alice'"):
        Client(Stack.load("team", cwd=project), namespace="user:alica").runs()
    listed = subprocess.run(
        [sys.executable, "-m", "lamina", "runs", "--stack", "team", "--all"], cwd=project,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "LAMINA_USER": "carol"},
    )
    assert listed.returncode == 0, listed.stderr
    assert "user:alice" in listed.stdout and "user:bob" in listed.stdout
