"""The scheduled deployment: its cron, timezone and parameters, and prefect.yaml's deployments."""

from __future__ import annotations

import pytest

# --- the flow against the local AWS -----------------------------------------------------------------


def test_the_deployment_carries_the_schedule_and_parameters(tmp_path):
    from pipeline.schedule import nightly_deployment

    deployment = nightly_deployment(
        events=[str(tmp_path / "incoming" / "{run_date}")],
        config="sample_data/retail.toml",
        cron="30 1 * * *",
        timezone="Europe/Paris",
    )
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "30 1 * * *"
    assert schedule.schedule.timezone == "Europe/Paris"
    assert deployment.parameters["config"] == "sample_data/retail.toml"
    assert deployment.parameters["events"] == [str(tmp_path / "incoming" / "{run_date}")]
    assert deployment.parameters["force"] is False
    assert deployment.concurrency_limit == 1


def test_the_deployment_refuses_a_bad_cron():
    from pipeline.schedule import ScheduleError, nightly_deployment

    with pytest.raises(ScheduleError, match="cron '61 2 \\* \\* \\*' is not a valid cron expression"):
        nightly_deployment(events=["x"], cron="61 2 * * *")
    with pytest.raises(ScheduleError, match="timezone 'Mars/Olympus' is not an IANA timezone"):
        nightly_deployment(events=["x"], timezone="Mars/Olympus")


def test_prefect_yaml_deploys_the_flow_with_valid_schedules_and_known_parameters():
    import inspect

    import yaml

    from pipeline.flow import nightly
    from pipeline.schedule import cron_schedule
    from tests.paths import ROOT

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    flow_parameters = set(inspect.signature(nightly.fn).parameters)
    assert {d["work_pool"]["name"] for d in config["deployments"]} == {"recs-cpu", "recs-gpu"}
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        assert (ROOT / path).exists() and name == nightly.fn.__name__
        assert set(deployment["parameters"]) <= flow_parameters
        assert deployment["concurrency_limit"]["limit"] == 1
        for schedule in deployment["schedules"]:
            cron_schedule(schedule["cron"], schedule["timezone"])
