"""The nightly job's compute and schedule in infra/template.yaml, and its image (Dockerfile): what moto's
CloudFormation cannot run (ECS, EventBridge Scheduler, lifecycle rules), checked in the template."""

from __future__ import annotations

import re
import tomllib

import pytest
from cfnlint.decode import decode_str

from infra import stack
from pipeline.ops import state
from pipeline.settings import PipelineSettings
from tests.infra.test_template import as_list
from tests.paths import ROOT


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode_str(stack.TEMPLATE.read_text())
    assert not errors
    return parsed


def test_the_nightly_task_runs_recs_as_the_jobs_role_with_the_stacks_state(template):
    task = template["Resources"]["NightlyTask"]
    assert task["Condition"] == "HasNightlyImage"
    props = task["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"] and props["NetworkMode"] == "awsvpc"
    assert props["TaskRoleArn"] == {"Fn::GetAtt": ["BatchJobRole", "Arn"]}
    assert props["ExecutionRoleArn"] == {"Fn::GetAtt": ["NightlyExecutionRole", "Arn"]}
    (container,) = props["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "NightlyImage"}
    assert container["Command"][:3] == [
        "run",
        "--events",
        {"Fn::Sub": "s3://${ArtifactBucket}/${NightlyEvents}"},
    ]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env == {
        "RECS_TABLE_NAME": {"Ref": "RecsTable"},
        "RECS_AWS_REGION": {"Ref": "AWS::Region"},
        "RECS_WAREHOUSE": {"Fn::Sub": "s3://${ArtifactBucket}/state/warehouse.duckdb"},
        "RECS_ARTIFACTS_DIR": {"Fn::Sub": "s3://${ArtifactBucket}/artifacts"},
        "RECS_CREATE_TABLE": "false",  # the stack owns the table
    }
    # every variable is a setting of the job: a renamed setting fails here, not at 02:00 in AWS
    fields = set(PipelineSettings.model_fields)
    assert {name.removeprefix("RECS_").lower() for name in env} <= fields
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "NightlyLogGroup"}


def test_eventbridge_scheduler_starts_it_at_two_utc_by_default(template):
    assert template["Parameters"]["NightlySchedule"]["Default"] == "cron(0 2 * * ? *)"
    rule = template["Resources"]["NightlyScheduleRule"]
    assert rule["Condition"] == "ScheduledNightly"
    props = rule["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "NightlySchedule"}
    assert props["ScheduleExpressionTimezone"] == "UTC"
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["NightlyCluster", "Arn"]}
    ecs = target["EcsParameters"]
    assert ecs["TaskDefinitionArn"] == {"Ref": "NightlyTask"}
    assert ecs["LaunchType"] == "FARGATE" and ecs["TaskCount"] == 1
    assert ecs["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == {"Ref": "NightlySubnets"}


def test_the_scheduler_may_start_that_task_and_pass_its_two_roles_only(template):
    role = template["Resources"]["NightlySchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    run, passing = policy["PolicyDocument"]["Statement"]
    assert (run["Action"], run["Resource"]) == ("ecs:RunTask", {"Ref": "NightlyTask"})
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["NightlyCluster", "Arn"]}}}
    assert passing["Action"] == "iam:PassRole"
    assert passing["Resource"] == [
        {"Fn::GetAtt": ["BatchJobRole", "Arn"]},
        {"Fn::GetAtt": ["NightlyExecutionRole", "Arn"]},
    ]


def test_superseded_warehouse_snapshots_expire_by_the_tag_the_job_sets(template):
    rules = template["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r["Id"] == "ExpireSupersededWarehouseState"]
    assert rule["TagFilters"] == [{"Key": state.STATE_TAG, "Value": "superseded"}]
    assert rule["ExpirationInDays"] >= 1
    (policy,) = template["Resources"]["BatchJobRole"]["Properties"]["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in as_list(s["Action"])}
    assert {"s3:PutObjectTagging", "s3:GetObjectTagging", "dynamodb:UpdateItem"} <= actions


def test_the_image_installs_the_batch_extra_and_runs_recs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN pip install .*$", dockerfile, re.MULTILINE)
    assert installs == ["RUN pip install --no-cache-dir '.[batch]'"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "moto" not in " ".join(extras["batch"])  # the job's image carries no test server
    assert 'ENTRYPOINT ["recs"]' in dockerfile
    copied = re.findall(r"^COPY (\S+) \1$", dockerfile, re.MULTILINE)
    assert copied == ["contract", "pipeline"]  # the packages `recs run` imports, and only those
    assert all((ROOT / name / "__init__.py").exists() for name in copied)
