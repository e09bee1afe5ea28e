"""The impression path on the local AWS: log group → subscription filter → Firehose → the bucket.

On AWS the template creates these (``ImpressionSubscription``, ``ImpressionStream``); moto's
CloudFormation skips Firehose streams and subscription filters, so the local stack gets the
same two resources through the API, named and configured as the template names them. From the
log group on, moto then carries the API's records exactly as AWS does: each ``PutLogEvents``
reaches the stream, which writes the gzipped CloudWatch Logs envelope under ``impressions/``.
(moto does not apply the filter pattern, so Lambda's own lines would land too; readers skip
whatever is not an impression, ``pipeline.feedback.records.parse_object``.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import contract
from pipeline.feedback import records

FILTER_PATTERN = "{ $.rec_id = * }"  # the template's: only the API's JSON lines with a rec_id
LOCAL_ROLE = "arn:aws:iam::123456789012:role/recs-local-impressions"  # moto checks no role


@dataclass(frozen=True)
class ImpressionPath:
    log_group: str
    stream_name: str
    bucket: str


def wire_impressions(session, log_group: str, bucket: str, stream_name: str | None = None) -> ImpressionPath:
    """Create the log group (if missing), a Firehose stream into ``bucket`` and the subscription."""
    logs = session.client("logs")
    firehose = session.client("firehose")
    stream_name = stream_name or f"{log_group.strip('/').replace('/', '-')}-impressions"[-64:]
    if not logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]:
        logs.create_log_group(logGroupName=log_group)
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=stream_name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": LOCAL_ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": contract.IMPRESSIONS_PREFIX,
            "ErrorOutputPrefix": "impressions-errors/",
            "CompressionFormat": "UNCOMPRESSED",  # the envelope is gzipped already
        },
    )["DeliveryStreamARN"]
    logs.put_subscription_filter(
        logGroupName=log_group,
        filterName="impressions",
        filterPattern=FILTER_PATTERN,
        destinationArn=arn,
        roleArn=LOCAL_ROLE,
    )
    return ImpressionPath(log_group, stream_name, bucket)


def read_impressions(s3, bucket: str) -> list[records.Impression]:
    """Every impression under the bucket's ``impressions/``, in key order; ``ValueError`` naming the
    object and the rule when one holds a record that breaks it (this reader is for local checks:
    the nightly quarantines such records instead)."""
    found: list[records.Impression] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=contract.IMPRESSIONS_PREFIX
    ):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            parsed = records.parse_object(body)
            if parsed.bad:
                raise ValueError(f"s3://{bucket}/{obj['Key']}: {parsed.bad[0].reason}")
            found += parsed.records
    return found


def wait_for_impressions(s3, bucket: str, expected: int, seconds: float = 20.0) -> int:
    """How many answers reached the bucket, polling until ``expected`` of them did (or ``seconds``
    passed): the API sends its queue every ``impressions_flush_seconds``."""
    deadline = time.monotonic() + seconds
    while (found := len(read_impressions(s3, bucket))) < expected and time.monotonic() < deadline:
        time.sleep(0.25)
    return found
