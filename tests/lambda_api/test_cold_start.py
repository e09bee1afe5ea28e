"""A fresh container: the handler imported in a new process whose environment has no ``RECS_TABLE_NAME``.

The first request such a container sees is the load balancer's ``/health``: it must answer 200
(``/health`` reads nothing), and the routes that need the table must still say they cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.paths import ROOT

COLD_CONTAINER = """
import json
from lambda_api.handler import handler
from tests.lambda_api.test_handler import http_v2_event

paths = ("/health", "/v1/users/12347/recommendations", "/health")
answers = [handler(http_v2_event(path), None) for path in paths]
print(json.dumps([(a["statusCode"], json.loads(a["body"])) for a in answers]))
"""


def test_health_is_the_first_request_of_a_container_without_a_table_setting():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    done = subprocess.run(
        [sys.executable, "-c", COLD_CONTAINER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    health, recommendations, health_again = json.loads(done.stdout.splitlines()[-1])
    assert health == [200, {"status": "ok"}]
    assert recommendations[0] == 500
    assert recommendations[1]["detail"].startswith("internal error (reference ")
    assert health_again == [200, {"status": "ok"}]
