"""The handler's cold import stays lean: what the first request needs is loaded by the first request."""

import subprocess
import sys


def test_importing_the_handler_leaves_settings_and_aws_libraries_for_the_first_request():
    code = (
        "import sys, lambda_api.handler; "
        "print(sorted(m for m in ('pydantic_settings', 'boto3', 'botocore', 'lambda_api.settings') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
