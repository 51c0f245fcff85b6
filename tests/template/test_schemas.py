"""The render answer is written straight from the render results: it must be exactly the documented `RenderResponse`."""

from __future__ import annotations

import json

import pytest

from herald_template.rendering import RenderedEmail, RenderFailure
from herald_template.templates.schemas import RenderResponse, render_response_json
from herald_template.templates.service import RenderOutcome

RESULTS = [
    RenderedEmail("ada@example.com", "Hi Ada", '<p class="x">Ada &amp; \u00e9\u00e8 \U0001f600</p>\n', "Ada & \u00e9"),
    RenderFailure("bob@example.com", "subject line 1: 'first_name' is undefined"),
]


@pytest.mark.parametrize("outcome", [RenderOutcome("newsletter", 3, RESULTS), RenderOutcome(None, None, RESULTS)])
def test_the_fast_answer_is_the_response_model_json(outcome: RenderOutcome) -> None:
    written = render_response_json(outcome)
    assert json.loads(written) == RenderResponse.of(outcome).model_dump(mode="json", by_alias=True)
    assert RenderResponse.model_validate_json(written) == RenderResponse.of(outcome)
