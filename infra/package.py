"""``recs package-lambda``: the API's Lambda deployment zip, for the python3.12 x86_64 runtime.

    recs package-lambda [--out dist/lambda_api.zip] [--with-boto3]

``lambda_api``, the ``contract`` it reads DynamoDB items with, and the ``api`` extra of ``pyproject.toml``
(FastAPI, Mangum, pydantic, pydantic-settings, cachetools) at the versions it allows, installed as
manylinux2014 x86_64 wheels for CPython 3.12 with
``pip install --platform ... --only-binary=:all: --target`` (so it builds on any machine). boto3 is left
out by default: the Lambda runtime ships it. The report compares the sizes with Lambda's limits: 250 MB
unzipped, 50 MB for a zip uploaded directly (larger zips must go through S3, as the template does).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

ROOT = Path(__file__).resolve().parent.parent
API_PACKAGES = ("lambda_api", "contract")  # what the function imports of this repository
API_EXTRA = "api"
RUNTIME_PROVIDED = ("boto3",)  # in the Lambda Python runtime already
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
UNZIPPED_LIMIT = 250 * 2**20
ZIPPED_DIRECT_UPLOAD_LIMIT = 50 * 2**20
# caches, tests, source maps and ReDoc's script (the API serves Swagger UI only)
SKIPPED = re.compile(r"(__pycache__/|\.pyc$|/tests?/|\.map$|/redoc\.standalone\.js$)")


class PackageError(PipelineError):
    """The Lambda zip cannot be built or is over a Lambda limit; the message says which."""


@dataclass(frozen=True)
class PackageReport:
    path: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int

    def lines(self) -> list[str]:
        mb = 2**20
        return [
            f"{self.path}: {self.files:,} files",
            f"  unzipped {self.unzipped_bytes / mb:6.1f} MB of Lambda's 250 MB limit "
            f"({self.unzipped_bytes / UNZIPPED_LIMIT:.0%})",
            f"  zipped   {self.zipped_bytes / mb:6.1f} MB of the 50 MB direct-upload limit "
            f"({self.zipped_bytes / ZIPPED_DIRECT_UPLOAD_LIMIT:.0%})",
        ]

    def problems(self) -> list[str]:
        found = []
        if self.unzipped_bytes > UNZIPPED_LIMIT:
            found.append(f"unzipped size {self.unzipped_bytes:,} B is over Lambda's 250 MB limit")
        if self.zipped_bytes > ZIPPED_DIRECT_UPLOAD_LIMIT:
            found.append(f"zip size {self.zipped_bytes:,} B is over the 50 MB direct-upload limit (use S3)")
        return found


def _name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower()


def requirements(pyproject: Path = ROOT / "pyproject.toml", with_boto3: bool = False) -> list[str]:
    """The API's dependencies: the ``api`` extra of ``pyproject.toml``, with its version bounds, less
    what the Lambda runtime provides (unless ``with_boto3``)."""
    extras = tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {})
    if not extras.get(API_EXTRA):
        raise PackageError(f"{pyproject}: [project.optional-dependencies] has no {API_EXTRA!r} extra")
    skipped = () if with_boto3 else RUNTIME_PROVIDED
    return [spec for spec in extras[API_EXTRA] if _name(spec) not in skipped]


def api_sources(root: Path = ROOT) -> list[tuple[Path, str]]:
    """The repository's files the function needs, with their names in the zip."""
    return [
        (path, path.relative_to(root).as_posix())
        for package in API_PACKAGES
        for path in sorted((root / package).glob("*.py"))
    ]


def install(target: Path, specs: list[str]) -> None:
    """pip-install ``specs`` into ``target`` as manylinux x86_64 CPython 3.12 wheels."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(target), "--platform", PLATFORM, "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--only-binary=:all:", *specs,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackageError(f"pip could not install {specs} for {PLATFORM}: {done.stderr.strip()[-2000:]}")


def copy_sources(target: Path, root: Path = ROOT) -> None:
    for path, name in api_sources(root):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / name)


def zip_tree(tree: Path, out: Path) -> PackageReport:
    """Zip ``tree`` (sorted, without caches and test folders) to ``out``; sizes as Lambda counts them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files, unzipped = 0, 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            name = path.relative_to(tree).as_posix()
            if SKIPPED.search("/" + name):
                continue
            zf.write(path, name)
            files += 1
            unzipped += path.stat().st_size
    return PackageReport(out, files, unzipped, out.stat().st_size)


def build(out: Path = Path("dist/lambda_api.zip"), with_boto3: bool = False) -> PackageReport:
    """Build the zip; raises ``PackageError`` if it breaks a Lambda limit."""
    with tempfile.TemporaryDirectory(prefix="recs-lambda-") as tmp:
        tree = Path(tmp)
        install(tree, requirements(with_boto3=with_boto3))
        copy_sources(tree)
        report = zip_tree(tree, Path(out))
    if report.problems():
        raise PackageError(f"{out}: " + "; ".join(report.problems()))
    return report


def main_report(out: str, with_boto3: bool) -> int:
    report = build(Path(out), with_boto3)
    print("\n".join(report.lines()))
    print(f"upload: aws s3 cp {out} s3://BUCKET/lambda_api.zip, then deploy infra/template.yaml")
    return 0
