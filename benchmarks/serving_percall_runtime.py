"""MLServer runtime of the serving benchmark's "1 ms per call" model.

The same model as the lamina flow step of ``serving_throughput.py``: predict costs 1 ms
per call whatever the batch size (a blocking sleep, like a remote call or a GPU launch),
and answers each row's sum. MLServer imports this file from the model's folder
(``"implementation": "serving_percall_runtime.PerCallModel"``); with ``max_batch_size``
and ``max_batch_time`` in model-settings.json its adaptive batcher stacks requests into
one predict call, as lamina's ``--max-batch-size`` does.
"""

from __future__ import annotations

import time

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

#: The cost of one predict call, in seconds.
PER_CALL_SECONDS = 0.001


class PerCallModel(MLModel):
    """A model whose predict costs 1 ms per call, for any number of rows."""

    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        X = NumpyCodec.decode_input(payload.inputs[0])
        time.sleep(PER_CALL_SECONDS)
        y = X.sum(axis=1)
        return InferenceResponse(model_name=self.name, id=payload.id,
                                 outputs=[NumpyCodec.encode_output("predict", y)])
