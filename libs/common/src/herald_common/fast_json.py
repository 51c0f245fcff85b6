"""Request bodies for JSON-protocol AWS APIs (DynamoDB) written by orjson instead of botocore's shape walk.

For a JSON-protocol operation botocore's serializer walks the request against the API model, member by member, and
builds a dict equal to the parameters it was given, then `json.dumps` it. For DynamoDB's typed attribute values that
walk is the client's largest per-item cost (measured: about half of a 80-action `TransactWriteItems`' client CPU).
The parameters of the operations named here are already in wire form (`{"S": ...}`, `{"N": "1"}`), so their JSON
is the body: one `orjson.dumps`. Anything orjson refuses (bytes: a binary attribute botocore would base64) takes
botocore's own path, and so does every other operation. Headers, method and path are what botocore's
`JSONSerializer` writes (tested against it).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson


class _Serializer(Protocol):
    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]: ...


class PassThroughJsonSerializer:
    """Wraps a client's serializer: the named operations' bodies are the parameters as JSON."""

    def __init__(self, inner: _Serializer, operations: frozenset[str]) -> None:
        self._inner = inner
        self._operations = operations

    def __getattr__(self, name: str) -> Any:  # anything else botocore asks of its serializer
        return getattr(self._inner, name)

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in self._operations:
            return self._inner.serialize_to_request(parameters, operation_model)
        try:
            body = orjson.dumps(parameters)
        except TypeError:  # bytes (binary attribute values): botocore base64-encodes them
            return self._inner.serialize_to_request(parameters, operation_model)
        metadata = operation_model.metadata
        return {
            "url_path": "/",
            "query_string": "",
            "method": operation_model.http.get("method", "POST"),
            "headers": {
                "X-Amz-Target": f"{metadata['targetPrefix']}.{operation_model.name}",
                "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
            },
            "body": body,
        }


def pass_through_json(client: Any, *operations: str) -> None:
    """Serialize `operations` of a JSON-protocol client (DynamoDB) with `PassThroughJsonSerializer`."""
    if client.meta.service_model.protocol != "json":
        raise ValueError(f"{client.meta.service_model.service_name} does not speak AWS's JSON protocol")
    client._serializer = PassThroughJsonSerializer(client._serializer, frozenset(operations))
