"""The demo's expectations must follow from its rows, counted independently here with the intake's own validator."""

from collections import Counter

import pytest
from email_validator import EmailNotValidError, validate_email

from herald_cli.demo import DemoResult
from herald_cli.demo_data import SIMULATOR_DOMAIN, demo_recipients


def _classify(rows):
    invalid, keys = 0, []
    for row in rows:
        try:
            keys.append(validate_email(row["email"], check_deliverability=False).normalized.lower())
        except EmailNotValidError:
            invalid += 1
    return invalid, keys


@pytest.mark.parametrize("total", [50, 1000, 5000])
def test_counts_add_up(total):
    rows, expected = demo_recipients(total)
    invalid, keys = _classify(rows)
    unique = set(keys)

    assert len(rows) == expected.rows == total
    assert invalid == expected.invalid > 0
    assert len(unique) == expected.valid_unique
    assert len(keys) - len(unique) == expected.duplicates > 0
    assert expected.valid_unique + expected.invalid + expected.duplicates == total
    assert expected.intake() == {
        "accepted": len(unique),
        "invalid": invalid,
        "duplicates": expected.duplicates,
        "total": total,
    }


def test_simulator_addresses_are_counted_by_outcome():
    rows, expected = demo_recipients(1000)
    _, keys = _classify(rows)
    mailboxes = Counter(k.split("@")[0].split("+")[0] for k in set(keys) if k.endswith("@" + SIMULATOR_DOMAIN))
    ordinary = sum(1 for k in set(keys) if k.endswith("@example.com"))

    assert mailboxes == {
        "bounce": expected.hard_bounces,
        "complaint": expected.complaints,
        "ooto": expected.soft_bounces,
        "success": expected.successes,
    }
    assert ordinary == expected.ordinary
    stats = expected.stats()
    assert stats["delivered"] == ordinary + mailboxes["success"] + mailboxes["complaint"]
    assert stats["bounced"] == mailboxes["bounce"]
    # ooto@ bounces softly at every retry, so it ends failed (soft_bounce) instead of sent.
    assert stats["failed"] == stats["softBounced"] == mailboxes["ooto"] == 1
    assert stats["sent"] + stats["failed"] == ordinary + sum(mailboxes.values()) == expected.valid_unique
    assert stats["recipients"] == expected.valid_unique + expected.invalid
    assert stats["queued"] == stats["unknown"] == stats["suppressed"] == 0


def test_duplicates_include_another_case_and_every_row_can_render():
    rows, _ = demo_recipients(1000)
    emails = [r["email"] for r in rows]
    lowered = Counter(e.lower() for e in emails)
    assert any(e != e.lower() and lowered[e.lower()] > 1 for e in emails), "no case-variant duplicate"
    # The newsletter uses first_name and customer_no; a missing variable would fail that recipient's render.
    assert all({"first_name", "customer_no"} <= set(r["data"]) for r in rows)


def test_rows_are_deterministic_and_mixed():
    rows, _ = demo_recipients(1000)
    again, _ = demo_recipients(1000)
    assert rows == again
    # The odd addresses are spread through the list, not piled at the end (so every batch meets some).
    first_half = [r["email"] for r in rows[:500]]
    assert any("simulator" in e for e in first_half)
    assert any("@" not in e or "@@" in e or " " in e or e.endswith("@") for e in first_half)


def test_too_few_recipients_is_refused():
    with pytest.raises(ValueError, match="at least"):
        demo_recipients(20)


def test_mismatches_name_only_the_counters_that_differ():
    _, expected = demo_recipients(1000)
    result = DemoResult(campaign_id="camp_x", expectation=expected, intake=expected.intake())
    result.stats = dict(expected.stats())
    result.stats.pop("softBounced")  # a counter the service does not report is not a mismatch
    assert result.mismatches() == {}

    result.stats["bounced"] = expected.hard_bounces - 1
    result.intake = expected.intake() | {"duplicates": 0}
    assert result.mismatches() == {
        "bounced": (expected.hard_bounces, expected.hard_bounces - 1),
        "intake.duplicates": (expected.duplicates, 0),
    }
