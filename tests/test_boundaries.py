"""lambda_api/ deploys alone: it must never import pipeline/."""

import ast
import subprocess
import sys
from pathlib import Path

LAMBDA_API = Path(__file__).resolve().parent.parent / "lambda_api"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_lambda_api_module_imports_pipeline():
    offenders = {
        str(path.name): sorted(m for m in imported_modules(path) if m.split(".")[0] == "pipeline")
        for path in LAMBDA_API.glob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


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
