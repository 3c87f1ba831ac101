"""The OpenAPI 3.0 document of the routes the local model server answers
(``GET /v2/openapi.json``): the Open Inference Protocol (V2) REST routes of the one model
it serves, its A/B outcomes extension, and the metrics. Clients and API testers read it;
the server's own fuzz suite runs schemathesis against it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lamina.serving.schema import V2_TO_NUMPY, Schema

_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string"}, "id": {"type": "string"},
    "hint": {"type": "string"}}}
_OBJECT = {"type": "object", "additionalProperties": True}
_TENSOR_OUT: dict[str, Any] = {
    "type": "object", "required": ["name", "datatype", "shape", "data"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": list(V2_TO_NUMPY)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "array"},
    },
}
_TENSOR_IN = {**_TENSOR_OUT, "properties": {**_TENSOR_OUT["properties"], "parameters": _OBJECT}}
_METADATA_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"],
                    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                   "shape": {"type": "array", "items": {"type": "integer"}},
                                   "parameters": _OBJECT}}
_SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "InferenceRequest": {
        "type": "object", "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _OBJECT,
            "inputs": {"type": "array", "minItems": 1, "items": _TENSOR_IN},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": _OBJECT}}},
        },
    },
    "InferenceResponse": {
        "type": "object", "required": ["model_name", "id", "outputs"],
        "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                       "id": {"type": "string"}, "parameters": _OBJECT,
                       "outputs": {"type": "array", "items": _TENSOR_OUT}},
    },
    "ModelMetadata": {
        "type": "object", "required": ["name", "platform", "inputs", "outputs"],
        "properties": {"name": {"type": "string"},
                       "versions": {"type": "array", "items": {"type": "string"}},
                       "platform": {"type": "string"},
                       "inputs": {"type": "array", "items": _METADATA_TENSOR},
                       "outputs": {"type": "array", "items": _METADATA_TENSOR},
                       "parameters": _OBJECT},
    },
    "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                       "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                      "extensions": {"type": "array",
                                                     "items": {"type": "string"}}}},
    "Outcomes": {
        "type": "object", "required": ["outcomes"],
        "properties": {"outcomes": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["request_id", "outcome"],
            "properties": {"request_id": {"type": "string", "minLength": 1},
                           "outcome": {"type": "number"}}}}},
    },
    "Accepted": {"type": "object", "required": ["accepted"],
                 "properties": {"accepted": {"type": "integer"}}},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "the request breaks a rule (the error names the field and the rule)",
             401: "the server needs its token", 404: "no such model or version",
             408: "the body did not arrive in time", 413: "the body is too large",
             501: "the route's plugin cannot handle this model",
             503: "not ready, or no prediction log"}
    return {str(c): _json(words[c], "Error") for c in codes}


_ZERO = {"f": 0.0, "i": 0, "b": False, "s": ""}


def example_request(schema: Schema) -> dict[str, Any]:
    """A valid one-row inference request for ``schema`` (zeros): the document's example."""
    return {"inputs": [
        {"name": f.name, "datatype": f.datatype, "shape": [1, *f.shape],
         "data": [_ZERO[f.kind]] * math.prod(f.shape)}
        for f in schema.inputs
    ]}


def openapi_document(model: str, versions: list[str], *, schema: Schema | None = None,
                     token: bool = False, metrics: bool = True,
                     actions: Sequence[str] = ()) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a server serving ``model`` with ``versions`` (variants).

    :param schema: the model's schema, for a valid example request.
    :param token: whether the server needs a bearer token (then every route but the health
        checks declares it).
    :param actions: the model routes plugins add (``lamina_model_actions``), e.g. ``explain``.
    """
    auth = [401] if token else []
    base = f"/v2/models/{model}"
    version = {"name": "version", "in": "path", "required": True,
               "schema": {"type": "string", "enum": versions}}
    infer: dict[str, Any] = {
        "summary": "predict (the Open Inference Protocol's infer)",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("InferenceRequest"),
            **({"example": example_request(schema)} if schema is not None else {})}}},
        "responses": {"200": _json("the model's outputs", "InferenceResponse"),
                      **_errors(400, 408, 413, *auth)},
    }
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": {"summary": "the server is up", "security": [],
                                    "responses": {"200": {"description": "live"}}}},
        "/v2/health/ready": {"get": {"summary": "the models are loaded", "security": [],
                                     "responses": {"200": {"description": "ready"},
                                                   **_errors(503)}}},
        "/v2": {"get": {"summary": "server metadata",
                        "responses": {"200": _json("name, version, extensions",
                                                   "ServerMetadata"), **_errors(*auth)}}},
        base: {"get": {"summary": "model metadata (inputs, outputs, variants)",
                       "responses": {"200": _json("the schema", "ModelMetadata"),
                                     **_errors(*auth)}}},
        f"{base}/ready": {"get": {"summary": "the model is ready",
                                  "responses": {"200": {"description": "ready"},
                                                **_errors(503, *auth)}}},
        f"{base}/infer": {"post": infer},
        f"{base}/versions/{{version}}/infer": {"post": {**infer, "parameters": [version],
                                                        "responses": {**infer["responses"],
                                                                      **_errors(404)}}},
        f"{base}/outcomes": {"post": {
            "summary": "log outcomes of answered requests (the A/B report reads them)",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("Outcomes"),
                "example": {"outcomes": [{"request_id": "r-1", "outcome": 1}]}}}},
            "responses": {"200": _json("how many were accepted", "Accepted"),
                          **_errors(400, 408, 413, 503, *auth)}}},
        "/v2/openapi.json": {"get": {"summary": "this document",
                                     "responses": {"200": {"description": "OpenAPI 3.0"},
                                                   **_errors(*auth)}}},
    }
    for action in actions:
        route = {**infer, "summary": f"{action} (a plugin's route: the body of infer, an "
                 "answer of the plugin's own)",
                 "responses": {"200": {"description": "the plugin's answer", "content": {
                     "application/json": {"schema": {"type": "object"}}}},
                     **_errors(400, 408, 413, 501, *auth)}}
        paths[f"{base}/{action}"] = {"post": route}
        paths[f"{base}/versions/{{version}}/{action}"] = {"post": {
            **route, "parameters": [version],
            "responses": {**route["responses"], **_errors(404)}}}
    if metrics:
        paths["/metrics"] = {"get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "text exposition format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors(*auth)}}}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": f"lamina model server: {model}", "version": "2"},
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
