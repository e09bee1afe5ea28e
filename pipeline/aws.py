"""AWS for the batch job: boto3 clients, and the one rule of which AWS errors are worth a retry.

Every retry loop of the job (Prefect's task retries, batched DynamoDB writes and reads)
asks ``is_transient``; the waits between tries are ``backoff``'s.
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


def client(service: str, settings: PipelineSettings):
    """A client with adaptive retries; ``aws_endpoint_url`` (or ``AWS_ENDPOINT_URL``) redirects it."""
    return boto3.client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(
            retries={"max_attempts": 10, "mode": "adaptive"},
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
