"""A local run's folder is its own: a second run on it fails at once and deletes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.local.replay import run_replay
from infra.local.simulate import Simulation, run_simulation
from infra.local.workdir import WorkdirBusyError, fresh_workdir
from pipeline.cli import main


def _held_by_another_process(workdir) -> subprocess.Popen:
    """A process that holds ``workdir`` until its stdin closes (it says "held" once it does)."""
    code = (
        "import sys; from infra.local.workdir import fresh_workdir\n"
        f"with fresh_workdir({str(workdir)!r}):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_run_gets_an_empty_folder_and_the_next_run_after_it_does_too(tmp_path):
    workdir = tmp_path / "run [1]*?"  # glob characters are only characters here
    with fresh_workdir(workdir) as folder:
        assert folder == workdir and list(folder.iterdir()) == []
        (folder / "warehouse.duckdb").write_text("last run's")
    with fresh_workdir(workdir) as folder:
        assert list(folder.iterdir()) == []


def test_a_second_run_on_a_held_folder_fails_naming_it_and_deletes_nothing(tmp_path):
    workdir = tmp_path / "replay"
    holder = _held_by_another_process(workdir)
    try:
        (workdir / "warehouse.duckdb").write_text("the running run's")
        busy = r"another local run is using .*replay.*own --workdir"
        with pytest.raises(WorkdirBusyError, match=busy), fresh_workdir(workdir):
            pass
        with pytest.raises(WorkdirBusyError):  # the commands hold the folder before the local AWS starts
            run_replay(workdir=workdir, serve=False, echo=lambda line: None)
        with pytest.raises(WorkdirBusyError):
            run_simulation(Simulation(2, "experiment", 100), workdir, echo=lambda line: None)
        assert (workdir / "warehouse.duckdb").read_text() == "the running run's"
    finally:
        holder.communicate("")
    with fresh_workdir(workdir) as folder:  # the holder ended: the folder is free again
        assert list(folder.iterdir()) == []


def test_a_run_that_dies_lets_go_of_its_folder(tmp_path):
    workdir = tmp_path / "demo"
    holder = _held_by_another_process(workdir)
    holder.kill()
    holder.wait(timeout=10)
    with fresh_workdir(workdir) as folder:
        assert folder.is_dir()


def test_the_cli_says_the_folder_is_busy(tmp_path, capsys):
    workdir = tmp_path / "demo"
    holder = _held_by_another_process(workdir)
    try:
        assert main(["demo", "--workdir", str(workdir)]) != 0
    finally:
        holder.communicate("")
    err = capsys.readouterr().err
    assert "another local run is using" in err and str(workdir) in err
