"""Schemathesis fuzzes every operation of the OpenAPI schema against the app on a populated moto table:
no server error, and every answer (status, headers, body) conforms to the schema.

Examples are bounded (``MAX_EXAMPLES`` per operation) so the run takes seconds. The operations are
driven with hypothesis directly (``as_strategy``) because schemathesis' pytest fixture loader does not
run under pytest 9. One check is left out: ``positive_data_acceptance``, because a ``k`` within the
schema's 1..200 but above what the served version holds is a documented 422 the schema cannot express.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from lambda_api.app import create_app
from tests.lambda_api.api_fixtures import API_KEY

MAX_EXAMPLES = int(os.environ.get("RECS_FUZZ_EXAMPLES", "20"))
# The suite runs a fixed set of examples; RECS_FUZZ_EXAMPLES=500 (random) digs deeper. Random runs can
# report a false "schema-violating request accepted" when a query value of the wrong JSON type reads as
# a string on the wire (``exclude=true``); a query string cannot tell them apart.
DERANDOMIZE = "RECS_FUZZ_EXAMPLES" not in os.environ


@pytest.fixture(scope="module")
def api_schema(local_aws, published):
    """The app with API keys on, so that the declared X-API-Key security is exercised too."""
    from lambda_api.settings import ApiSettings

    app_settings = ApiSettings(
        table_name=published,
        aws_endpoint_url=local_aws.endpoint_url,
        aws_region=local_aws.region,
        api_keys=API_KEY,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(app_settings))


OPERATIONS = [
    "GET /health",
    "GET /ready",
    "GET /stats",
    "GET /v1/users/{user_id}/recommendations",
    "GET /v1/items/{item_id}/similar",
]


def test_the_schema_lists_every_operation(api_schema):
    assert sorted(r.ok().label for r in api_schema.get_all_operations()) == sorted(OPERATIONS)


CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in OPERATIONS if label not in ("GET /health", "GET /ready")
]  # /health and /ready take no parameters, so no request can break their schema


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_no_operation_answers_a_server_error_or_breaks_its_schema(api_schema, label, mode):
    """Valid requests (positive) and requests that break the schema (negative, which must get a 4xx)."""
    operation = api_schema.find_operation_by_label(label)

    @given(operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case):
        case.call_and_validate(headers={"X-API-Key": API_KEY}, excluded_checks=[positive_data_acceptance])

    fuzz()
