"""boto3 clients for the batch job, pointed at AWS or at a local moto server."""

from __future__ import annotations

import boto3
from botocore.config import Config

from pipeline.settings import PipelineSettings


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
