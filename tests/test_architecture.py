"""The architecture as rules: the contract stands alone, the API meets the pipeline only there, the
product never imports the development tooling, and the job's boxes import downwards only.

``lint-imports`` (import-linter, configured in pyproject.toml) checks every rule over the whole
import graph; the scans below restate the two deployable boundaries file by file, so that a
failure names the file and the import.
"""

import ast
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def offenders(package: str, allowed) -> dict[str, list[str]]:
    """Each module of ``package`` with the imports ``allowed(top_level_name)`` refuses."""
    found = {
        path.name: sorted(m for m in imported_modules(path) if not allowed(m.split(".")[0]))
        for path in (ROOT / package).rglob("*.py")
    }
    return {name: bad for name, bad in found.items() if bad}


def test_the_import_rules_hold_over_the_whole_graph():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_no_lambda_api_module_imports_the_pipeline_or_the_tooling():
    assert offenders("lambda_api", lambda top: top not in ("pipeline", "infra", "benchmarks")) == {}


def test_the_contract_imports_the_standard_library_only():
    assert offenders("contract", lambda top: top == "contract" or top in sys.stdlib_module_names) == {}


def loaded_by_importing_the_handler(candidates: tuple[str, ...]) -> list[str]:
    """Which of ``candidates`` a fresh interpreter has in sys.modules after importing the handler."""
    code = f"import sys, lambda_api.handler; print(sorted(m for m in {candidates!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out.strip())


def test_importing_the_handler_loads_neither_pipeline_nor_heavy_libraries():
    heavy = ("pipeline", "implicit", "duckdb", "prefect", "pandas", "boto3")
    assert loaded_by_importing_the_handler(heavy) == []


def test_importing_the_handler_leaves_settings_and_aws_libraries_for_the_first_request():
    """Cold start: what the first request needs is loaded by the first request."""
    candidates = ("pydantic_settings", "boto3", "botocore", "lambda_api.settings")
    assert loaded_by_importing_the_handler(candidates) == []
