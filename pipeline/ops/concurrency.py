"""One nightly run at a time: a Prefect global concurrency limit (``SLOT_NAME``) of one slot."""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pipeline.errors import PipelineError

P = ParamSpec("P")
R = TypeVar("R")

SLOT_NAME = "recs-nightly"
SLOT_WAIT_SECONDS = 5.0  # a second run waits this long for the first, then fails with RunInProgressError


class RunInProgressError(PipelineError):
    """Another nightly run holds the one slot; this run did nothing."""


def ensure_slot(name: str = SLOT_NAME) -> None:
    """Create the one-slot global concurrency limit if the Prefect API does not have it yet."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(name, limit=1)


def one_run_at_a_time(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` holding the ``SLOT_NAME`` slot; a second caller waits ``SLOT_WAIT_SECONDS``, then fails.

    The slot is leased and renewed while the run lives, so a killed process frees it when its lease ends.
    """
    from prefect.concurrency.sync import concurrency

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        ensure_slot()
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(
                    concurrency(
                        SLOT_NAME,
                        occupy=1,
                        timeout_seconds=SLOT_WAIT_SECONDS,
                        strict=True,
                        # a missed lease renewal (a busy API) must not kill a long training run
                        raise_on_lease_renewal_failure=False,
                    )
                )
            except TimeoutError:
                raise RunInProgressError(
                    f"another nightly run holds the '{SLOT_NAME}' concurrency slot (limit 1); this run "
                    f"waited {SLOT_WAIT_SECONDS:.0f}s and did nothing"
                ) from None
            return fn(*args, **kwargs)

    # Prefect validates parameters from the signature: give it ``fn``'s, with its annotations resolved
    guarded.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    guarded.__annotations__ = typing.get_type_hints(fn)
    return guarded
