"""The versioned model artifact: the training -> publishing contract.

A directory named by the model version holding everything needed to reproduce
its recommendations:

    model.npz        implicit's own save format (factors and parameters), loaded without pickle
    ids.npz          user_ids and item_ids: row i of the factors is user_ids[i] / item_ids[i]
    meta.json        version, parameters, the tuning table, metrics, the quality-gate decision,
                     data fingerprint, code version (git commit, else package version), library versions
    report.md, *.png the human run report (pipeline/report.py), when the flow wrote one

A model the quality gate refused is saved too (``meta["status"] == "refused"``), so it can be
inspected; nothing publishes a version without naming it.

Versions sort by creation time and are unique: ``20261122T021500Z-3f9a1c``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares

from pipeline.interactions import Interactions

LIBRARIES = ("implicit", "numpy", "scipy", "pandas", "duckdb", "prefect", "boto3", "threadpoolctl")
PACKAGE = "recs"


@dataclass
class Artifact:
    version: str
    model: AlternatingLeastSquares
    user_ids: np.ndarray
    item_ids: np.ndarray
    meta: dict = field(default_factory=dict)


def new_version(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def fingerprint(data: Interactions) -> str:
    """A hash of the interaction matrix and its ids: same data, same fingerprint."""
    digest = hashlib.sha256()
    m = data.user_items
    for part in (m.indptr, m.indices, m.data):
        digest.update(np.ascontiguousarray(part).tobytes())
    for ids in (data.user_ids, data.item_ids):
        digest.update("\x1f".join(ids.tolist()).encode())
    return f"{m.shape[0]}x{m.shape[1]}:{m.nnz}:{digest.hexdigest()[:16]}"


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {name: metadata.version(name) for name in LIBRARIES}


def code_version() -> str:
    """The git commit of the checkout this code runs from (``+dirty`` when it has changes), else
    the installed package's version."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", str(here)],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{PACKAGE} {metadata.version(PACKAGE)}"
    return f"git:{commit}{'+dirty' if dirty else ''}"


def save(artifact: Artifact, root: Path) -> Path:
    """Write the artifact under ``root/<version>/``; an existing version is never overwritten."""
    path = Path(root) / artifact.version
    path.mkdir(parents=True, exist_ok=False)
    artifact.model.save(str(path / "model.npz"))
    np.savez(path / "ids.npz", user_ids=artifact.user_ids.astype(str), item_ids=artifact.item_ids.astype(str))
    meta = {
        "version": artifact.version,
        "code_version": code_version(),
        "libraries": library_versions(),
        **artifact.meta,
    }
    (path / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return path


def load(root: Path, version: str) -> Artifact:
    path = Path(root) / version
    if not (path / "meta.json").exists():
        raise FileNotFoundError(f"no model artifact for version {version} under {root}")
    model = AlternatingLeastSquares.load(str(path / "model.npz"))
    with np.load(path / "ids.npz", allow_pickle=False) as ids:
        user_ids, item_ids = ids["user_ids"], ids["item_ids"]
    return Artifact(version, model, user_ids, item_ids, load_meta(root, version))


def load_meta(root: Path, version: str) -> dict:
    """The meta.json of one version, without loading its factors."""
    path = Path(root) / version / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"no model artifact for version {version} under {root}")
    return json.loads(path.read_text())


def list_versions(root: Path) -> list[str]:
    """Every saved version under ``root``, oldest first."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").exists()) if root.exists() else []


def history(root: Path) -> list[dict]:
    """The meta of every saved version, oldest first."""
    return [load_meta(root, version) for version in list_versions(root)]


def last_search(root: Path) -> dict | None:
    """The tuning record (winner, trial table, ``tuned_at``) of the newest version whose
    parameters came from a search rather than being reused; None when there is none."""
    for meta in reversed(history(root)):
        tuning = meta.get("tuning") or {}
        if tuning.get("source") == "search":
            return tuning | {"version": meta["version"]}
    return None
