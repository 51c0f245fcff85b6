"""Every repository method takes the tenant: as a `tenant_id` parameter or inside the object it is given (a campaign,
a campaign reference, a suppression), so no store can be asked for data without saying whose. The only methods
that do not are listed with the reason they are tenant-free."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

REPOSITORIES = {
    "herald_campaign.campaigns.repository": ["DynamoCampaignStore"],
    "herald_campaign.campaigns.recipient_store": ["S3RecipientStore"],
    "herald_campaign.campaigns.ledger": ["DynamoLedger"],
    "herald_campaign.campaigns.fanout_store": ["DynamoFanoutStore"],
    "herald_campaign.suppressions.repository": ["DynamoSuppressionStore"],
    "herald_template.templates.repository": ["S3TemplateStore"],
    "herald_processor.repository": ["DynamoCampaignStore", "DynamoSuppressionList"],
    "herald_processor.ledger": ["DynamoDeliveryLedger"],
    "herald_processor.templates": ["S3TemplateSource"],
    "herald_analytics.stats.repository": ["CampaignReader"],
    "herald_analytics.recipients.repository": ["LedgerReader"],
    "herald_analytics.events.repository": ["EventLog", "CampaignCounters", "SuppressionList"],
    "herald_analytics.events.ledger": ["DeliveryLedger"],
    "herald_analytics.events.batch_store": ["CountingStore"],
    "herald_campaign.campaigns.retry_store": ["DynamoRetryStore"],
    "herald_campaign.audit.repository": ["DynamoAuditReader"],
    "herald_common.audit": ["AuditLog"],
}
# Types that carry the tenant: a method given one of them addresses that tenant's data only.
TENANT_CARRIERS = {"Campaign", "CampaignRef", "Suppression", "DueCampaign", "RetryRun", "CountingWrite", "AuditRecord"}
CONTAINERS = {"Sequence", "Iterable", "list", "tuple", "str"}
TENANT_FREE = {
    ("EventLog", "claim"): "SES event ids are globally unique; the row holds no tenant data",
    ("EventLog", "complete"): "same",
    ("EventLog", "completion"): "same (the transaction action of `complete`)",
    ("DynamoFanoutStore", "find_due"): "the scheduler's scan for due campaigns; each result names its tenant",
    ("DynamoRetryStore", "find_abandoned"): "the scheduler's scan for abandoned retry runs; each names its tenant",
    ("S3TemplateStore", "check"): "readiness probe of the bucket",
    ("AuditLog", "flush"): "writes the spooled records, each of which names its tenant",
    ("AuditLog", "run"): "the lifespan task that retries the spool",
}


def _methods() -> list[tuple[str, str, inspect.Signature]]:
    found = []
    for module_name, classes in REPOSITORIES.items():
        module = importlib.import_module(module_name)
        for class_name in classes:
            for name, member in inspect.getmembers(getattr(module, class_name), inspect.isfunction):
                if not name.startswith("_"):
                    found.append((class_name, name, inspect.signature(member)))
    return found


def _takes_tenant(signature: inspect.Signature) -> bool:
    for parameter in signature.parameters.values():
        if parameter.name == "tenant_id":
            return True
        annotation = str(parameter.annotation)
        if any(annotation == carrier or annotation.startswith(f"{carrier} ") for carrier in TENANT_CARRIERS):
            return True
        # A collection of tenant carriers (`Sequence[CountingWrite]`, `Iterable[tuple[CampaignRef, str]]`).
        words = set(re.findall(r"\w+", annotation))
        if words & TENANT_CARRIERS and words <= TENANT_CARRIERS | CONTAINERS:
            return True
    return False


@pytest.mark.parametrize(("cls", "method", "signature"), _methods(), ids=lambda v: v if isinstance(v, str) else "")
def test_repository_method_takes_the_tenant(cls: str, method: str, signature: inspect.Signature) -> None:
    if (cls, method) in TENANT_FREE:
        assert not _takes_tenant(signature)  # keep the exception list honest
        return
    assert _takes_tenant(signature), f"{cls}.{method}{signature} does not take the tenant"


def test_tenant_carriers_hold_a_tenant_id() -> None:
    from herald_analytics.events.schemas import CampaignRef
    from herald_campaign.campaigns.fanout_store import DueCampaign
    from herald_campaign.campaigns.models import Campaign
    from herald_campaign.suppressions.repository import Suppression
    from herald_processor.domain import Campaign as ProcessorCampaign

    for carrier in (CampaignRef, DueCampaign, Campaign, Suppression, ProcessorCampaign):
        assert "tenant_id" in inspect.signature(carrier).parameters, carrier
