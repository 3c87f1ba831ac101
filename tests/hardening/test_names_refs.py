"""Flow and step names, and run references: refused early with a clear message
(fixed cases from the hardening trials, then Hypothesis over arbitrary text)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lamina import Flow
from lamina.client import split_ref
from lamina.errors import FlowDefinitionError, LaminaError
from lamina.flow.names import name_problem

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
_OK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


@pytest.mark.parametrize("name", ["a/b", "../x", "", ".", "..", "a b", "x\n", "latest"])
def test_bad_step_names_are_refused_at_definition(name: str) -> None:
    flow = Flow("names")
    with pytest.raises(FlowDefinitionError) as info:
        @flow.step(name=name)
        def step() -> int:
            return 1
    message = str(info.value)
    assert "flow 'names': step name" in message and repr(name) in message
    assert "test_names_refs.py:" in message  # where the step is defined
    assert not flow.steps


@pytest.mark.parametrize("name", [".", "..", "", "a/b", ".hidden", "x" * 129])
def test_bad_flow_names_are_refused(name: str) -> None:
    with pytest.raises(FlowDefinitionError, match="flow name"):
        Flow(name)


def test_good_names_still_work() -> None:
    flow = Flow("churn.v2-final_1")

    @flow.step(name="train.v2")
    def step() -> int:
        return 1

    assert list(flow.steps) == ["train.v2"]


@given(st.text(max_size=140))
@example("..")
@example("a/b")
@example("a\x00b")
@example("é")
@FUZZ
def test_name_rule_is_exactly_the_documented_one(name: str) -> None:
    ok = name_problem(name) is None
    assert ok == bool(_OK_NAME.fullmatch(name))
    if ok:
        Flow(name)
    else:
        with pytest.raises(FlowDefinitionError):
            Flow(name)


@pytest.mark.parametrize("ref", ["RUN/step/0/extra", "RUN/step/ 0", "RUN/step/+0", "RUN/step/0_0",
                                 "RUN/step/-1", "RUN/step/٣", "RUN//0", "/RUN", "RUN/", ""])
def test_malformed_references_are_refused(ref: str) -> None:
    with pytest.raises(LaminaError):
        split_ref(ref)


_part = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=12)


@given(st.lists(_part, min_size=1, max_size=6).map("/".join))
@example("r/s/0/extra")
@example("f/latest/s/0/x")
@example("r/s/00")
@FUZZ
def test_split_ref_either_refuses_or_round_trips(ref: str) -> None:
    try:
        run, step, index = split_ref(ref)
    except LaminaError as exc:
        assert exc.hint  # every refusal says how to write it
        return
    pieces = ref.strip().split("/")
    assert 1 <= len(pieces) <= 4 and all(pieces)
    assert "/".join(pieces[: len(pieces) - (index is not None)]) == "/".join(
        p for p in (run, step) if p is not None)
    if index is not None:
        assert pieces[-1].isascii() and pieces[-1].isdigit() and int(pieces[-1]) == index
