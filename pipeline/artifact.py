"""The versioned model artifact: the training -> publishing contract.

A directory named by the model version holding everything needed to reproduce
its recommendations:

    model.npz        implicit's own save format (factors and parameters), loaded without pickle
    ids.npz          user_ids and item_ids: row i of the factors is user_ids[i] / item_ids[i]
    meta.json        version, parameters, metrics, data fingerprint, code and library versions

Versions sort by creation time and are unique: ``20261122T021500Z-3f9a1c``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares

from pipeline.interactions import Interactions

LIBRARIES = ("implicit", "numpy", "scipy", "duckdb", "prefect", "boto3")


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


def save(artifact: Artifact, root: Path) -> Path:
    """Write the artifact under ``root/<version>/``; an existing version is never overwritten."""
    path = Path(root) / artifact.version
    path.mkdir(parents=True, exist_ok=False)
    artifact.model.save(str(path / "model.npz"))
    np.savez(path / "ids.npz", user_ids=artifact.user_ids.astype(str), item_ids=artifact.item_ids.astype(str))
    meta = {"version": artifact.version, "libraries": library_versions(), **artifact.meta}
    (path / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return path


def load(root: Path, version: str) -> Artifact:
    path = Path(root) / version
    if not (path / "meta.json").exists():
        raise FileNotFoundError(f"no model artifact for version {version} under {root}")
    model = AlternatingLeastSquares.load(str(path / "model.npz"))
    with np.load(path / "ids.npz", allow_pickle=False) as ids:
        user_ids, item_ids = ids["user_ids"], ids["item_ids"]
    meta = json.loads((path / "meta.json").read_text())
    return Artifact(version, model, user_ids, item_ids, meta)


def list_versions(root: Path) -> list[str]:
    """Every saved version under ``root``, oldest first."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").exists()) if root.exists() else []
