"""Authoring: wiring by name and every validation error, before a single task starts."""

from __future__ import annotations

import inspect

import pytest

from lamina import Flow
from lamina.errors import FlowDefinitionError, ParameterError


def _line(fn) -> str:
    return f"{inspect.getsourcefile(fn)}:{fn.__code__.co_firstlineno}"


def make_churn() -> Flow:
    flow = Flow("churn")

    @flow.step
    def countries() -> list[str]:
        return ["fi", "se", "no"]

    @flow.step
    def raw(path: str = "data.parquet") -> str:
        return path

    @flow.step(foreach="countries")
    def model(raw: str, countries: str, alpha: float = 0.1) -> tuple:
        return (raw, countries, alpha)

    @flow.step
    def best(model: list) -> tuple:
        return max(model)

    return flow


def test_wiring_by_name_builds_the_dag() -> None:
    graph = make_churn().validate()
    assert graph.order == ("countries", "raw", "model", "best")
    assert {p: (i.source, i.kind) for p, i in graph.inputs["model"].items()} == {
        "raw": ("raw", "value"),
        "countries": ("countries", "element"),
    }
    assert graph.inputs["best"]["model"].kind == "list"
    assert graph.params == {"path": "data.parquet", "alpha": 0.1}
    assert graph.flow_params["alpha"].used_by == ("model",)


def test_steps_stay_plain_functions() -> None:
    flow = Flow("plain")

    @flow.step(retries=2)
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert flow.steps["double"].fn is double
    assert flow.steps["double"].options.retries == 2


def test_given_params_override_defaults() -> None:
    assert make_churn().validate(alpha=0.3).params["alpha"] == 0.3


def test_unknown_parameter_is_named_with_suggestion() -> None:
    with pytest.raises(ParameterError) as err:
        make_churn().validate(alpah=0.3)
    assert "no parameter 'alpah'" in str(err.value)
    assert "did you mean 'alpha'" in str(err.value)


def test_setting_a_step_as_parameter_is_explained() -> None:
    with pytest.raises(ParameterError, match="'raw' is a step, not a parameter"):
        make_churn().validate(raw=1)


def test_missing_required_parameter_names_step_and_fix() -> None:
    flow = Flow("f")

    @flow.step
    def load(path: str) -> str:
        return path

    with pytest.raises(ParameterError) as err:
        flow.validate()
    message = str(err.value)
    assert "flow parameter 'path' of step 'load'" in message
    assert _line(load) in message
    assert "--set path=VALUE" in message


def test_misspelled_input_suggests_the_step() -> None:
    flow = Flow("f")

    @flow.step
    def features() -> int:
        return 1

    @flow.step
    def train(featrues: int) -> int:
        return featrues

    with pytest.raises(ParameterError, match="did you mean 'features'"):
        flow.validate()


def test_cycle_is_reported_with_each_step_and_location() -> None:
    flow = Flow("cyclic")

    @flow.step
    def a(b: int) -> int:
        return b

    @flow.step
    def b(a: int) -> int:
        return a

    with pytest.raises(FlowDefinitionError) as err:
        flow.validate()
    message = str(err.value)
    assert "cycle" in message
    assert _line(a) in message and _line(b) in message


def test_foreach_over_unknown_step() -> None:
    flow = Flow("f")

    @flow.step
    def countries() -> list[str]:
        return []

    @flow.step(foreach="contries")
    def model(contries: str) -> str:
        return contries

    with pytest.raises(FlowDefinitionError) as err:
        flow.validate()
    assert "step 'model'" in str(err.value)
    assert _line(model) in str(err.value)
    assert "did you mean 'countries'" in str(err.value)


def test_foreach_without_parameter_to_receive_element() -> None:
    flow = Flow("f")

    @flow.step
    def items() -> list[int]:
        return [1]

    @flow.step(foreach="items")
    def use() -> int:
        return 1

    with pytest.raises(FlowDefinitionError, match="add a parameter named 'items' to use"):
        flow.validate()


def test_foreach_over_annotated_non_iterable_is_caught_statically() -> None:
    flow = Flow("f")

    @flow.step
    def count() -> int:
        return 3

    @flow.step(foreach="count")
    def use(count: int) -> int:
        return count

    with pytest.raises(FlowDefinitionError) as err:
        flow.validate()
    assert "cannot be iterated" in str(err.value)
    assert _line(use) in str(err.value)
    assert "return a list" in str(err.value)


def test_type_mismatch_between_producer_and_consumer() -> None:
    flow = Flow("f")

    @flow.step
    def name() -> str:
        return "x"

    @flow.step
    def use(name: int) -> int:
        return name

    with pytest.raises(FlowDefinitionError) as err:
        flow.validate()
    assert "annotated int" in str(err.value) and "annotated str" in str(err.value)
    assert _line(use) in str(err.value) and _line(name) in str(err.value)


def test_foreach_results_must_be_taken_as_list() -> None:
    flow = Flow("f")

    @flow.step
    def items() -> list[int]:
        return [1]

    @flow.step(foreach="items")
    def each(items: int) -> int:
        return items

    @flow.step
    def join(each: int) -> int:
        return each

    with pytest.raises(FlowDefinitionError, match="as a list"):
        flow.validate()


def test_element_type_checked_against_list_annotation() -> None:
    flow = Flow("f")

    @flow.step
    def items() -> list[str]:
        return ["a"]

    @flow.step(foreach="items")
    def each(items: int) -> int:
        return items

    with pytest.raises(FlowDefinitionError, match="each element of"):
        flow.validate()


def test_conflicting_defaults_of_one_parameter() -> None:
    flow = Flow("f")

    @flow.step
    def a(alpha: float = 0.1) -> float:
        return alpha

    @flow.step
    def b(alpha: float = 0.2) -> float:
        return alpha

    with pytest.raises(FlowDefinitionError, match="conflicting defaults"):
        flow.validate()


def test_duplicate_step_and_bad_options() -> None:
    flow = Flow("f")

    @flow.step
    def a() -> int:
        return 1

    with pytest.raises(FlowDefinitionError, match="defined twice"):

        @flow.step(name="a")
        def other() -> int:
            return 2

    with pytest.raises(FlowDefinitionError, match="retries must be >= 0"):
        flow.step(retries=-1)


def test_var_args_cannot_be_wired() -> None:
    flow = Flow("f")

    @flow.step
    def a(*things: int) -> int:
        return 1

    with pytest.raises(FlowDefinitionError, match="named parameters only"):
        flow.validate()


def test_empty_flow_and_bad_name() -> None:
    with pytest.raises(FlowDefinitionError, match="no steps"):
        Flow("empty").validate()
    with pytest.raises(FlowDefinitionError):
        Flow("bad name!")


def test_product_foreach_needs_both_parameters() -> None:
    flow = Flow("grid")

    @flow.step
    def xs() -> list[int]:
        return [1, 2]

    @flow.step
    def ys() -> list[int]:
        return [10, 20, 30]

    @flow.step(foreach=("xs", "ys"))
    def cell(xs: int, ys: int) -> int:
        return xs * ys

    graph = flow.validate()
    assert graph.inputs["cell"]["xs"].kind == "element"
    assert graph.inputs["cell"]["ys"].kind == "element"


def test_a_rerun_notebook_cell_replaces_its_step() -> None:
    flow = Flow("nb")
    namespace: dict = {"flow": flow, "__name__": "__main__"}
    cell = "@flow.step\ndef a() -> int:\n    return {}\n"
    exec(compile(cell.format(1), "<cell-1>", "exec"), namespace)
    exec(compile(cell.format(2), "<cell-2>", "exec"), namespace)  # the same cell, edited
    assert flow.steps["a"].fn() == 2
    exec(compile(cell.format(2), "<cell-2>", "exec"), namespace)  # run again unchanged
    assert flow.steps["a"].fn() == 2
    script = cell.format(3) + "\n" + cell.format(4)  # one file defining the step twice
    with pytest.raises(FlowDefinitionError, match="defined twice"):
        exec(compile(script, "<script>", "exec"), namespace)
