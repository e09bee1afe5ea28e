"""Where the job keeps its files: a local path or an S3 prefix, behind one small set of functions.

``artifacts_dir`` and ``warehouse`` accept either a local path or ``s3://bucket/prefix``
(``location``); the model artifacts (pipeline/model/artifact.py) and the warehouse state
(pipeline/ops/state.py) read and write through the functions here, which do the same thing
on both. S3 goes through boto3 and its managed transfers (``upload_file`` / ``download_file``:
multipart, parallel, retried), the one AWS library the job already needs.

An ``S3Path`` carries the endpoint and region of the settings it came from (``bind``), so a
location read from the settings reaches the same S3 (AWS, or the local moto server) as the
job's DynamoDB client. Every S3 failure that is not worth a retry becomes a ``StorageError``
naming the object and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from pipeline.errors import PipelineError

SCHEME = "s3://"
# S3's bucket naming rules, shortened: 3-63 lowercase letters, digits, dots and hyphens
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageError(PipelineError):
    """An object or file that cannot be read or written; the message names it and what to do."""


@dataclass(frozen=True)
class S3Path:
    """``s3://bucket/key``: ``key`` has no leading or trailing ``/`` and no ``.`` or ``..`` part."""

    bucket: str
    key: str = ""
    endpoint_url: str | None = field(default=None, compare=False, repr=False)
    region: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}" if self.key else f"{SCHEME}{self.bucket}"

    def __truediv__(self, part: str) -> S3Path:
        return replace(self, key=_joined(self.key, part))

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def parent(self) -> S3Path:
        parent = str(PurePosixPath(self.key).parent)
        return replace(self, key="" if parent == "." else parent)


Location = Path | S3Path


def location(value: str | Path | S3Path) -> Location:
    """A local path, or an ``S3Path`` for ``s3://bucket/prefix``; a bad S3 URI raises naming the rule."""
    if isinstance(value, S3Path | Path):
        return value
    text = str(value)
    if not text.lower().startswith(SCHEME):
        return Path(text)
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(
            f"{text!r}: the bucket must be 3-63 lowercase letters, digits, dots or hyphens (s3://bucket/prefix)"
        )
    return S3Path(bucket, _joined("", key.strip("/")) if key.strip("/") else "")


def _joined(key: str, part: str) -> str:
    parts = [p for p in part.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or "\\" in part:
        raise ValueError(f"{part!r} is not a key part: it must be non-empty, without '.', '..' or '\\'")
    return "/".join([key, *parts] if key else parts)


def bind(loc: Location, region: str | None, endpoint_url: str | None) -> Location:
    """``loc`` reaching S3 through ``endpoint_url`` in ``region`` (a local path is returned as is)."""
    return replace(loc, region=region, endpoint_url=endpoint_url) if isinstance(loc, S3Path) else loc


def is_s3(loc: Location) -> bool:
    return isinstance(loc, S3Path)


def client(loc: S3Path):
    """A boto3 S3 client for ``loc``'s endpoint and region, with adaptive retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=loc.region,
        endpoint_url=loc.endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "adaptive"}),
    )


# --- the operations, the same on both kinds of location ---------------------------------------


def read_bytes(loc: Location) -> bytes:
    """The file's or object's bytes; ``FileNotFoundError`` naming it when there is none."""
    if isinstance(loc, Path):
        return loc.read_bytes()
    try:
        return client(loc).get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
    except Exception as err:
        raise _named(err, loc, "read") from err


def write_bytes(loc: Location, data: bytes) -> None:
    if isinstance(loc, Path):
        loc.parent.mkdir(parents=True, exist_ok=True)
        loc.write_bytes(data)
        return
    try:
        client(loc).put_object(Bucket=loc.bucket, Key=loc.key, Body=data)
    except Exception as err:
        raise _named(err, loc, "write") from err


def exists(loc: Location) -> bool:
    if isinstance(loc, Path):
        return loc.exists()
    try:
        read = client(loc).list_objects_v2(Bucket=loc.bucket, Prefix=loc.key, MaxKeys=1)
    except Exception as err:
        raise _named(err, loc, "list") from err
    return any(obj["Key"] == loc.key for obj in read.get("Contents", []))


def check_reachable(loc: Location) -> None:
    """Raise (naming ``loc``) unless its bucket answers a listing with these credentials; local: nothing."""
    if isinstance(loc, S3Path):
        try:
            client(loc).list_objects_v2(Bucket=loc.bucket, Prefix=loc.key, MaxKeys=1)
        except Exception as err:
            raise _named(err, loc, "list") from err


def list_files(root: Location) -> list[str]:
    """Every file under ``root``, as ``/``-separated paths relative to it, sorted."""
    if isinstance(root, Path):
        if not root.is_dir():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    prefix = f"{root.key}/" if root.key else ""
    found: list[str] = []
    try:
        pages = client(root).get_paginator("list_objects_v2").paginate(Bucket=root.bucket, Prefix=prefix)
        for page in pages:
            found.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
    except Exception as err:
        raise _named(err, root, "list") from err
    return sorted(found)


def download(loc: Location, local: Path) -> Path:
    """A local copy of ``loc`` at ``local`` (a managed, multipart transfer from S3)."""
    local.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(loc, Path):
        local.write_bytes(loc.read_bytes())
        return local
    try:
        client(loc).download_file(loc.bucket, loc.key, str(local))
    except Exception as err:
        raise _named(err, loc, "download") from err
    return local


def upload(local: Path, loc: Location) -> None:
    """``local``'s bytes at ``loc`` (a managed, multipart transfer to S3)."""
    if isinstance(loc, Path):
        loc.parent.mkdir(parents=True, exist_ok=True)
        loc.write_bytes(local.read_bytes())
        return
    try:
        client(loc).upload_file(str(local), loc.bucket, loc.key)
    except Exception as err:
        raise _named(err, loc, "upload") from err


def set_tags(loc: S3Path, tags: dict[str, str]) -> None:
    """Replace the object's tags (the bucket's lifecycle rules act on them)."""
    tag_set = [{"Key": key, "Value": value} for key, value in tags.items()]
    try:
        client(loc).put_object_tagging(Bucket=loc.bucket, Key=loc.key, Tagging={"TagSet": tag_set})
    except Exception as err:
        raise _named(err, loc, "tag") from err


def tags(loc: S3Path) -> dict[str, str]:
    try:
        found = client(loc).get_object_tagging(Bucket=loc.bucket, Key=loc.key)["TagSet"]
    except Exception as err:
        raise _named(err, loc, "read the tags of") from err
    return {tag["Key"]: tag["Value"] for tag in found}


def _named(err: Exception, loc: S3Path, doing: str) -> Exception:
    """``err`` as an error naming ``loc``: a missing object is ``FileNotFoundError``; a refusal
    (missing bucket, access denied) a ``StorageError`` saying what to do; anything else (a network
    error, throttling: worth a retry) is left as it is, for the retry rule to see."""
    from botocore.exceptions import ClientError

    if not isinstance(err, ClientError):
        return err
    code = err.response.get("Error", {}).get("Code", "")
    if code in ("NoSuchKey", "404", "NotFound"):
        return FileNotFoundError(f"{loc} does not exist")
    if code == "NoSuchBucket":
        return StorageError(
            f"cannot {doing} {loc}: bucket {loc.bucket} does not exist; create it (the stack in infra/ "
            "does) or point the setting at an existing bucket"
        )
    if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return StorageError(
            f"cannot {doing} {loc}: access denied ({code}); give the job's role s3:GetObject, s3:PutObject, "
            f"s3:PutObjectTagging and s3:ListBucket on bucket {loc.bucket} (infra/template.yaml does)"
        )
    return err
