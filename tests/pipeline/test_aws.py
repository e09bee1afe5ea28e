"""Which AWS errors are worth another attempt: network, timeouts and throttling, anywhere in the chain."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from pipeline.aws import backoff, is_transient
from pipeline.errors import PipelineError


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def wrapped(err: Exception) -> PipelineError:
    try:
        raise PipelineError("publishing failed") from err
    except PipelineError as outer:
        return outer


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("InternalServerError", 500), True),
        (wrapped(client_error("ProvisionedThroughputExceededException", 400)), True),
        (client_error("AccessDeniedException", 400), False),
        (wrapped(client_error("ValidationException", 400)), False),
        (FileNotFoundError("events/missing.parquet"), False),
        (PipelineError("table has key schema {'id': 'HASH'}"), False),
        (ValueError("bad"), False),
    ],
)
def test_only_network_and_throttling_errors_are_transient(err, transient):
    assert is_transient(err) is transient


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (NoCredentialsError(), False),
        (ParamValidationError(report="bad key"), False),
    ],
)
def test_botocore_errors_of_the_connection_are_transient_and_refusals_are_not(err, transient):
    assert is_transient(err) is transient


def test_backoff_is_full_jitter_below_an_exponential_cap():
    waits = [[backoff(attempt, 0.05, 1.0) for _ in range(200)] for attempt in range(8)]
    for attempt, drawn in enumerate(waits):
        cap = min(1.0, 0.05 * 2**attempt)
        assert min(drawn) >= 0 and max(drawn) <= cap
        assert max(drawn) > cap / 2  # spread over the whole range, not bunched at zero
