"""The local side of infra/: what stands in for AWS and for real users on a laptop.

aws (moto's server, started and stopped here) · demo (``recs demo``) · replay (``recs replay``)
· synthetic (event logs of any size). Development tooling: it imports the product, never the
reverse, and needs the ``local`` extra (moto's server, uvicorn, httpx).
"""

from pathlib import Path

# the bundled data the demo and the replay run on, at the repository root
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
