"""recs package-lambda: the API's dependencies from pyproject, the zip's contents and its size report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from infra import package


def test_requirements_are_the_api_extra_of_pyproject_with_its_pins():
    specs = package.requirements()
    names = [spec.split(">")[0].split("<")[0].split("=")[0].split("[")[0] for spec in specs]
    assert names == ["fastapi", "mangum", "pydantic", "pydantic-settings", "cachetools", "fastapi-offline"]
    fastapi = next(spec for spec in specs if spec.startswith("fastapi"))
    assert "<0.151" in fastapi  # the pin Prefect needs is the one the Lambda gets
    assert not any(spec.startswith(("boto3", "prefect", "duckdb", "implicit")) for spec in specs)
    assert any(spec.startswith("boto3") for spec in package.requirements(with_boto3=True))


def test_a_pyproject_without_the_api_extra_is_named(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[project.optional-dependencies]\nbatch = ["duckdb"]\n')
    with pytest.raises(
        package.PackageError, match=r"pyproject.toml: \[project.optional-dependencies\] has no 'api'"
    ):
        package.requirements(pyproject)


def test_zip_holds_the_api_sources_and_no_caches(tmp_path):
    tree = tmp_path / "tree"
    package.copy_sources(tree)
    (tree / "lambda_api" / "__pycache__").mkdir()
    (tree / "lambda_api" / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"\0" * 100)
    (tree / "somelib" / "tests").mkdir(parents=True)
    (tree / "somelib" / "tests" / "test_x.py").write_text("x = 1\n")
    report = package.zip_tree(tree, tmp_path / "out.zip")
    names = zipfile.ZipFile(report.path).namelist()
    assert (
        "lambda_api/handler.py" in names and "contract/__init__.py" in names and "contract/_rows.py" in names
    )
    assert not any("__pycache__" in n or "/tests/" in n for n in names)
    assert report.files == len(names)
    assert report.unzipped_bytes == sum(
        p.stat().st_size for p in tree.rglob("*.py") if "tests" not in p.parts
    )
    assert report.unzipped_bytes == sum(p.stat().st_size for p, _ in package.api_sources())
    assert report.problems() == []


def test_sizes_over_the_lambda_limits_are_reported():
    big = package.PackageReport(Path("x.zip"), 10, 300 * 2**20, 60 * 2**20)
    problems = big.problems()
    assert len(problems) == 2
    assert "over Lambda's 250 MB limit" in problems[0] and "50 MB direct-upload limit" in problems[1]


@pytest.mark.slow
def test_built_zip_runs_the_handler_on_python_3_12(tmp_path):
    """Downloads the wheels from PyPI (about 15 s), then calls the handler from the unzipped package."""
    report = package.build(tmp_path / "lambda_api.zip")
    assert report.problems() == []
    assert report.zipped_bytes < package.ZIPPED_DIRECT_UPLOAD_LIMIT
    names = zipfile.ZipFile(report.path).namelist()
    assert any(n.startswith("pydantic_core/") and "x86_64-linux-gnu.so" in n and "312" in n for n in names)
    assert not any(n.startswith(("boto3/", "prefect/", "pipeline/")) for n in names)
    python312 = shutil.which("python3.12")
    if python312 is None:
        pytest.skip("no python3.12 here to run the package with")
    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(report.path).extractall(unzipped)
    event = {
        "version": "2.0",
        "routeKey": "GET /{proxy+}",
        "rawPath": "/health",
        "rawQueryString": "",
        "headers": {"host": "x"},
        "requestContext": {"http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1"}, "stage": "$default"},
        "isBase64Encoded": False,
    }  # fmt: skip
    code = (
        "import json, sys; from lambda_api.handler import handler; "
        "print(json.dumps(handler(json.loads(sys.argv[1]), None)))"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(unzipped), "RECS_TABLE_NAME": "recs",
           "PYENV_VERSION": "3.12.1", "HOME": os.environ.get("HOME", "/tmp")}  # fmt: skip
    done = subprocess.run([python312, "-c", code, json.dumps(event)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"status": "ok"}


def test_the_zip_keeps_the_docs_assets_and_drops_what_docs_never_loads():
    from lambda_api.docs import ASSETS

    static = "/fastapi_offline/static/"
    assert not any(package.SKIPPED.search(static + name) for name in ASSETS)
    assert package.SKIPPED.search(static + "redoc.standalone.js")
    assert package.SKIPPED.search("/x/y.js.map")


def test_the_licence_metadata_is_one_the_declared_build_backend_understands():
    import re
    import tomllib

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    [setuptools] = [req for req in project["build-system"]["requires"] if req.startswith("setuptools")]
    floor = tuple(int(part) for part in re.search(r">=\s*([\d.]+)", setuptools).group(1).split("."))
    assert isinstance(project["project"]["license"], str) and floor >= (77,)  # PEP 639 expressions
    for name in project["project"]["license-files"]:
        assert "Apache License" in (root / name).read_text()
