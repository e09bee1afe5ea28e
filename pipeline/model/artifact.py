"""The versioned model artifact: the training -> publishing contract.

A directory named by the model version holding everything needed to reproduce
its recommendations:

    model.npz        implicit's own save format (factors and parameters), loaded without pickle
    ids.npz          user_ids and item_ids: row i of the factors is user_ids[i] / item_ids[i]
    meta.json        ``ArtifactMeta``: version, status, parameters, the tuning record, the evaluation,
                     the quality-gate decision, data fingerprint, k, code version (git commit, else
                     package version), library versions; ``schema_version`` names its layout
    report.md, *.png the human run report (pipeline/model/report.py), when the flow wrote one

A model the quality gate refused is saved too (``meta.status == "refused"``), so it can be
inspected; nothing publishes a version without naming it. Meta files of the first layout
(no ``schema_version``) load as they are.

Versions sort by creation time and are unique: ``20261122T021500Z-3f9a1c``.
"""

from __future__ import annotations

import io
import json
import platform
import secrets
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from pipeline import storage
from pipeline.model.evaluate import Evaluation
from pipeline.model.gate import GateDecision
from pipeline.model.tune import TuningRecord
from pipeline.settings import ALSParams
from pipeline.storage import Location

LIBRARIES = ("implicit", "numpy", "scipy", "pandas", "duckdb", "prefect", "boto3", "threadpoolctl")
PACKAGE = "recs"
META_SCHEMA_VERSION = 2
_META = "/meta.json"
_ARTIFACT_FILES = {"model.npz", "ids.npz", "meta.json"}


class ArtifactMeta(BaseModel):
    """Everything known about a model version besides its factors: ``meta.json``.

    Written by the flow (``describe``), read by the run plan (``data_fingerprint``,
    ``configured_params``), the served-version comparison (``params``), the tuner's reuse
    (``tuning``), the report and the history across versions (``evaluation``, ``status``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = META_SCHEMA_VERSION
    version: str
    status: Literal["passed", "refused"]
    params: ALSParams  # what the model was trained with
    configured_params: ALSParams  # the settings' parameters, before tuning
    tuning: TuningRecord
    evaluation: Evaluation
    gate: GateDecision
    data_fingerprint: str
    k: int
    code_version: str
    libraries: dict[str, str]

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """The holdout metrics of every scored list (model, baselines, published)."""
        return self.evaluation.overall

    @classmethod
    def from_json(cls, data: dict) -> ArtifactMeta:
        """A meta read from ``meta.json``, of any layout: layout 1 (no ``schema_version``) also
        stored ``metrics``, a copy of ``evaluation.overall``."""
        if "schema_version" not in data:
            data = {key: value for key, value in data.items() if key != "metrics"} | {"schema_version": 1}
        return cls.model_validate(data)


@dataclass
class Artifact:
    model: AlternatingLeastSquares
    user_ids: np.ndarray
    item_ids: np.ndarray
    meta: ArtifactMeta

    @property
    def version(self) -> str:
        return self.meta.version


def new_version(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def describe(
    version: str,
    *,
    tuning: TuningRecord,
    configured: ALSParams,
    evaluation: Evaluation,
    gate: GateDecision,
    data_fingerprint: str,
    k: int,
) -> ArtifactMeta:
    """The meta of a version trained with ``tuning.best``, with this code's and libraries' versions."""
    return ArtifactMeta(
        version=version,
        status="passed" if gate.passed else "refused",
        params=tuning.best,
        configured_params=configured,
        tuning=tuning,
        evaluation=evaluation,
        gate=gate,
        data_fingerprint=data_fingerprint,
        k=k,
        code_version=code_version(),
        libraries=library_versions(),
    )


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


def save(artifact: Artifact, root: Location | str) -> Path:
    """Write the artifact under ``root/<version>/``; an existing version is never overwritten.

    Under an S3 prefix the files are written to a local staging folder and uploaded, ``meta.json``
    last: a version exists (``saved_versions``) only once all of it is there. Returns the local folder.
    """
    root = storage.location(root)
    if isinstance(root, Path):
        path = root / artifact.version
    else:
        if storage.exists(root / artifact.version / "meta.json"):
            raise FileExistsError(f"an artifact of version {artifact.version} already exists under {root}")
        path = Path(tempfile.mkdtemp(prefix="recs-artifact-")) / artifact.version
    path.mkdir(parents=True, exist_ok=False)
    artifact.model.save(str(path / "model.npz"))
    np.savez(path / "ids.npz", user_ids=artifact.user_ids.astype(str), item_ids=artifact.item_ids.astype(str))
    (path / "meta.json").write_text(artifact.meta.model_dump_json(indent=2))
    if isinstance(root, storage.S3Path):
        for name in ("model.npz", "ids.npz", "meta.json"):  # meta.json last: the version is whole
            storage.upload(path / name, root / artifact.version / name)
    return path


def push_report(path: Path, root: Location | str) -> None:
    """Upload the report files a run wrote into the local artifact folder ``path`` (and the index
    beside it) to the S3 prefix ``root``; nothing to do when ``root`` is local."""
    root = storage.location(root)
    if not isinstance(root, storage.S3Path):
        return
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.name not in _ARTIFACT_FILES):
        storage.upload(file, root / path.name / file.name)
    if (path.parent / "index.html").is_file():
        storage.upload(path.parent / "index.html", root / "index.html")


def load(root: Location | str, version: str) -> Artifact:
    root = storage.location(root)
    meta = load_meta(root, version)
    if isinstance(root, Path):
        return _loaded(root / version, meta)
    with tempfile.TemporaryDirectory(prefix="recs-artifact-") as tmp:
        for name in ("model.npz", "ids.npz"):
            storage.download(root / version / name, Path(tmp) / name)
        return _loaded(Path(tmp), meta)


def _loaded(path: Path, meta: ArtifactMeta) -> Artifact:
    with threadpool_limits(1, "blas"):  # what implicit asks for; it warns on load otherwise
        model = AlternatingLeastSquares.load(str(path / "model.npz"))
    with np.load(path / "ids.npz", allow_pickle=False) as ids:
        user_ids, item_ids = ids["user_ids"], ids["item_ids"]
    return Artifact(model, user_ids, item_ids, meta)


def load_ids(root: Location | str, version: str) -> tuple[np.ndarray, np.ndarray]:
    """A version's user and item ids alone (no factors): ``(user_ids, item_ids)``."""
    try:
        data = storage.read_bytes(storage.location(root) / version / "ids.npz")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no artifact of version {version} under {root} (its ids.npz is missing)"
        ) from None
    with np.load(io.BytesIO(data), allow_pickle=False) as ids:
        return ids["user_ids"], ids["item_ids"]


def load_meta(root: Location | str, version: str) -> ArtifactMeta:
    """The meta of one version, without loading its factors."""
    root = storage.location(root)
    try:
        text = storage.read_bytes(root / version / "meta.json")
    except FileNotFoundError:
        raise FileNotFoundError(f"no model artifact for version {version} under {root}") from None
    return ArtifactMeta.from_json(json.loads(text))


def saved_versions(root: Location | str) -> list[str]:
    """Every version saved under ``root`` (those with a ``meta.json``), oldest first."""
    files = storage.list_files(storage.location(root))
    return sorted(name.split("/")[0] for name in files if name.count("/") == 1 and name.endswith(_META))


def history(root: Location | str) -> list[ArtifactMeta]:
    """The meta of every saved version, oldest first."""
    return [load_meta(root, version) for version in saved_versions(root)]


def last_search(root: Location | str) -> tuple[str, TuningRecord] | None:
    """The newest version whose parameters came from a search rather than being reused, and its
    tuning record; None when there is none."""
    for meta in reversed(history(root)):
        if meta.tuning.source == "search":
            return meta.version, meta.tuning
    return None
