"""Sources: the event files an ingest call names, found locally or on S3.

A source is a file, a directory (searched recursively), a glob, or an S3 URI
(``s3://bucket/prefix/``, ``s3://bucket/key``, ``s3://bucket/prefix/*.parquet``) of
CSV, Parquet or JSON-lines files. S3 objects are listed and downloaded with boto3
to a temporary directory when loaded; the manifest records the ``s3://`` path, size
and ETag, a local file its path, size and sha256.

A file reaches DuckDB under a name of our making (``staged_name``: its position and
suffix, in a temporary directory), never under its own: DuckDB expands ``[``, ``*``
and ``?`` in every path it reads, so ``day[1].parquet`` would load ``day1.parquet``,
and an S3 key such as ``raw/../../etc/x.csv`` or ``/abs.json`` must not choose where
its download lands.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import IngestError


class NoFilesError(IngestError):
    """A source names no event files: a missing path, an empty folder or prefix, a pattern matching none."""


READERS = {
    ".parquet": "read_parquet({paths}, file_row_number=true, union_by_name=true)",
    ".csv": "read_csv({paths}, header=true, all_varchar=true)",
    ".jsonl": "read_json({paths}, format='newline_delimited')",
    ".ndjson": "read_json({paths}, format='newline_delimited')",
    ".json": "read_json({paths}, format='auto')",
}


@dataclass(frozen=True)
class SourceFile:
    """One event file: ``name`` is what the manifest records; ``fetch(target)`` makes its bytes
    readable at ``target`` (a path of ``staged_name``'s, in a directory of the caller's)."""

    name: str
    size: int
    checksum: Callable[[], str]
    fetch: Callable[[Path], Path]


def staged_name(position: int, name: str) -> str:
    """The name a file is read under: only digits and its lower-cased suffix, nothing DuckDB expands."""
    return f"f{position:06d}{Path(name).suffix.lower()}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _supported(name: str) -> bool:
    return Path(name).suffix.lower() in READERS


def _local_file(path: Path) -> SourceFile:
    path = path.resolve()

    def fetch(target: Path) -> Path:
        target.symlink_to(path)  # a link, not a copy: the file is read in place
        return target

    return SourceFile(str(path), path.stat().st_size, lambda: sha256_of(path), fetch)


def discover_local(source: str, accept: Callable[[str], bool] | None = None) -> list[SourceFile]:
    """Files named by one local source: a file, a directory (recursive) or a glob.

    ``accept`` says which names are files to read (default: the suffixes of ``READERS``).
    """
    kinds = "/".join(READERS) if accept is None else "matching"
    accept = accept or _supported
    path = Path(source)
    if any(c in source for c in "*?[") and not path.exists():  # an existing name is taken literally
        found = sorted(Path(p) for p in glob.glob(source, recursive=True) if accept(p))
        if not found:
            raise NoFilesError(f"{source}: pattern matches no {kinds} files")
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and accept(p.name))
        if not found:
            raise NoFilesError(f"{source}: directory holds no {kinds} files")
    elif path.is_file():
        if not accept(path.name):
            raise IngestError(f"{source}: unsupported file type (expected {kinds})")
        found = [path]
    else:
        raise NoFilesError(f"{source}: no such file or directory")
    return [_local_file(p) for p in found]


def _s3_object(s3, bucket: str, key: str, size: int, etag: str) -> SourceFile:
    def fetch(target: Path) -> Path:  # the key never names the local path (it may hold .. or start with /)
        s3.download_file(bucket, key, str(target))
        return target

    return SourceFile(f"s3://{bucket}/{key}", size, lambda: "etag:" + etag.strip('"'), fetch)


def discover_s3(source: str, s3, accept: Callable[[str], bool] | None = None) -> list[SourceFile]:
    """Objects named by one ``s3://bucket/...`` source: a key, a prefix, or a glob over keys."""
    kinds = "/".join(READERS) if accept is None else "matching"
    accept = accept or _supported
    bucket, _, key = source.removeprefix("s3://").partition("/")
    pattern = key if any(c in key for c in "*?[") else None
    prefix = key.split("*")[0].split("?")[0].split("[")[0] if pattern else key
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        objects = [obj for page in pages for obj in page.get("Contents", [])]
    except Exception as err:  # botocore raises many kinds; name the source and keep the cause
        raise IngestError(f"{source}: cannot list S3 objects: {err}") from err
    exact = [o for o in objects if o["Key"] == key]
    if pattern:
        chosen = [o for o in objects if fnmatch.fnmatchcase(o["Key"], pattern)]
    elif exact:
        chosen = exact
    else:
        folder = key if key.endswith("/") or not key else key + "/"
        chosen = [o for o in objects if o["Key"].startswith(folder)]
    chosen = sorted((o for o in chosen if accept(o["Key"])), key=lambda o: o["Key"])
    if not chosen:
        raise NoFilesError(f"{source}: no {kinds} objects there")
    return [_s3_object(s3, bucket, o["Key"], o["Size"], o["ETag"]) for o in chosen]


def discover(
    sources: Iterable[Path | str],
    s3_client: Callable[[], object] | None = None,
    optional: Collection[str] = (),
    accept: Callable[[str], bool] | None = None,
) -> list[SourceFile]:
    """Every event file named by ``sources``, in order, each once.

    A source in ``optional`` may name nothing (a scheduled day's folder that never came: an
    empty day); any other source that names nothing is an error. ``accept`` says which names
    are files to read (default: the suffixes of ``READERS``).
    """
    files: dict[str, SourceFile] = {}
    s3 = None
    for source in map(str, sources):
        try:
            if source.startswith("s3://"):
                if s3 is None:
                    s3 = s3_client() if s3_client else _default_s3_client()
                found = discover_s3(source, s3, accept)
            else:
                found = discover_local(source, accept)
        except NoFilesError:
            if source not in optional:
                raise
            found = []
        files.update((f.name, f) for f in found if f.name not in files)
    return list(files.values())


def _default_s3_client():
    import boto3

    return boto3.client("s3")
