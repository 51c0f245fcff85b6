"""The demo's recipient list and what Herald should report for it, computed from the same addresses.

The list mixes ordinary addresses with the cases a real list brings: malformed addresses (rejected at intake),
the same address twice (exact or in another case: stored once), and SES mailbox-simulator addresses whose outcome
SES (and Herald's emulator) fixes in advance: bounce, complaint, out-of-office (soft bounce), success.
The end-to-end tests reuse `demo_recipients` and compare the final statistics with `DemoExpectation.stats()`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SIMULATOR_DOMAIN = "simulator.amazonses.com"
VALID_DOMAIN = "example.com"  # the emulator verifies this domain, so `news@example.com` may send

# Each is invalid for `email-validator` without DNS (the campaign service's intake check); `{n}` keeps them distinct.
_INVALID_FORMS = (
    "not-an-email-{n}",
    "a{n}@@b",
    "@example{n}.com",
    "user{n}@",
    "two words{n}@example.com",
    "user{n}@exa mple.com",
    "user{n}@.com",
    "user{n}@example..com",
    ".user{n}@example.com",
    "user{n}.@example.com",
    "us..er{n}@example.com",
    "user{n}@example",
    "user{n}@-example.com",
    "user{n}#example.com",
)
_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis")

# Labels (`bounce+3@…`) make distinct recipients with the same simulated outcome; SPEC promises label matching for
# bounce@ only, so complaint@, ooto@ and success@ are used once each.
SIMULATOR_BOUNCES = 10
MIN_RECIPIENTS = 50  # room for the 13 simulator addresses, some invalid rows and duplicates, and ordinary ones


@dataclass(frozen=True)
class DemoExpectation:
    """What a correct Herald reports for the demo list. Every count is derivable from the rows alone."""

    rows: int
    valid_unique: int  # accepted at intake: stored once, sent once
    invalid: int  # rejected at intake
    duplicates: int  # a second (or third) row for an address already in the list, in any case
    ordinary: int  # @example.com recipients: delivered
    hard_bounces: int  # bounce@ / bounce+label@simulator: Permanent bounce, then suppressed
    soft_bounces: int  # ooto@simulator: Transient bounce, retried (each retry bounces again), then failed
    complaints: int  # complaint@simulator: delivered, then a complaint
    successes: int  # success@simulator: delivered

    @property
    def delivered(self) -> int:
        return self.ordinary + self.successes + self.complaints

    @property
    def simulator_addresses(self) -> int:
        return self.hard_bounces + self.soft_bounces + self.complaints + self.successes

    def intake(self) -> dict[str, int]:
        """The expected answer of `POST /campaigns/{id}/recipients` for these rows."""
        return {
            "accepted": self.valid_unique,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "total": self.rows,
        }

    def stats(self) -> dict[str, int]:
        """The expected final `GET /campaigns/{id}/stats` counters (docs/architecture.md: recipients = stored +
        rejected at intake; duplicates are not recipients). A soft-bounced recipient is retried a few times and,
        bouncing every time, ends `failed (soft_bounce)`: not in `sent`, still in `softBounced`."""
        return {
            "recipients": self.valid_unique + self.invalid,
            "queued": 0,
            "sent": self.valid_unique - self.soft_bounces,
            "delivered": self.delivered,
            "bounced": self.hard_bounces,
            "softBounced": self.soft_bounces,
            "complained": self.complaints,
            "rejected": 0,
            "failed": self.soft_bounces,
            "suppressed": 0,
            "invalid": self.invalid,
            "unknown": 0,
        }


def _proportion(total: int, share: float) -> int:
    return max(1, round(total * share))


def demo_recipients(total: int = 1000, *, seed: int = 7) -> tuple[list[dict[str, Any]], DemoExpectation]:
    """`total` recipient rows (`{"email", "data"}`, shuffled deterministically) and what Herald should make of them.

    About 1.5 % malformed, 1.5 % duplicates, 13 simulator addresses; the rest `user{n}@example.com`.
    """
    if total < MIN_RECIPIENTS:
        raise ValueError(f"a demo needs at least {MIN_RECIPIENTS} recipients, not {total}")
    invalid_count = _proportion(total, 0.015)
    duplicate_count = _proportion(total, 0.015)
    simulator = (
        [f"bounce@{SIMULATOR_DOMAIN}"]
        + [f"bounce+{n}@{SIMULATOR_DOMAIN}" for n in range(1, SIMULATOR_BOUNCES)]
        + [f"complaint@{SIMULATOR_DOMAIN}", f"ooto@{SIMULATOR_DOMAIN}", f"success@{SIMULATOR_DOMAIN}"]
    )
    ordinary_count = total - invalid_count - duplicate_count - len(simulator)

    def row(email: str, n: int) -> dict[str, Any]:
        return {"email": email, "data": {"first_name": _FIRST_NAMES[n % len(_FIRST_NAMES)], "customer_no": n}}

    ordinary = [f"user{n}@{VALID_DOMAIN}" for n in range(1, ordinary_count + 1)]
    rows = [row(email, n) for n, email in enumerate(ordinary + simulator, start=1)]
    rows += [row(_INVALID_FORMS[n % len(_INVALID_FORMS)].format(n=n), n) for n in range(invalid_count)]
    # Half exact repeats, half the same mailbox in other case (`User7@EXAMPLE.COM`): both are the same recipient.
    for n in range(duplicate_count):
        original = ordinary[n * (ordinary_count // duplicate_count)]
        local, domain = original.split("@")
        rows.append(row(original if n % 2 == 0 else f"{local.capitalize()}@{domain.upper()}", n))
    random.Random(seed).shuffle(rows)

    expectation = DemoExpectation(
        rows=len(rows),
        valid_unique=ordinary_count + len(simulator),
        invalid=invalid_count,
        duplicates=duplicate_count,
        ordinary=ordinary_count,
        hard_bounces=SIMULATOR_BOUNCES,
        soft_bounces=1,
        complaints=1,
        successes=1,
    )
    return rows, expectation
