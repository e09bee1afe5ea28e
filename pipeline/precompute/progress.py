"""Progress of the precompute on a terminal, and nothing anywhere else.

A bar is drawn on stderr only when stderr is a terminal (tqdm's ``disable=None``) and only once
the work has lasted ``DELAY_SECONDS``: a scheduled run, a Prefect worker, a redirected log or a
short demo step gets no bar and no line, so the logs stay as they are. A finished bar is wiped
(``leave=False``): the log lines that follow say what was done. Publishing draws its own
bar by the same rule (``pipeline.publish.writer``).
"""

from __future__ import annotations

from typing import IO

from tqdm import tqdm

DELAY_SECONDS = 2.0


def terminal_bar(total: int, desc: str, unit: str, file: IO[str] | None = None) -> tqdm:
    """A bar over ``total`` ``unit`` on ``file`` (default stderr), drawn only on a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=None,
        delay=DELAY_SECONDS,
        mininterval=1.0,
        leave=False,
        file=file,
    )
