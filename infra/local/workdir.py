"""The folder a local run (``recs demo``, ``recs replay``, ``recs replay --simulate``) owns.

Each run starts by emptying its folder: the warehouse, the artifacts and the landed logs of the
last run go. Two runs on one folder at once would delete each other's files half-way, so a run
holds an exclusive lock on a file beside the folder (``<folder>.lock``: inside it, emptying the
folder would take the lock file with it) for as long as it uses the folder, and a second run
fails at once, naming the folder. The lock is the kernel's (``flock``): a run that dies, however
it dies, lets go of it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import PipelineError


class WorkdirBusyError(PipelineError):
    """Another local run uses the folder; this one changed nothing in it."""


@contextmanager
def fresh_workdir(workdir: Path) -> Iterator[Path]:
    """``workdir`` emptied, created and held by this process until the block ends."""
    workdir = Path(workdir)
    workdir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = workdir.with_name(workdir.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkdirBusyError(
                f"another local run is using {workdir} (it holds {lock_path}); "
                "wait for it to end, or give this run its own --workdir"
            ) from None
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        yield workdir
    finally:
        os.close(fd)  # closing the descriptor releases the lock
