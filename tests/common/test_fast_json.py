"""`pass_through_json`: DynamoDB requests written by orjson are the requests botocore's own serializer writes."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from aiobotocore.parsers import AioJSONParser

from herald_common.fast_json import PassThroughJsonParser, PassThroughJsonSerializer, pass_through_json

_KEY = {"campaignKey": {"S": "acme#camp_1"}, "email": {"S": "ada@example.com"}}
_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": "events",
                        "Item": {"eventId": {"S": "e1"}, "state": {"S": "done"}, "expiresAt": {"N": "1700003600"}},
                        "ConditionExpression": "attribute_not_exists(eventId)",
                    }
                },
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": _KEY,
                        "UpdateExpression": "SET #a = :v, counted = :t REMOVE leaseOwner",
                        "ConditionExpression": "attribute_exists(email) AND analyticsVersion = :e",
                        "ExpressionAttributeNames": {"#a": "delivery"},
                        "ExpressionAttributeValues": {
                            ":v": {"S": "delivered"},
                            ":t": {"BOOL": True},
                            ":e": {"N": "3"},
                            ":m": {"M": {"e1": {"M": {"deliveredCount": {"N": "1"}}}}},
                            ":l": {"L": [{"S": "x"}, {"NULL": True}]},
                            ":ss": {"SS": ["a", "b"]},
                        },
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": "campaigns",
                        "Key": _KEY,
                        "ConditionExpression": "attribute_exists(x)",
                    }
                },
                {"Delete": {"TableName": "events", "Key": {"eventId": {"S": "e0"}}}},
            ],
            "ReturnConsumedCapacity": "NONE",
        },
    ),
    ("BatchGetItem", {"RequestItems": {"ledger": {"Keys": [_KEY, _KEY], "ConsistentRead": True}}}),
    ("GetItem", {"TableName": "ledger", "Key": _KEY, "ConsistentRead": True}),
    (
        "UpdateItem",
        {"TableName": "campaigns", "Key": _KEY, "UpdateExpression": "ADD n :one", "ReturnValues": "ALL_NEW"},
    ),
    ("Query", {"TableName": "ledger", "KeyConditionExpression": "campaignKey = :k", "Limit": 50}),
]


@pytest.fixture
def client() -> Any:
    session = botocore.session.get_session()
    return session.create_client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.mark.parametrize(("operation", "params"), _REQUESTS, ids=[name for name, _ in _REQUESTS])
def test_the_request_is_the_one_botocore_writes(client: Any, operation: str, params: dict[str, Any]) -> None:
    model = client.meta.service_model.operation_model(operation)
    expected = client._serializer.serialize_to_request(params, model)
    fast = PassThroughJsonSerializer(client._serializer, frozenset({operation}))

    written = fast.serialize_to_request(params, model)

    assert json.loads(written.pop("body")) == json.loads(expected.pop("body"))
    assert written == expected  # method, path, query, headers (target, content type), nothing else


def test_binary_values_and_other_operations_take_botocores_path(client: Any) -> None:
    original = client._serializer
    pass_through_json(client, "PutItem")
    put = client.meta.service_model.operation_model("PutItem")
    item = {"TableName": "t", "Item": {"k": {"S": "a"}, "blob": {"B": b"\x00\x01"}}}

    written = client._serializer.serialize_to_request(item, put)

    assert json.loads(written["body"])["Item"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    get = client.meta.service_model.operation_model("GetItem")
    params = {"TableName": "t", "Key": {"k": {"S": "a"}}}
    assert client._serializer.serialize_to_request(params, get) == original.serialize_to_request(params, get)


def test_only_json_protocol_clients_are_accepted() -> None:
    s3 = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with pytest.raises(ValueError, match="JSON protocol"):
        pass_through_json(s3, "PutObject")


_ROW = {
    "campaignKey": {"S": "acme#camp_1"},
    "email": {"S": "ada@example.com"},
    "counted": {"BOOL": True},
    "analyticsVersion": {"N": "2"},
    "countedEvents": {"M": {"e1": {"M": {"deliveredCount": {"N": "1"}}}}},
    "tags": {"L": [{"S": "x"}, {"NULL": True}]},
    "labels": {"SS": ["a", "b"]},
}
_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("BatchGetItem", {"Responses": {"ledger": [_ROW, _ROW]}, "UnprocessedKeys": {}}),
    ("GetItem", {"Item": _ROW}),
    ("GetItem", {}),
    ("UpdateItem", {"Attributes": _ROW, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.5}}),
    ("TransactWriteItems", {}),
]


async def _parse(parser: Any, operation_model: Any, body: bytes) -> Any:
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "r-1"}, "body": body, "context": {}}
    return await parser.parse(response, operation_model.output_shape)


@pytest.mark.parametrize(("operation", "answer"), _RESPONSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(_RESPONSES)])
async def test_the_response_is_the_one_botocore_parses(client: Any, operation: str, answer: dict[str, Any]) -> None:
    model = client.meta.service_model.operation_model(operation)
    body = json.dumps(answer).encode()
    fast = PassThroughJsonParser(frozenset({model.output_shape.name}))

    assert await _parse(fast, model, body) == await _parse(AioJSONParser(), model, body)


async def test_binary_values_are_decoded_by_botocore(client: Any) -> None:
    model = client.meta.service_model.operation_model("GetItem")
    body = json.dumps({"Item": {"k": {"S": "a"}, "blob": {"B": base64.b64encode(b"\x00\x01").decode()}}}).encode()
    fast = PassThroughJsonParser(frozenset({model.output_shape.name}))

    assert (await _parse(fast, model, body))["Item"]["blob"] == {"B": b"\x00\x01"}


def _sqs() -> Any:
    return botocore.session.get_session().create_client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


_QUEUE = "http://localhost:4566/000000000000/herald-ses-events"
_SQS_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "ReceiveMessage",
        {
            "QueueUrl": _QUEUE,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 20,
            "VisibilityTimeout": 30,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        },
    ),
    ("DeleteMessageBatch", {"QueueUrl": _QUEUE, "Entries": [{"Id": "0", "ReceiptHandle": "h0"}]}),
    # The processor's poller: its heartbeat and retries, one message at a time.
    ("ChangeMessageVisibility", {"QueueUrl": _QUEUE, "ReceiptHandle": "h0", "VisibilityTimeout": 20}),
]
_SQS_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    (
        "ReceiveMessage",
        {
            "Messages": [
                {
                    "MessageId": "m-1",
                    "ReceiptHandle": "h-1",
                    "MD5OfBody": "0" * 32,
                    "Body": json.dumps({"eventType": "Delivery", "mail": {"B": 1}}),
                    "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
                }
            ]
        },
    ),
    ("ReceiveMessage", {}),
    ("DeleteMessageBatch", {"Successful": [{"Id": "0"}], "Failed": [{"Id": "1", "SenderFault": True, "Code": "X"}]}),
]


@pytest.mark.parametrize(("operation", "params"), _SQS_REQUESTS, ids=[name for name, _ in _SQS_REQUESTS])
def test_sqs_requests_are_the_ones_botocore_writes(operation: str, params: dict[str, Any]) -> None:
    sqs = _sqs()
    model = sqs.meta.service_model.operation_model(operation)
    expected = sqs._serializer.serialize_to_request(params, model)

    written = PassThroughJsonSerializer(sqs._serializer, frozenset({operation})).serialize_to_request(params, model)

    assert json.loads(written.pop("body")) == json.loads(expected.pop("body"))
    assert written == expected  # SQS speaks JSON in query-compatible mode: x-amzn-query-mode included


@pytest.mark.parametrize(
    ("operation", "answer"), _SQS_RESPONSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(_SQS_RESPONSES)]
)
async def test_sqs_responses_are_the_ones_botocore_parses(operation: str, answer: dict[str, Any]) -> None:
    model = _sqs().meta.service_model.operation_model(operation)
    body = json.dumps(answer).encode()
    fast = PassThroughJsonParser(frozenset({model.output_shape.name}))

    assert await _parse(fast, model, body) == await _parse(AioJSONParser(), model, body)
