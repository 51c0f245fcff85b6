"""A compact stand-in for DynamoDB (and the few SQS/SNS calls the analytics service makes at start), for the
1,000,000-recipient report benchmark (bench/report_memory.py).

The emulator (moto) holds an item as a tree of Python objects and sorts a whole partition on every Query page, which
at a million rows costs gigabytes and minutes per page; what the benchmark measures is the analytics service's memory
while it streams, not the database. This stub keeps each row as its wire JSON in one sorted list, seeded over the
real `BatchWriteItem` API, and answers `Query` as DynamoDB does: key order, `ExclusiveStartKey`, `Limit`, and pages
cut at 1 MB of items with a `LastEvaluatedKey`. Run it in its own process: `python -m bench.ledger_stub --port P`.
"""

from __future__ import annotations

import argparse
import bisect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PAGE_BYTES = 1024 * 1024  # DynamoDB reads at most 1 MB per Query call
ACCOUNT_ARN = "arn:aws:sns:us-east-1:000000000000"


class Tables:
    """Items by table: a partition's rows as (sort key, wire JSON), sorted when first read after writes."""

    def __init__(self) -> None:
        self.singles: dict[tuple[str, str], dict[str, Any]] = {}  # (table, pk value) → item (the campaigns table)
        self.partitions: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.unsorted: set[tuple[str, str]] = set()

    def put(self, table: str, item: dict[str, Any]) -> None:
        if "campaignKey" in item:  # a ledger row
            key = (table, item["campaignKey"]["S"])
            self.partitions.setdefault(key, []).append((item["email"]["S"], json.dumps(item, separators=(",", ":"))))
            self.unsorted.add(key)
        else:
            self.singles[(table, item["tenantId"]["S"] + "#" + item["campaignId"]["S"])] = item

    def get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.singles.get((table, key["tenantId"]["S"] + "#" + key["campaignId"]["S"]))

    def query(self, request: dict[str, Any]) -> bytes:
        key = (request["TableName"], request["ExpressionAttributeValues"][":k"]["S"])
        rows = self.partitions.get(key, [])
        if key in self.unsorted:
            rows.sort()
            self.unsorted.discard(key)
        start = 0
        if exclusive := request.get("ExclusiveStartKey"):
            start = bisect.bisect_right(rows, (exclusive["email"]["S"], "\uffff"))
        limit = int(request.get("Limit", len(rows)))
        items: list[str] = []
        size = 0
        end = start
        while end < len(rows) and len(items) < limit and size + len(rows[end][1]) <= PAGE_BYTES:
            items.append(rows[end][1])
            size += len(rows[end][1])
            end += 1
        tail = ""
        if end < len(rows):
            last = {"campaignKey": {"S": key[1]}, "email": {"S": rows[end - 1][0]}}
            tail = ',"LastEvaluatedKey":' + json.dumps(last)
        return f'{{"Items":[{",".join(items)}],"Count":{len(items)},"ScannedCount":{len(items)}{tail}}}'.encode()


TABLES = Tables()


def _dynamodb(operation: str, request: dict[str, Any]) -> bytes:
    if operation == "BatchWriteItem":
        for table, writes in request["RequestItems"].items():
            for write in writes:
                TABLES.put(table, write["PutRequest"]["Item"])
        return b'{"UnprocessedItems":{}}'
    if operation == "PutItem":
        TABLES.put(request["TableName"], request["Item"])
        return b"{}"
    if operation == "GetItem":
        item = TABLES.get(request["TableName"], request["Key"])
        return json.dumps({"Item": item} if item else {}).encode()
    if operation == "Query":
        return TABLES.query(request)
    return json.dumps({"Table": {"TableName": request.get("TableName"), "TableStatus": "ACTIVE"}}).encode()


def _sqs(operation: str, request: dict[str, Any], host: str) -> bytes:
    if operation == "GetQueueUrl":
        return json.dumps({"QueueUrl": f"http://{host}/000000000000/{request['QueueName']}"}).encode()
    return b'{"Attributes":{"ApproximateNumberOfMessages":"0","ApproximateNumberOfMessagesNotVisible":"0"}}'


def _sns_topics(prefix: str) -> bytes:
    # The analytics service looks its announcement topic up by name (app.py `_topic_arn`).
    return (
        '<ListTopicsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListTopicsResult><Topics><member>'
        f"<TopicArn>{ACCOUNT_ARN}:{prefix}-campaign-updates</TopicArn></member></Topics></ListTopicsResult>"
        "<ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></ListTopicsResponse>"
    ).encode()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def make_app(prefix: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await _body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        target = headers.get("x-amz-target", "")
        content_type = b"application/x-amz-json-1.0"
        if scope["path"] == "/healthz":
            payload, content_type = b"ok", b"text/plain"
        elif target.startswith("DynamoDB_20120810."):
            payload = _dynamodb(target.split(".", 1)[1], json.loads(body or b"{}"))
        elif target.startswith("AmazonSQS."):
            payload = _sqs(target.split(".", 1)[1], json.loads(body or b"{}"), headers.get("host", "localhost"))
        else:  # SNS, query protocol: ListTopics is the only call the service makes
            payload, content_type = _sns_topics(prefix), b"text/xml"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": payload})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args(argv)
    uvicorn.run(make_app(args.prefix), host=args.host, port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
