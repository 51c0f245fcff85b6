"""schemathesis against every service's OpenAPI document: generated requests (an admin token, so they reach the
handlers) never get a 5xx, and every answer matches the document (status documented, content type, body schema).

The documents are read from the apps (the code the processes run); the requests go over real HTTP to the services
running on the emulator. Bounded: a few examples per operation, no shrinking, no example database.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.live_stack import bearer, live_stack
from tests.security.routes import APPS

if TYPE_CHECKING:
    from schemathesis import Case
    from schemathesis.schemas import BaseSchema

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.xdist_group("security-live-stack")]

# A few per operation keeps `make test` bounded; HERALD_SCHEMATHESIS_EXAMPLES=200 digs deeper when hunting bugs.
MAX_EXAMPLES = int(os.environ.get("HERALD_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# Valid requests by default; HERALD_SCHEMATHESIS_MODES=all adds requests that break the schema (they must get 4xx).
_MODES = os.environ.get("HERALD_SCHEMATHESIS_MODES", "positive")
MODES = list(GenerationMode) if _MODES == "all" else [GenerationMode(m) for m in _MODES.split(",")]


def _schema(service: str) -> BaseSchema:
    schema = schemathesis.openapi.from_dict(APPS[service]().openapi())
    schema.config.generation.update(modes=MODES)
    return schema


campaign = _schema("campaign")
template = _schema("template")
analytics = _schema("analytics")


def _run(case: Case, service: str) -> None:
    stack = live_stack()
    headers = bearer(stack, "fuzz", "admin")
    case.call_and_validate(base_url=getattr(stack.urls, service), headers=headers, checks=CHECKS, timeout=30)


@campaign.parametrize()
@BOUNDED
def test_campaign_service_honours_its_openapi_document(case: Case) -> None:
    _run(case, "campaign")


@template.parametrize()
@BOUNDED
def test_template_service_honours_its_openapi_document(case: Case) -> None:
    _run(case, "template")


@analytics.parametrize()
@BOUNDED
def test_analytics_service_honours_its_openapi_document(case: Case) -> None:
    _run(case, "analytics")


def test_the_processor_documents_no_operation() -> None:
    assert APPS["processor"]().openapi()["paths"] == {}
