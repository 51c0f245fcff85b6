"""The emulator's SQS/SNS speed fixes keep moto's observable behaviour: counts, deletes, signed envelopes."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends


async def counts(sqs, url):
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        int(attrs["ApproximateNumberOfMessagesDelayed"]),
    )


async def test_queue_counts_and_deletes_behave_as_before(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await aws.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    await aws.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert await counts(aws.sqs, url) == (3, 0, 1)

    received = (await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30))["Messages"]
    assert await counts(aws.sqs, url) == (2, 1, 1)

    handle = received[0]["ReceiptHandle"]
    await aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    await aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)  # a repeated delete is accepted, as on AWS
    assert await counts(aws.sqs, url) == (2, 0, 1)
    with pytest.raises(ClientError) as invalid:
        await aws.sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert invalid.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"

    # A handle from an earlier receive still deletes (moto keeps old handles; so does the fix).
    first = (await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0))["Messages"][0]
    again = (await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30))["Messages"]
    assert first["MessageId"] in {m["MessageId"] for m in again}
    await aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert await counts(aws.sqs, url) == (0, 1, 1)


async def test_sns_envelopes_stay_signed_and_verifiable(provisioned, aws):
    await aws.sns.publish(TopicArn=provisioned.ses_events_topic_arn, Message='{"hello": "world"}')
    await aws.sns.publish(TopicArn=provisioned.ses_events_topic_arn, Message='{"second": true}')
    messages = (
        await aws.sqs.receive_message(
            QueueUrl=provisioned.ses_events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
    )["Messages"]
    envelopes = [json.loads(m["Body"]) for m in messages]
    assert len(envelopes) == 2
    keys = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]._message_public_keys
    for envelope in envelopes:
        assert envelope["SignatureVersion"] == "2"
        certificate = x509.load_pem_x509_certificate(keys[envelope["SigningCertURL"].rsplit("/", 1)[1]])
        signed = (
            f"Message\n{envelope['Message']}\nMessageId\n{envelope['MessageId']}\nTimestamp\n{envelope['Timestamp']}\n"
            f"TopicArn\n{envelope['TopicArn']}\nType\nNotification\n"
        )
        certificate.public_key().verify(  # raises InvalidSignature when it does not match
            base64.b64decode(envelope["Signature"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    assert envelopes[0]["SigningCertURL"] == envelopes[1]["SigningCertURL"]  # one certificate per subscription


async def test_deletes_racing_in_process_publishes_lose_nothing(provisioned, aws):
    """The emulator publishes SES events on its own thread while consumers delete: no message may vanish."""
    total = 300
    backend = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    publisher = threading.Thread(
        target=lambda: [
            backend.publish(json.dumps({"n": n}), arn=provisioned.ses_events_topic_arn) for n in range(total)
        ]
    )
    publisher.start()
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while len(seen) < total and time.monotonic() < deadline:
        response = await aws.sqs.receive_message(QueueUrl=provisioned.ses_events_queue_url, MaxNumberOfMessages=10)
        messages = response.get("Messages", [])
        for message in messages:
            seen.add(json.loads(json.loads(message["Body"])["Message"])["n"])
            await aws.sqs.delete_message(
                QueueUrl=provisioned.ses_events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        if not messages:
            await asyncio.sleep(0.01)
    publisher.join()
    assert seen == set(range(total))
