"""API keys: their one rule, and where they come from (``RECS_API_KEYS``, or a Secrets Manager secret).

Standard library only (boto3 is imported when a secret is read), so the Lambda entry point can
check ``RECS_API_KEYS`` while the container starts: a malformed value fails the start-up with a
message that names the variable and the rule, never a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

MIN_KEY_LENGTH = 16
KEYS_VARIABLE = "RECS_API_KEYS"


class ApiKeyConfigError(ValueError):
    """The configured API keys break their rule; the message never contains a key."""


def parse_keys(raw: str, origin: str = KEYS_VARIABLE) -> list[str]:
    """The comma-separated keys of ``raw``; ``ApiKeyConfigError`` naming ``origin`` when they break the rule.

    A value that is set but holds no key is an error, not "authentication off": an empty
    variable is far more often a failed substitution than a decision.
    """
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ApiKeyConfigError(
            f"{origin} is set but holds no key: give comma-separated keys of at least {MIN_KEY_LENGTH} "
            f"characters, or unset it to serve without authentication"
        )
    short = [str(n) for n, key in enumerate(keys, 1) if len(key) < MIN_KEY_LENGTH]
    if short:
        raise ApiKeyConfigError(
            f"{origin}: key {', '.join(short)} of {len(keys)} is shorter than {MIN_KEY_LENGTH} characters "
            f"(keys are not shown)"
        )
    return keys


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Raise ``ApiKeyConfigError`` when ``RECS_API_KEYS`` is set and breaks the rule."""
    raw = environ.get(KEYS_VARIABLE)
    if raw is not None:
        parse_keys(raw)


def read_secret_keys(client, secret_id: str) -> list[str]:
    """The keys held by a Secrets Manager secret (its SecretString, comma-separated)."""
    from botocore.exceptions import BotoCoreError, ClientError

    origin = f"secret {secret_id}"
    try:
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "error")
        raise ApiKeyConfigError(f"{origin} cannot be read ({code}): the API refuses every request") from None
    except BotoCoreError as err:
        raise ApiKeyConfigError(
            f"{origin} cannot be read ({type(err).__name__}): the API refuses every request"
        ) from None
    if not isinstance(value, str):
        raise ApiKeyConfigError(f"{origin} holds no SecretString")
    return parse_keys(value, origin)
