"""AWS failures as one line a person can act on: which resource, what went wrong, what to do.

``explain`` is the command line's one boundary for errors from boto3 (``pipeline.cli.main``):
no credentials, an endpoint that does not answer, access denied, a missing table or bucket.
It looks through the error's chain, so a failure wrapped by a stage or by Prefect is found.
``where`` names the table and the endpoint the command's settings point at.
"""

from __future__ import annotations

from dataclasses import dataclass

# DynamoDB and S3 codes for a refusal of the caller's identity or rights
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
LOCAL_HINT = "for the local AWS: `recs local-aws start`, or --local-aws"


@dataclass(frozen=True)
class Where:
    """What the command's settings point at, to name in the message."""

    table: str
    region: str
    endpoint_url: str | None


def where(args) -> Where:
    """The table, region and endpoint of the command's settings (the settings' names when those do
    not load: the error being explained matters more than a second one about the settings)."""
    from pipeline.cli import common

    try:
        settings = common.settings(args)
    except Exception:
        return Where("named by table_name (RECS_TABLE_NAME)", "the configured region", None)
    return Where(settings.table_name, settings.aws_region, settings.aws_endpoint_url)


def explain(err: BaseException, where: Where) -> str | None:
    """One line for an AWS failure anywhere in ``err``'s chain; None when it is not one."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    for cause in _chain(err):
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return (
                "no AWS credentials found (boto3 looks in the environment, ~/.aws and the instance or "
                f"task role): set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {LOCAL_HINT}"
            )
        if isinstance(cause, NoRegionError):
            return "no AWS region: set aws_region (RECS_AWS_REGION) or AWS_DEFAULT_REGION"
        if isinstance(cause, EndpointConnectionError | ConnectTimeoutError):
            endpoint = cause.kwargs.get("endpoint_url") or where.endpoint_url or f"AWS in {where.region}"
            return (
                f"cannot reach {endpoint}: check the network and aws_endpoint_url (RECS_AWS_ENDPOINT_URL "
                f"or AWS_ENDPOINT_URL); {LOCAL_HINT}"
            )
        if isinstance(cause, ClientError):
            return _client_error(cause, where)
    return None


def _client_error(err, where: Where) -> str | None:
    error = err.response.get("Error", {})
    code, operation = error.get("Code", ""), err.operation_name
    resource = _resource(error, operation, where)
    if code in DENIED:
        return (
            f"access denied to {resource} ({code} on {operation}): check the credentials in use "
            "(`aws sts get-caller-identity`) and give the job's role the rights in infra/template.yaml"
        )
    if code == "ResourceNotFoundException":
        return (
            f"{resource} does not exist in {where.region}{_at(where)}: deploy the stack in infra/ or set "
            "table_name (RECS_TABLE_NAME) to the stack's table"
        )
    if code == "NoSuchBucket":
        return f"{resource} is missing{_at(where)}: create it (the stack in infra/ does) or fix the settings"
    return None


def _resource(error: dict, operation: str, where: Where) -> str:
    if "BucketName" in error:
        return f"S3 bucket {error['BucketName']}"
    if operation in _S3_OPERATIONS:
        return "the S3 bucket in the settings (warehouse / artifacts_dir / events)"
    return f"DynamoDB table {where.table}"


def _at(where: Where) -> str:
    return f" at {where.endpoint_url}" if where.endpoint_url else ""


def _chain(err: BaseException | None):
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


_S3_OPERATIONS = frozenset(
    {
        "GetObject",
        "PutObject",
        "HeadObject",
        "DeleteObject",
        "ListObjectsV2",
        "HeadBucket",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
)
