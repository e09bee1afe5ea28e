"""Settings: defaults < TOML file < environment < a command's arguments, and where each came from."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipeline import cli
from pipeline.settings import PipelineSettings, load_settings, settings_origins, shown

TOML = """
holdout_days = 10
k = 30
[als]
factors = 96
regularization = 13.0
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    for name in ("RECS_K", "RECS_HOLDOUT_DAYS", "RECS_ALS__FACTORS", "RECS_ALS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "settings.toml"
    path.write_text(TOML)
    return path


def test_the_environment_overrides_the_file_and_an_argument_overrides_both(config, monkeypatch):
    monkeypatch.setenv("RECS_K", "40")
    monkeypatch.setenv("RECS_ALS__FACTORS", "32")
    settings = load_settings(config, holdout_days=5)
    assert settings.k == 40  # environment over file
    assert settings.holdout_days == 5  # argument over file
    assert settings.als.factors == 32 and settings.als.regularization == 13.0  # one field of a group
    assert load_settings(config, k=12).k == 12  # argument over environment
    assert load_settings(config, k=None).k == 40  # an argument left unset changes nothing


def test_origins_name_the_layer_that_set_each_value(config, monkeypatch):
    monkeypatch.setenv("RECS_ALS__FACTORS", "32")
    origins = settings_origins(config, holdout_days=5)
    assert origins["als.factors"] == "environment" and origins["als.regularization"] == "file"
    assert origins["holdout_days"] == "argument" and origins["k"] == "file"
    assert "ttl_days" not in origins  # a default


def test_recs_config_show_prints_every_value_and_its_origin(config, monkeypatch, capsys):
    monkeypatch.setenv("RECS_ALS__FACTORS", "32")
    assert cli.main(["config", "show", "--config", str(config), "--json"]) == 0
    shown_values = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown_values["als.factors"] == {"value": 32, "origin": "environment"}
    assert shown_values["k"] == {"value": 30, "origin": "file"}
    assert shown_values["ttl_days"]["origin"] == "default"
    assert cli.main(["config", "show", "--config", str(config)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("als.factors "))
    assert line.split()[-2:] == ["32", "environment"]


def test_secrets_are_masked_when_shown():
    class WithSecrets(PipelineSettings):
        api_key: str | None = None
        db_password: str = "hunter2-hunter2"

    masked = shown(WithSecrets(api_key="prod-key-0123456789", table_name="t"))
    assert masked["api_key"] == "***" and masked["db_password"] == "***"
    assert masked["table_name"] == "t" and "hunter2" not in json.dumps(masked)


def test_a_bad_file_or_value_names_the_problem(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="config file .*nope.toml does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("k = = 3")
    with pytest.raises(ValueError, match="broken.toml is not valid TOML"):
        load_settings(broken)
    typo = tmp_path / "typo.toml"
    typo.write_text("kk = 3")
    with pytest.raises(ValidationError, match="kk"):
        load_settings(typo)
    monkeypatch.setenv("RECS_K", "lots")
    with pytest.raises(ValidationError, match="k"):
        load_settings()
