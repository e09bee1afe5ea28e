"""Argument types that hold the CLI to the API's rules: the id rule (``contract.id_problem``) and
k's bounds. A bad value stops the command before it reads anything, with argparse's usage error
naming the argument, the value (shortened, control characters escaped) and the rule."""

from __future__ import annotations

import argparse

import contract

SHOWN_CHARACTERS = 40


def shown(value: str) -> str:
    """``value`` as an error message quotes it: escaped (repr), at most SHOWN_CHARACTERS characters."""
    cut = value[:SHOWN_CHARACTERS]
    return repr(cut) + (f" (+{len(value) - len(cut)} more characters)" if len(value) > len(cut) else "")


def _id(kind: str, max_length: int):
    def check(value: str) -> str:
        problem = contract.id_problem(value, max_length)
        if problem:
            raise argparse.ArgumentTypeError(f"{kind} {shown(value)} {problem}: the API answers 422 to it")
        return value

    check.__name__ = kind  # argparse names the type in some messages
    return check


user_id = _id("user id", contract.MAX_ID_LENGTH)
segment = _id("segment", contract.MAX_SEGMENT_LENGTH)


def k(value: str) -> int:
    """A k the API takes: a whole number from 1 to ``contract.MAX_K``."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"k must be a whole number, got {shown(value)}") from None
    if not 1 <= number <= contract.MAX_K:
        raise argparse.ArgumentTypeError(f"k must be from 1 to {contract.MAX_K}, got {number}")
    return number
