"""The AWS stack of ``infra/template.yaml``, created in any CloudFormation endpoint (AWS or the local moto
server), and its outputs read back as the names the pipeline and the API use.

    outputs = create_stack(endpoint_url=aws.endpoint_url, stack_name="recs-local", table_name="recs")
    outputs.table_name, outputs.bucket_name

The Lambda function of the template needs its code in S3; ``create_stack`` uploads the ``lambda_api``
and ``contract`` sources (``upload_api_code``) to a code bucket first. That is enough for the function
resource to exist locally (moto cannot invoke it without docker); for AWS, upload the zip of
``recs package-lambda``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from infra.package import api_sources

TEMPLATE = Path(__file__).resolve().parent / "template.yaml"
CODE_KEY = "lambda_api.zip"


class StackError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE; the message names the stack and the reason."""


@dataclass(frozen=True)
class StackOutputs:
    """The template's ``Outputs``, by the names the code uses."""

    stack_name: str
    table_name: str
    table_arn: str
    bucket_name: str
    function_name: str
    api_function_role_arn: str
    batch_job_role_arn: str
    api_url: str

    @classmethod
    def from_outputs(cls, stack_name: str, outputs: list[dict]) -> StackOutputs:
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        keys = {
            "table_name": "TableName",
            "table_arn": "TableArn",
            "bucket_name": "BucketName",
            "function_name": "FunctionName",
            "api_function_role_arn": "ApiFunctionRoleArn",
            "batch_job_role_arn": "BatchJobRoleArn",
            "api_url": "ApiUrl",
        }
        missing = sorted(name for name in keys.values() if name not in values)
        if missing:
            raise StackError(f"stack {stack_name} lacks the output(s) {missing} that the template declares")
        return cls(stack_name, **{field: values[name] for field, name in keys.items()})


def api_code_zip() -> bytes:
    """The function's own sources as a zip (no dependencies: enough to create the function)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, name in api_sources():
            zf.write(path, name)
    return buffer.getvalue()


def upload_api_code(s3, bucket: str, key: str = CODE_KEY, body: bytes | None = None) -> None:
    """Create ``bucket`` if needed and put the Lambda code zip at ``key``."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body if body is not None else api_code_zip())


def create_stack(
    endpoint_url: str | None = None,
    stack_name: str = "recs-local",
    table_name: str = "recs",
    region: str = "us-east-1",
    code_bucket: str | None = None,
    code_key: str = CODE_KEY,
    upload_code: bool = True,
    wait_seconds: int = 600,
) -> StackOutputs:
    """Create the stack from ``infra/template.yaml``, wait for it, and return its outputs."""
    session = boto3.session.Session(region_name=region)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    code_bucket = code_bucket or f"{stack_name}-code"
    if upload_code:
        upload_api_code(s3, code_bucket, code_key)
    try:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[
                {"ParameterKey": "TableName", "ParameterValue": table_name},
                {"ParameterKey": "CodeBucket", "ParameterValue": code_bucket},
                {"ParameterKey": "CodeKey", "ParameterValue": code_key},
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
    except (ClientError, BotoCoreError, ResponseParserError) as err:  # moto fails the call itself
        raise StackError(f"stack {stack_name} was refused: {err}") from err
    waiter = cloudformation.get_waiter("stack_create_complete")
    try:
        waiter.wait(StackName=stack_name, WaiterConfig={"Delay": 2, "MaxAttempts": max(1, wait_seconds // 2)})
    except Exception as err:  # the waiter's error says little; the stack's own reason says why
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        raise StackError(
            f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason', err)}"
        ) from err
    return read_outputs(cloudformation, stack_name)


def read_outputs(cloudformation, stack_name: str) -> StackOutputs:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reason = stack.get("StackStatusReason", "")
        raise StackError(f"stack {stack_name} is {stack['StackStatus']}: {reason}")
    return StackOutputs.from_outputs(stack_name, stack.get("Outputs", []))
