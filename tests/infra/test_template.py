"""infra/template.yaml: lint-clean, declares the item contract's table, least-privilege roles, and a stack
created from it in moto's CloudFormation serves the flow and the Lambda handler end to end."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from cfnlint.decode import decode_str

import contract
from infra import stack
from infra.local.synthetic import SyntheticSpec, write_daily

TINY = SyntheticSpec(events=6_000, users=300, items=120, days=12, clusters=8, seed=3)


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode_str(stack.TEMPLATE.read_text())
    assert not errors
    return parsed


@pytest.fixture(scope="module")
def created(local_aws):
    """One stack per module, with names of its own so it never collides with other tests."""
    suffix = uuid.uuid4().hex[:6]
    return stack.create_stack(
        endpoint_url=local_aws.endpoint_url,
        stack_name=f"recs-it-{suffix}",
        table_name=f"recs-it-{suffix}",
        region=local_aws.region,
    )


def resources_of(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def lint_problems(text: str) -> list[str]:
    """cfn-lint's errors and warnings, as its command line reports them (informational rules off)."""
    from cfnlint.api import lint

    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in lint(text)]


def test_template_is_cfn_lint_clean():
    assert lint_problems(stack.TEMPLATE.read_text()) == []


def test_cfn_lint_would_catch_a_broken_template():
    broken = stack.TEMPLATE.read_text().replace("Runtime: python3.12", "Runtime: python2.7")
    assert any(problem.startswith("E") for problem in lint_problems(broken))


def test_table_declares_the_item_contract(template):
    (table,) = resources_of(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]} == {
        contract.PARTITION_KEY: "HASH",
        contract.SORT_KEY: "RANGE",
    }
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        contract.PARTITION_KEY: "S",
        contract.SORT_KEY: "S",
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": contract.TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_function_runs_the_mangum_handler_on_a_current_runtime(template):
    (function,) = resources_of(template, "AWS::Lambda::Function").values()
    props = function["Properties"]
    module, attribute = props["Handler"].rsplit(".", 1)
    assert (module, attribute) == ("lambda_api.handler", "handler")
    major, minor = props["Runtime"].removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 12)
    assert "MemorySize" in props and "Timeout" in props
    assert props["Environment"]["Variables"]["RECS_TABLE_NAME"] == {"Ref": "RecsTable"}


def test_http_api_routes_to_the_function(template):
    (integration,) = resources_of(template, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"  # the event shape Mangum reads
    (route,) = resources_of(template, "AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"].startswith("GET /")


def role_statements(iam, role_arn: str) -> list[dict]:
    role_name = role_arn.rsplit("/", 1)[1]
    statements = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):  # moto's CloudFormation stores the policy as a Python repr
            document = ast.literal_eval(document) if document.startswith("{'") else json.loads(document)
        statements += document["Statement"]
    return statements


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_lambda_may_only_read_its_one_table(created, local_aws):
    iam = boto3.client("iam", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    statements = role_statements(iam, created.api_function_role_arn)
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(dynamodb) == 1
    assert sorted(as_list(dynamodb[0]["Action"])) == ["dynamodb:GetItem"]  # the only call the API makes
    assert as_list(dynamodb[0]["Resource"]) == [created.table_arn]
    others = {a for s in statements for a in as_list(s["Action"]) if not a.startswith("dynamodb:")}
    # its own log group, and (moto leaves out what it cannot create) the key secret
    assert others - {"secretsmanager:GetSecretValue"} == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert all("*" not in a for s in statements for a in as_list(s["Action"]))


def test_the_batch_job_may_write_the_table_and_the_bucket(created, local_aws):
    iam = boto3.client("iam", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    statements = role_statements(iam, created.batch_job_role_arn)
    granted = {(a, r) for s in statements for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
    bucket_arn = f"arn:aws:s3:::{created.bucket_name}"
    for action in ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DescribeTable"):
        assert (action, created.table_arn) in granted
    assert ("s3:PutObject", f"{bucket_arn}/*") in granted
    assert ("s3:ListBucket", bucket_arn) in granted
    assert {r for _, r in granted} == {created.table_arn, bucket_arn, f"{bucket_arn}/*"}


def test_stack_resources_match_what_the_code_expects(created, local_aws):
    dynamodb = boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    table = dynamodb.describe_table(TableName=created.table_name)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    s3.head_bucket(Bucket=created.bucket_name)
    function = boto3.client("lambda", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    config = function.get_function_configuration(FunctionName=created.function_name)
    assert config["Handler"] == "lambda_api.handler.handler"
    assert config["Environment"]["Variables"] == {"RECS_TABLE_NAME": created.table_name}


def test_a_stack_that_fails_names_itself_and_the_reason(local_aws):
    name = f"recs-bad-{uuid.uuid4().hex[:6]}"
    with pytest.raises(stack.StackError, match=f"(?s)stack {name} .*NoSuchBucket"):
        stack.create_stack(
            endpoint_url=local_aws.endpoint_url,
            stack_name=name,
            table_name=name,
            region=local_aws.region,
            code_bucket=f"{name}-missing",  # the Lambda's code is not there
            upload_code=False,
        )


def invoke_handler(env: dict[str, str], path: str) -> dict:
    """Call ``lambda_api.handler.handler`` with an HTTP API (payload 2.0) event, in a fresh process whose
    environment is the one the stack gave the function."""
    event = {
        "version": "2.0",
        "routeKey": "GET /{proxy+}",
        "rawPath": path,
        "rawQueryString": "k=5",
        "headers": {"host": "example.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    code = (
        "import json, sys; from lambda_api.handler import handler; "
        "print(json.dumps(handler(json.loads(sys.argv[1]), None)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(event)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_flow_and_handler_run_against_the_stack(created, local_aws, prefect_harness, tmp_path):
    from pipeline.flow import nightly
    from pipeline.settings import load_settings

    write_daily(TINY, tmp_path / "events")
    settings = load_settings(
        warehouse=tmp_path / "warehouse.duckdb",
        artifacts_dir=tmp_path / "artifacts",
        table_name=created.table_name,
        aws_endpoint_url=local_aws.endpoint_url,
        holdout_days=3,
        k=10,
        similar_k=5,
        min_lift_over_popular=-1.0,
        create_table=False,  # the stack's table, as in AWS
    )
    summary = nightly(events=[str(tmp_path / "events")], settings=settings)
    assert summary.published

    function = boto3.client("lambda", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    env = function.get_function_configuration(FunctionName=created.function_name)["Environment"]["Variables"]
    answer = invoke_handler(env, "/v1/users/u1/recommendations")
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["model_version"] == summary.model_version
    assert len(body["items"]) == 5


# -- what the template itself states (moto's CloudFormation skips secrets and bucket policies) ---


def test_both_roles_trust_their_service_for_this_account_only(template):
    for name in ("ApiFunctionRole", "BatchJobRole"):
        (statement,) = template["Resources"][name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_batch_job_may_delete_nothing(template):
    (policy,) = template["Resources"]["BatchJobRole"]["Properties"]["Policies"]
    actions = [a for s in policy["PolicyDocument"]["Statement"] for a in as_list(s["Action"])]
    assert actions and not [a for a in actions if "Delete" in a or "*" in a]


def test_the_bucket_refuses_requests_without_tls(template):
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ArtifactBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::Sub": "${ArtifactBucket.Arn}/*"} in statement["Resource"]


def test_the_api_needs_a_key_by_default_read_from_its_secret(template):
    assert template["Parameters"]["ApiAuthentication"]["Default"] == "api-key"
    function = template["Resources"]["ApiFunction"]["Properties"]
    assert function["Environment"]["Variables"]["RECS_API_KEYS_SECRET"] == {
        "Fn::If": ["KeyedApi", {"Ref": "ApiKeySecret"}, {"Ref": "AWS::NoValue"}]
    }
    policies = template["Resources"]["ApiFunctionRole"]["Properties"]["Policies"]
    (keyed,) = [p for p in policies if "Fn::If" in p]
    statement = keyed["Fn::If"][1]["PolicyDocument"]["Statement"][0]
    assert (statement["Action"], statement["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "ApiKeySecret"},
    )
    secret = template["Resources"]["ApiKeySecret"]["Properties"]["GenerateSecretString"]
    assert secret["PasswordLength"] >= 16 and secret["ExcludePunctuation"] is True  # no comma in a key


def test_the_api_is_throttled_and_its_concurrency_bounded(template):
    routes = template["Resources"]["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert routes == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRatePerSecond"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
    }
    function = template["Resources"]["ApiFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservedConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Parameters"]["ApiReservedConcurrency"]["Default"] > 0


def test_impression_lines_go_from_the_api_log_group_through_firehose_to_the_bucket(template):
    resources = template["Resources"]
    (subscription,) = resources_of(template, "AWS::Logs::SubscriptionFilter").values()
    props = subscription["Properties"]
    assert props["LogGroupName"] == {"Ref": "ApiLogGroup"}
    assert props["FilterPattern"] == "{ $.rec_id = * }"
    stream = resources["ImpressionStream"]["Properties"]["DeliveryStreamName"]["Fn::Sub"]
    assert props["DestinationArn"]["Fn::Sub"].endswith(f":deliverystream/{stream}")
    assert subscription["DependsOn"] == "ImpressionStream"
    destination = resources["ImpressionStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}
    assert destination["Prefix"] == contract.IMPRESSIONS_PREFIX
    assert destination["CompressionFormat"] == "UNCOMPRESSED"  # CloudWatch Logs gzips the envelope already


def test_the_impression_roles_may_only_deliver_impressions(template):
    resources = template["Resources"]
    for name, service in (("ImpressionStreamRole", "firehose"), ("ImpressionSubscriptionRole", "logs")):
        role = resources[name]["Properties"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        actions = [
            a
            for p in role["Policies"]
            for s in p["PolicyDocument"]["Statement"]
            for a in as_list(s["Action"])
        ]
        assert actions and not [a for a in actions if "Delete" in a or "*" in a or a.startswith("dynamodb:")]
    (writes,) = [
        s
        for s in resources["ImpressionStreamRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if "s3:PutObject" in as_list(s["Action"])
    ]
    assert [r["Fn::Sub"] for r in writes["Resource"]] == [
        "${ArtifactBucket.Arn}/impressions/*",
        "${ArtifactBucket.Arn}/impressions-errors/*",
    ]


def test_the_local_stack_gets_the_impression_path_and_carries_records_to_its_bucket(created, local_aws):
    from infra.local.impressions import read_impressions, wire_impressions

    session = boto3.session.Session(region_name=local_aws.region)
    log_group = f"/aws/lambda/{created.stack_name}-api"  # the template's ApiLogGroup
    assert session.client("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    path = wire_impressions(session, log_group, created.bucket_name)
    logs = session.client("logs")
    logs.create_log_stream(logGroupName=log_group, logStreamName="s")
    now = int(time.time() * 1000)  # CloudWatch Logs drops events older than 14 days
    line = contract.encode_impression(
        contract.Impression(
            "r-1", contract.impression_time(), "similar", None, "85123A", "v", None, None, "personal", ("a",)
        )
    )
    logs.put_log_events(
        logGroupName=log_group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": "START RequestId: x"}, {"timestamp": now, "message": line}],
    )
    landed = read_impressions(session.client("s3"), path.bucket)
    assert [(r.rec_id, r.item_id, r.items) for r in landed] == [("r-1", "85123A", ("a",))]  # START skipped
