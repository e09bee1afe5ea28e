"""AWS for the batch job: boto3 clients, and the one rule of which AWS errors are worth a retry.

Every retry loop of the job (Prefect's task retries, batched DynamoDB writes and reads)
asks ``is_transient``; the waits between tries are ``backoff``'s.

Who retries a call is decided once, here (``RETRIES``), so that each call has one retry layer
and a bound such as ``publish_max_attempts`` counts HTTP requests: DynamoDB calls are tried
once by botocore, because the job's own loops (``pipeline.publish.dynamo``: batches written and
read back) and Prefect's task retries (``pipeline.ops.retries``) retry them; S3 calls, which the
job does not retry itself, get botocore's adaptive retries.
"""

from __future__ import annotations

import random

import boto3
from botocore.config import Config

from pipeline.settings import PipelineSettings

# error codes AWS uses for "slow down" and "try again": DynamoDB, S3 and the generic ones
THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalServerError",
        "ServiceUnavailable",
        "InternalError",
    }
)
_NOT_TRANSIENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


# botocore's retries per service (others: DEFAULT_RETRIES); total_max_attempts counts the first try
RETRIES: dict[str, dict] = {"dynamodb": {"total_max_attempts": 1, "mode": "standard"}}
DEFAULT_RETRIES = {"max_attempts": 10, "mode": "adaptive"}  # 10 retries after the first try


def client(service: str, settings: PipelineSettings):
    """A client retried as ``RETRIES`` says; ``aws_endpoint_url`` (or ``AWS_ENDPOINT_URL``) redirects it."""
    return boto3.client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(
            retries=RETRIES.get(service, DEFAULT_RETRIES),
            max_pool_connections=max(10, settings.publish_workers * 2),
        ),
    )


def is_transient(err: BaseException | None) -> bool:
    """A network, timeout or throttling error anywhere in ``err``'s chain: worth another attempt.

    Refusals (access denied, a missing table, bad parameters, no credentials) are not: a retry
    would only repeat them.
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ConnectionError | HTTPClientError):
            return True
        if isinstance(err, OSError) and not isinstance(err, _NOT_TRANSIENT_OS_ERRORS):
            return True
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return error.get("Code") in THROTTLING or status >= 500
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    return False


def backoff(attempt: int, base_delay: float = 0.05, max_delay: float = 5.0) -> float:
    """Seconds to wait before try ``attempt + 2``: exponential with full jitter, uniform in
    [0, min(max_delay, base_delay * 2**attempt)]."""
    return random.uniform(0, min(max_delay, base_delay * 2**attempt))
