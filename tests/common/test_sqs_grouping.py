"""The kit's grouping of messages for SendMessageBatch (herald_common.sqs.group_messages), used by the campaign
service's job queue and analytics' webhook relay: SQS refuses a call of more than 10 messages or 256 KiB."""

from __future__ import annotations

import pytest

from herald_common.sqs import SQS_MAX_BATCH_BYTES, group_messages


def test_group_messages_respects_count_and_bytes() -> None:
    messages = [(f"m{i}", "x" * 100) for i in range(25)]
    groups = list(group_messages(messages, max_count=10, max_bytes=10_000))
    assert [len(g) for g in groups] == [10, 10, 5]
    groups = list(group_messages(messages, max_count=10, max_bytes=350))
    assert all(sum(len(b) for _, b in g) <= 350 for g in groups)
    assert [m for g in groups for m in g] == messages
    with pytest.raises(ValueError, match="exceeds"):
        list(group_messages([("big", "x" * 500)], max_count=10, max_bytes=350))


def test_groups_hold_at_most_ten_messages_and_256_kib() -> None:
    ids = [(str(i), "x" * 100) for i in range(23)]
    assert [[n for n, _ in g] for g in group_messages(ids)] == [
        [str(i) for i in range(10)],
        [str(i) for i in range(10, 20)],
        ["20", "21", "22"],
    ]
    big = SQS_MAX_BATCH_BYTES // 2
    over = [("4", "x" * (big - 10)), ("7", "x" * 30), ("9", "x" * (big - 10))]
    assert [[n for n, _ in g] for g in group_messages(over)] == [["4", "7"], ["9"]]
    exact = [("4", "x" * (big - 10)), ("7", "x" * 20), ("9", "x" * (big - 10))]
    assert [[n for n, _ in g] for g in group_messages(exact)] == [["4", "7", "9"]]  # 256 KiB exactly fits
    assert list(group_messages([])) == []
