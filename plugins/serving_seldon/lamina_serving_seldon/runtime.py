"""An MLServer runtime that serves a lamina model straight from a lamina datastore.

``model-settings.json``::

    {
      "name": "iris",
      "implementation": "lamina_serving_seldon.runtime.LaminaRuntime",
      "parameters": {
        "uri": "s3://bucket/lamina",                       # the datastore URL
        "extra": {"artifact": {"key": "...", "serializer": "pickle", "size": 1234},
                  "model": "iris/20261127T.../model"}      # the resolved FLOW/RUN/STEP
      }
    }

The artifact is read through lamina's datastore plugins (content hash checked), so there is
no export step; the request is checked against the schema recorded at training time, and a
request that does not fit gets HTTP 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput

from lamina.sdk import LaminaError, Model, PayloadError, load_artifact


class LaminaRuntime(MLModel):
    """Loads a :class:`lamina.serving.Model` and answers V2 inference requests with it."""

    async def load(self) -> bool:
        params = self.settings.parameters
        extra: dict[str, Any] = dict((params.extra if params else None) or {})
        url = (params.uri if params else None) or extra.get("datastore")
        artifact = extra.get("artifact")
        if not url or not artifact:
            raise MLServerError(
                f"model {self.name!r}: parameters.uri (the lamina datastore URL) and "
                "parameters.extra.artifact are required; `lamina deploy` writes them"
            )
        self._ref = str(extra.get("model", ""))
        self._model: Model = load_artifact(url, artifact, ref=self._ref)
        self._predict = self._model.bind()
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = [
            {"name": t.name, "datatype": t.datatype, "shape": list(t.shape),
             "data": t.data.root if hasattr(t.data, "root") else t.data}
            for t in payload.inputs
        ]
        try:
            outputs = self._model.predict(inputs)
        except PayloadError as exc:
            raise MLServerError(str(exc), status_code=400) from None
        except LaminaError as exc:
            raise MLServerError(str(exc), status_code=500) from None
        fields = {f.name: f for f in self._model.schema.outputs}
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            parameters={"model": self._ref} if self._ref else None,
            outputs=[
                ResponseOutput(name=name, shape=list(arr.shape), datatype=fields[name].datatype,
                               data=arr.ravel().tolist())
                for name, arr in outputs.items()
            ],
        )
