"""The serving-backend conformance suite: :class:`ServingBackendSuite`."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest

from lamina.errors import LaminaError
from lamina.interfaces import ServingBackend
from lamina.testing.flows import missing_fixture, write_flow

MODEL_FLOW = '''\
import numpy as np

from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("FLOW_NAME")


def weighted_sum(settings, X):
    return np.asarray(X, dtype="float64").sum(axis=1) * settings["factor"]


@flow.step
def model(factor: float = 2.0) -> Model:
    X = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.25]])
    settings = {"factor": factor}
    schema = Schema.infer(X, weighted_sum(settings, X), input_names=["a", "b"],
                          output_names=["y"])
    return Model(settings, predict=weighted_sum, schema=schema)


@flow.step
def not_a_model(model) -> dict:
    return {"just": "a dict"}
'''


def _names(backend: Any) -> list[str]:
    return sorted(str(d["name"]) for d in backend.list_deployments())


class ServingBackendSuite:
    """Conformance of a :class:`lamina.interfaces.ServingBackend`.

    Override the ``serving_stack`` fixture to return (or yield) a :class:`lamina.Stack`
    whose ``serving`` component is the backend under test (its compute and datastore are
    used to train two small model versions first). Override :meth:`infer` when the
    endpoint is not reachable from the test (then skip that test with the reason).

    The contract, beyond the Protocol's docstrings:

    - A deployment's models are resolved before anything is started or written: a
      reference to no run raises :class:`lamina.serving.ModelRefError`, to a step whose
      value is not a :class:`lamina.serving.Model`,
      :class:`lamina.serving.ModelNotServableError` (both :class:`lamina.errors.LaminaError`)
      and nothing is deployed.
    - ``deploy(dry_run=True)`` returns a non-empty description naming the deployment and
      changes nothing (``list_deployments`` is as before).
    - ``deploy`` returns the endpoint; deploying the same name again replaces the
      deployment (one entry, the new models).
    - ``list_deployments`` returns one mapping per deployment with at least ``name``.
    - ``undeploy`` removes the deployment; undeploying a name that is not deployed raises a
      ``LaminaError`` naming it.
    - The endpoint answers an Open Inference Protocol (V2) request with the model's
      outputs.
    """

    @pytest.fixture
    def serving_stack(self) -> Any:
        """A stack whose ``serving`` component is the backend under test. Override it."""
        missing_fixture(self, "serving_stack",
                        'yield lamina.load_stack("mine", cwd=project_folder)')

    @pytest.fixture
    def models(self, serving_stack: Any) -> tuple[str, str, str]:
        """Two model versions (factor 2 and 3) and a step that is not a model, trained on
        the stack: their ``FLOW/RUN/STEP`` references."""
        name = f"conformance_model_{uuid.uuid4().hex[:8]}"
        flow = write_flow(serving_stack.project_root, f"{name}.py",
                          MODEL_FLOW.replace("FLOW_NAME", name))
        first = flow.run(stack=serving_stack)
        second = flow.run(stack=serving_stack, factor=3.0)
        return (f"{name}/{first.id}/model", f"{name}/{second.id}/model",
                f"{name}/{first.id}/not_a_model")

    def infer(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST an inference request to ``{endpoint}/infer`` and return the JSON answer."""
        request = urllib.request.Request(
            f"{endpoint.rstrip('/')}/infer", data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def _deployment(self, name: str, *models: tuple[str, str, float]) -> Any:
        from lamina.serving import Deployment, Variant

        return Deployment(name, tuple(Variant(v, ref, w) for v, ref, w in models))

    def test_it_is_a_serving_backend(self, serving_stack: Any) -> None:
        backend = serving_stack.component("serving")
        assert isinstance(backend, ServingBackend), (
            f"{type(backend).__name__} lacks methods of lamina.interfaces.ServingBackend"
        )
        summary = backend.check()
        assert isinstance(summary, str) and summary.strip()
        assert isinstance(backend.list_deployments(), list)

    def test_a_dry_run_changes_nothing(self, serving_stack: Any, models: tuple) -> None:
        backend = serving_stack.component("serving")
        before = _names(backend)
        name = f"conf-dry-{uuid.uuid4().hex[:6]}"
        text = backend.deploy(self._deployment(name, ("a", models[0], 70), ("b", models[1], 30)),
                              dry_run=True)
        assert isinstance(text, str) and name in text
        assert _names(backend) == before

    def test_unresolvable_models_are_refused_before_anything_starts(
        self, serving_stack: Any, models: tuple
    ) -> None:
        from lamina.serving import ModelNotServableError, ModelRefError

        backend = serving_stack.component("serving")
        before = _names(backend)
        flow = models[0].split("/")[0]
        bad_refs = [(f"{flow}/20200101T000000000-000000/model", ModelRefError),
                    ("no_such_flow/latest/model", ModelRefError),
                    (models[2], ModelNotServableError)]
        for ref, error in bad_refs:
            for dry_run in (True, False):
                with pytest.raises(error) as info:
                    backend.deploy(self._deployment("conf-bad", ("a", ref, 100)),
                                   dry_run=dry_run)
                assert isinstance(info.value, LaminaError)
        assert _names(backend) == before, "nothing was deployed"

    def test_deploy_replace_list_and_undeploy(self, serving_stack: Any, models: tuple) -> None:
        backend = serving_stack.component("serving")
        name = f"conf-{uuid.uuid4().hex[:6]}"
        endpoint = backend.deploy(self._deployment(name, ("a", models[0], 100)))
        try:
            assert isinstance(endpoint, str) and endpoint.strip()
            assert name in _names(backend)
            again = backend.deploy(self._deployment(name, ("a", models[0], 50),
                                                    ("b", models[1], 50)))
            assert isinstance(again, str) and again.strip()
            assert _names(backend).count(name) == 1, "a redeploy replaces, never duplicates"
        finally:
            backend.undeploy(name)
        assert name not in _names(backend)
        with pytest.raises(LaminaError) as info:
            backend.undeploy(name)
        assert name in str(info.value)

    def test_the_endpoint_answers_an_inference_request(
        self, serving_stack: Any, models: tuple
    ) -> None:
        backend = serving_stack.component("serving")
        name = f"conf-infer-{uuid.uuid4().hex[:6]}"
        endpoint = backend.deploy(self._deployment(name, ("a", models[1], 100)))
        try:
            answer = self.infer(endpoint, {"id": "conformance-1", "inputs": [
                {"name": "a", "datatype": "FP64", "shape": [2], "data": [1.0, 10.0]},
                {"name": "b", "datatype": "FP64", "shape": [2], "data": [2.0, 20.0]},
            ]})
        finally:
            backend.undeploy(name)
        outputs = {o["name"]: o for o in answer["outputs"]}
        assert outputs["y"]["data"] == [9.0, 90.0], answer  # (a + b) * 3
