"""Precompute's progress: bars on a terminal (a real pseudo-terminal here), nothing when stderr is not one."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import sys
import termios

import numpy as np
import pytest

from pipeline.model import train
from pipeline.precompute import progress, recommend, scoring, shard
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions


@pytest.fixture
def terminal(monkeypatch):
    """A pseudo-terminal of 100 columns, no delay before a bar shows. Calling it puts stderr on the
    terminal (in the test itself: pytest's capture sets stderr again when the test starts) and returns a
    reader of what the terminal got."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    stream = os.fdopen(follower, "w", buffering=1)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.0)

    def read() -> str:
        """What reached the terminal: a pty passes bytes on asynchronously, so read until it is quiet."""
        stream.flush()
        got = b""
        while select.select([leader], [], [], 0.5)[0]:
            got += os.read(leader, 1 << 16)
        return got.decode()

    def attach():
        monkeypatch.setattr(sys, "stderr", stream)
        return read

    yield attach
    stream.close()
    os.close(leader)


@pytest.fixture(scope="module")
def fitted():
    data = synthetic_interactions()
    return data, train.fit(data, ALSParams(factors=8, regularization=1.0, iterations=2))


def test_each_finished_block_reports_its_real_rows():
    rng = np.random.default_rng(0)
    done: list[int] = []
    query, items = rng.random((1300, 4), np.float32), rng.random((50, 4), np.float32)
    scoring.top_k(query, items, 5, on_block=done.append)
    assert sorted(done) == [276, 512, 512]  # the padding rows of the last block are not counted


def test_scoring_draws_a_bar_on_a_terminal(terminal, fitted):
    data, model = fitted
    read = terminal()
    quiet = recommend.top_k_for_users(model, data.user_items, 10, np.arange(100, 300))
    with_bar = shard.score_range(model, data.user_items, 10, range(100, 300))
    drawn = read()
    assert "score users 100-300" in drawn and "/200 [" in drawn
    assert np.array_equal(with_bar.ids, quiet.ids) and np.array_equal(with_bar.scores, quiet.scores)


def test_similar_items_draw_a_bar_on_a_terminal(terminal, fitted):
    _, model = fitted
    read = terminal()
    recommend.similar_items(model, 5)
    drawn, n = read(), model.item_factors.shape[0]
    assert "similar items" in drawn and f"/{n} [" in drawn


def test_no_bar_and_no_line_when_stderr_is_not_a_terminal(monkeypatch, fitted):
    data, model = fitted
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.0)
    shard.score_range(model, data.user_items, 10, range(0, data.shape[0]))
    recommend.similar_items(model, 5)
    assert captured.getvalue() == ""


def test_a_terminal_bar_waits_for_its_delay(terminal, monkeypatch):
    read = terminal()
    monkeypatch.setattr(progress, "DELAY_SECONDS", 60.0)
    with progress.terminal_bar(10, "short work", "rows") as bar:
        bar.update(10)
    assert "short work" not in read()
