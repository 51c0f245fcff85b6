"""Every AWS resource name Herald uses, derived from one prefix so two stacks can share an account or emulator."""

from __future__ import annotations

from dataclasses import dataclass

# Email-job priorities, in the order the processors take them: every waiting `high` batch before any `normal` one,
# every `normal` before any `low` (docs/architecture.md, SQS).
EMAIL_JOB_PRIORITIES = ("high", "normal", "low")
DEFAULT_PRIORITY = "normal"
# The webhook-deliveries table's index of an endpoint's deliveries by `createdAt` (its delivery log, newest first).
DELIVERIES_BY_TIME_INDEX = "byCreatedAt"


@dataclass(frozen=True)
class ResourceNames:
    prefix: str

    # DynamoDB tables ---------------------------------------------------------------------------
    @property
    def campaigns_table(self) -> str:
        """Campaigns and their counters. pk `tenantId`, sk `campaignId`."""
        return f"{self.prefix}-campaigns"

    @property
    def ledger_table(self) -> str:
        """Per-recipient delivery ledger. pk `campaignKey` (`tenant#campaign`), sk `email`."""
        return f"{self.prefix}-ledger"

    @property
    def events_table(self) -> str:
        """Processed SES event identities (dedupe). pk `eventId`, TTL `expiresAt`."""
        return f"{self.prefix}-events"

    @property
    def suppressions_table(self) -> str:
        """Tenant suppression list. pk `tenantId`, sk `email`."""
        return f"{self.prefix}-suppressions"

    @property
    def throttle_table(self) -> str:
        """Shared send-rate token buckets (processor). pk `bucketKey`."""
        return f"{self.prefix}-throttle"

    @property
    def audit_table(self) -> str:
        """Append-only audit records of state-changing API calls. pk `tenantId`, sk `recordId` (time-ordered)."""
        return f"{self.prefix}-audit"

    @property
    def idempotency_table(self) -> str:
        """Answers of POST calls by `Idempotency-Key` (campaign service). pk `recordKey` (`tenant#key`), TTL
        `expiresAt`."""
        return f"{self.prefix}-idempotency"

    @property
    def webhooks_table(self) -> str:
        """Webhook endpoints (campaign service). pk `tenantId`, sk `webhookId`."""
        return f"{self.prefix}-webhooks"

    @property
    def webhook_deliveries_table(self) -> str:
        """Each event's delivery to each endpoint. pk `webhookKey` (`tenant#webhookId`), sk `deliveryId`, TTL
        `expiresAt`."""
        return f"{self.prefix}-webhook-deliveries"

    @property
    def tables(self) -> tuple[str, ...]:
        return (
            self.campaigns_table,
            self.ledger_table,
            self.events_table,
            self.suppressions_table,
            self.throttle_table,
            self.audit_table,
            self.idempotency_table,
            self.webhooks_table,
            self.webhook_deliveries_table,
        )

    # S3 -----------------------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        """Templates (`templates/{tenant}/{id}/…`) and recipient lists (`recipients/{tenant}/{campaign}/…`)."""
        return f"{self.prefix}-data"

    # SQS ----------------------------------------------------------------------------------------
    def email_jobs_queue_for(self, priority: str) -> str:
        """The email-jobs queue of one priority (`high`, `normal`, `low`), each with its own dead-letter queue."""
        if priority not in EMAIL_JOB_PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}; one of {', '.join(EMAIL_JOB_PRIORITIES)}")
        return f"{self.prefix}-email-jobs-{priority}"

    @property
    def email_jobs_queues(self) -> tuple[str, ...]:
        """The email-jobs queues, highest priority first (the order the processors read them)."""
        return tuple(self.email_jobs_queue_for(p) for p in EMAIL_JOB_PRIORITIES)

    @property
    def email_jobs_queue(self) -> str:
        """The `normal` email-jobs queue (where a job without a priority belongs)."""
        return self.email_jobs_queue_for(DEFAULT_PRIORITY)

    @property
    def legacy_email_jobs_queue(self) -> str:
        """The single email-jobs queue of stacks provisioned before priorities: no longer created; processors
        still drain it (at `normal` priority) while it exists."""
        return f"{self.prefix}-email-jobs"

    @property
    def ses_events_queue(self) -> str:
        """The analytics service's subscription to the SES events topic."""
        return f"{self.prefix}-ses-events"

    @property
    def webhooks_queue(self) -> str:
        """The campaign service's webhooks: subscribed to the campaign-updates topic; analytics forwards it the SES
        events of tenants with an active webhook; its own status moves and delivery retries."""
        return f"{self.prefix}-webhooks"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}-dlq"

    @property
    def queues(self) -> tuple[str, ...]:
        return (*self.email_jobs_queues, self.ses_events_queue)

    # SNS ----------------------------------------------------------------------------------------
    @property
    def ses_events_topic(self) -> str:
        return f"{self.prefix}-ses-events"

    @property
    def campaign_updates_topic(self) -> str:
        return f"{self.prefix}-campaign-updates"

    # SES ----------------------------------------------------------------------------------------
    @property
    def configuration_set(self) -> str:
        return f"{self.prefix}-events"
