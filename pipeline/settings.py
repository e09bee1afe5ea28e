"""The one settings object of the batch job.

Values come, in order of precedence, from keyword arguments (a command's own flags),
environment variables prefixed ``RECS_`` (nested fields with ``__``, e.g.
``RECS_ALS__FACTORS=128``), a TOML config file (``recs run --config FILE``) and the
defaults below: the environment overrides the file, as a container's settings override
the checked-in config. ``recs config show`` prints each value and where it came from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from pipeline import storage

REQUIRED_COLUMNS = ("user_id", "item_id", "ts")
# a local path or s3://bucket/prefix (pipeline/storage.py)
Location = Annotated[
    storage.Location,
    BeforeValidator(storage.location),
    PlainSerializer(str, return_type=str),
]


class ALSParams(BaseModel):
    """Hyperparameters of implicit's AlternatingLeastSquares."""

    factors: int = Field(64, ge=1, le=1024)
    regularization: float = Field(0.05, gt=0)
    alpha: float = Field(2.0, gt=0)
    iterations: int = Field(15, ge=1, le=500)
    random_state: int = 42
    scaling: Literal["linear", "log", "bm25"] = Field(
        "linear", description="how weights become confidences (pipeline/model/scaling.py)"
    )


class TuningSettings(BaseModel):
    """The budgeted ALS parameter search (pipeline/model/tune.py: Optuna TPE with pruning), run on a
    validation split of training data."""

    enabled: bool = True
    every_days: float = Field(7.0, ge=0, description="search again after this long; 0: every run")
    max_trials: int = Field(100, ge=1, le=1000)
    max_seconds: float = Field(
        90.0,
        gt=0,
        description="the search's time, its confirmation's refits included: trials get "
        "two thirds of it when the best are confirmed, then no trial starts and a running one stops",
    )
    random_trials: int = Field(8, ge=1, description="trials drawn at random before TPE models the space")
    prune_after_trials: int = Field(
        4, ge=0, description="trials that run to the end before the median pruner stops hopeless ones"
    )
    validation_fraction: float = Field(
        0.1, gt=0, lt=1, description="the search's validation share: small, as the search's fits train on "
        "the rest and a smaller training part favours smaller models (docs/evaluation.md)",
    )  # fmt: skip
    seed: int = 0
    confirm_trials: int = Field(
        8, ge=1, description="the best trials fitted again on fresh validation splits, the best mean "
        "there wins (1: none, the top trial wins; random-per-user splits only)",
    )  # fmt: skip
    confirm_folds: int = Field(3, ge=1, description="fresh validation splits the best trials are scored on")
    confirm_fraction: float = Field(
        0.1, gt=0, lt=1, description="each fresh split's share of a user's items: small, so the refit "
        "trains on nearly what the final fit does",
    )  # fmt: skip
    max_users: int | None = Field(
        50_000, ge=1, description="more training users than this: the search runs on a seeded sample "
        "of this many (pipeline/model/sampling.py); None: every user",
    )  # fmt: skip
    max_factors: int | None = Field(
        None, ge=1, description="the most factors the search tries: with max_iterations, a bound on the "
        "cost of the fits after it (pipeline/model/search_cost.py); None: the configured [als] factors when "
        "the search samples many users (max_users), else the search space's",
    )  # fmt: skip
    max_iterations: int | None = Field(
        None, ge=1, description="the most iterations the search tries; None: as max_factors, [als] iterations"
    )


class GateSettings(BaseModel):
    """The gate's checks past the headline metric (pipeline/model/gate.py): slices, coverage, churn."""

    min_slice_users: int = Field(100, ge=1, description="slices with fewer test users are not judged")
    max_slice_drop: float = Field(
        0.25, ge=0, le=1, description="relative drop of a slice's NDCG below the served version refused"
    )
    min_coverage_ratio: float = Field(
        0.5, ge=0, le=1, description="catalogue coverage at least this share of the served version's "
        "(not judged when nothing is served)",
    )  # fmt: skip
    min_overlap: float = Field(
        0.2, ge=0, le=1, description="overlap@k with the served version's lists below this is refused ..."
    )
    max_data_change: float = Field(
        0.1, ge=0, description="... when users, items and interactions changed by at most this share"
    )
    churn_users: int = Field(2000, ge=1, description="users sampled to measure churn")


class OnlineTestSettings(BaseModel):
    """How two live versions are compared on users (pipeline/feedback/stats.py, canary.py)."""

    metric: Literal["ctr", "conversion", "revenue_per_user"] = "ctr"
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="false positives of a test, false rollbacks of a canary"
    )
    power: float = Field(0.8, gt=0, lt=1, description="chance to see min_detectable_lift")
    min_detectable_lift: float = Field(0.05, gt=0, description="relative lift a test must see")
    canary_interim_alpha: float = Field(0.001, gt=0, lt=0.05, description="rollback p before the horizon")
    canary_max_looks: int = Field(14, ge=0, le=1000, description="interim looks the alpha covers")
    canary_min_users: int = Field(100, ge=2, description="users per arm before a canary is judged")

    @model_validator(mode="after")
    def _final_look_keeps_some_alpha(self) -> OnlineTestSettings:
        if self.canary_max_looks * self.canary_interim_alpha >= self.alpha:
            raise ValueError(
                f"canary_max_looks x canary_interim_alpha ({self.canary_max_looks} x "
                f"{self.canary_interim_alpha}) must stay under alpha ({self.alpha}): "
                "the final look gets what the interim looks leave"
            )
        return self


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECS_", env_nested_delimiter="__", extra="forbid")

    # where things live
    warehouse: Location = Path("var/warehouse.duckdb")
    artifacts_dir: Location = Path("var/artifacts")
    table_name: str = "recs"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    item_names: Path | None = Field(
        None, description="CSV with item_id and name columns, for the human views (recs recommend)"
    )

    # ingest: the source column for each required event column, if it is named differently
    column_map: dict[str, str] = Field(default_factory=dict)
    default_event_type: str = Field(
        "interaction", min_length=1, description="the event type of a log without an event_type column; "
        "it weighs event_weights' value for it, else 1",
    )  # fmt: skip
    ts_unit: Literal["auto", "s", "ms"] = Field(
        "auto", description="a numeric ts: epoch seconds, milliseconds, or auto (by magnitude)"
    )

    # the catalog (pipeline.data.catalog): files loaded before each run, and their column map
    catalog: list[str] = Field(default_factory=list, description="catalog files, folders or s3:// URIs")
    catalog_column_map: dict[str, str] = Field(default_factory=dict)

    # interactions
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"view": 1.0, "cart": 3.0, "purchase": 5.0, "return": -5.0}
    )
    exclude_items_regex: str | None = None
    half_life_days: float | None = Field(None, gt=0, description="time decay of event weights; None: none")
    min_user_interactions: int = Field(1, ge=1, description="users with fewer items are dropped")
    min_item_interactions: int = Field(1, ge=1, description="items with fewer users are dropped")
    holdout_split: Literal["time", "random-per-user"] = "time"
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share of each user's items held out")
    split_seed: int = 42
    segment_column: str | None = "country"

    # model, evaluation and the quality gate
    als: ALSParams = Field(default_factory=ALSParams)
    use_gpu: bool | None = None  # None: the GPU when implicit has CUDA, else the CPU
    warm_start_iterations: int = Field(
        5,
        ge=0,
        le=500,
        description="the served model: ALS iterations from the holdout model's factors; "
        "0: a fit from scratch",
    )
    holdout_days: int = Field(30, ge=1)
    eval_k: int = Field(10, ge=1)
    min_lift_over_popular: float = Field(
        0.0, description="relative NDCG lift over the popularity baseline a model must show"
    )
    eval_ks: list[int] = Field(default_factory=lambda: [5, 20], description="more k, besides eval_k")
    eval_max_users: int | None = Field(
        50_000, ge=1, description="more held-out users than this: the holdout is measured on a seeded "
        "sample of this many, each metric with its 95% interval; None: every user",
    )  # fmt: skip
    max_drop_vs_published: float = Field(
        0.02, ge=0, le=1, description="relative NDCG drop below the published version the gate tolerates"
    )
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    gate: GateSettings = Field(default_factory=GateSettings)

    # precompute and publish
    k: int = Field(50, ge=1, le=200)
    similar_k: int = Field(20, ge=1, le=200)
    candidates: int = Field(
        10, ge=0, le=150, description="items stored per user row beyond k, for filtering at serve time"
    )
    repeat_purchase_categories: list[str] = Field(
        default_factory=list,
        description="categories (and their subcategories) whose items a user may be recommended again",
    )
    seen_event_types: list[str] | None = Field(
        None,
        description='event types whose items a user is not recommended again (e.g. ["purchase"]: '
        "viewed items may come back); None: every event type",
    )
    new_item_days: int = Field(
        14,
        ge=0,
        description="catalog items created this recently, unknown to the model, get exploration slots",
    )
    new_item_share: float = Field(0.1, ge=0, le=0.5, description="share of the first k slots for new items")
    score_shards: int = Field(
        1, ge=1, le=4096, description="user ranges scored as separate tasks (one per Dask/Ray worker)"
    )
    ttl_days: int = Field(
        14, ge=1, description="rows expire this long after publishing; must cover keep_versions publishes"
    )
    keep_versions: int = Field(2, ge=1, description="published versions kept as rollback targets")
    publish_workers: int = Field(4, ge=1, le=64)
    publish_max_attempts: int = Field(8, ge=1, le=30, description="BatchWriteItem tries per batch")
    create_table: bool = Field(True, description="create a missing table (false: infra/ owns it)")
    lock_lease_seconds: float = Field(
        600.0, ge=1, le=86400, description="the nightly lock's lease, renewed every third of it in a run"
    )
    publish_shards: int = Field(
        1, ge=1, le=4096, description="row parts written as separate tasks; 1: one resumable publish"
    )

    # scale-out: where the scoring and publishing shards run (pipeline/fanout.py)
    task_runner: Literal["default", "dask"] = Field(
        "default", description="default: threads of the flow's process; dask: a Dask cluster's workers"
    )
    dask_address: str | None = Field(
        None, description="scheduler of a running Dask cluster (tcp://host:8786); None: a LocalCluster"
    )
    dask_workers: int = Field(2, ge=1, le=256, description="worker processes of that LocalCluster")
    publish_as: Literal["pointer", "canary"] = Field(
        "pointer", description="pointer: flip to the new version; canary: serve it to canary_share of users"
    )
    canary_share: float = Field(0.1, gt=0, lt=1, description="the share of users a canary serves")
    canary_hours: float = Field(24.0, gt=0, description="how long a canary runs before it is due a decision")

    # ingest rules
    max_bad_fraction: float = Field(0.05, ge=0, le=1)
    on_changed_file: Literal["fail", "append"] = Field(
        "fail",
        description="a loaded file whose bytes changed: fail the run naming it, or (append) load the rows "
        "added at the end of a CSV / JSON-lines file whose old bytes are a prefix of the new ones",
    )

    # operations: what a nightly run does when the data and parameters are those of the served model
    on_empty_day: Literal["skip", "retrain"] = Field(
        "skip", description="skip: keep serving, train nothing; retrain: train and report, publish nothing"
    )

    # feedback: the impression log joined with what users did next (pipeline/feedback)
    impressions_uri: str | None = Field(
        None, description="the API's impression log (s3://bucket/impressions/ or a folder); None: none read"
    )
    attribution_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 90,
        description="an event without a rec_id counts for an answer this long after it",
    )
    online_test: OnlineTestSettings = Field(default_factory=OnlineTestSettings)

    @model_validator(mode="after")
    def _s3_through_the_jobs_endpoint(self) -> PipelineSettings:
        """S3 locations reach the same AWS (or local moto) as the job's other clients."""
        for name in ("warehouse", "artifacts_dir"):
            bound = storage.bind(getattr(self, name), self.aws_region, self.aws_endpoint_url)
            object.__setattr__(self, name, bound)
        return self

    @field_validator("event_weights")
    @classmethod
    def _some_weight_positive(cls, weights: dict[str, float]) -> dict[str, float]:
        if not any(w > 0 for w in weights.values()):
            raise ValueError("event_weights must give at least one event type a positive weight")
        return weights

    def all_event_weights(self) -> dict[str, float]:
        """``event_weights`` with the default event type (weight 1 unless ``event_weights`` names it)."""
        return {self.default_event_type: 1.0} | self.event_weights

    @model_validator(mode="after")
    def _seen_types_are_event_types(self) -> PipelineSettings:
        known = self.all_event_weights()
        unknown = sorted(set(self.seen_event_types or ()) - set(known))
        if unknown:
            raise ValueError(
                f"seen_event_types names event types that event_weights does not: {unknown}; "
                f"the event types are {sorted(known)}"
            )
        return self

    @field_validator("column_map")
    @classmethod
    def _maps_known_columns(cls, column_map: dict[str, str]) -> dict[str, str]:
        columns = (*REQUIRED_COLUMNS, "event_type", "quantity", "price", "country", "weight", "rec_id")
        unknown = set(column_map) - set(columns)
        if unknown:
            raise ValueError(f"column_map keys must be event columns {columns}, got {sorted(unknown)}")
        return column_map


Origin = Literal["default", "file", "environment", "argument"]
SECRET_WORDS = ("key", "secret", "password", "token")


def load_settings(config: Path | str | None = None, **overrides) -> PipelineSettings:
    """Settings from the defaults, an optional TOML file, the environment and explicit overrides,
    each overriding the one before."""
    return PipelineSettings(**_merged(_layers(config, overrides)))


def settings_origins(config: Path | str | None = None, **overrides) -> dict[str, Origin]:
    """Where each value of ``load_settings(config, **overrides)`` comes from, by dotted field
    name (``als.factors``): the last layer that set it, else ``default``."""
    origins: dict[str, Origin] = {}
    for origin, values in _layers(config, overrides):
        for name in _leaves(values):
            origins[name] = origin
    return origins


def _layers(config: Path | str | None, overrides: dict) -> list[tuple[Origin, dict]]:
    layers: list[tuple[Origin, dict]] = []
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            layers.append(("file", TomlConfigSettingsSource(PipelineSettings, toml_file=path)()))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {path} is not valid TOML: {err}") from None
    layers.append(("environment", EnvSettingsSource(PipelineSettings)()))
    layers.append(("argument", {k: v for k, v in overrides.items() if v is not None}))
    return layers


def _merged(layers: list[tuple[Origin, dict]]) -> dict:
    """The layers' values, later ones winning; the groups (``als``, ``tuning``) merge field by
    field, so ``RECS_ALS__FACTORS`` changes the file's factors and keeps its other parameters."""
    merged: dict = {}
    for _, values in layers:
        for name, value in values.items():
            group = name in _GROUPS and isinstance(value, dict) and isinstance(merged.get(name), dict)
            merged[name] = merged[name] | value if group else value
    return merged


def _leaves(values: dict) -> list[str]:
    return [
        f"{name}.{field}" if name in _GROUPS and isinstance(value, dict) else name
        for name, value in values.items()
        for field in (value if name in _GROUPS and isinstance(value, dict) else [None])
    ]


def shown(settings: PipelineSettings) -> dict[str, object]:
    """Every value by dotted name, for people: secrets (a name with key, secret, password or
    token) masked."""
    values: dict[str, object] = {}
    for name, value in settings.model_dump(mode="json").items():
        items = value.items() if name in _GROUPS else [(None, value)]
        for field, leaf in items:
            dotted = f"{name}.{field}" if field else name
            secret = any(word in dotted.lower() for word in SECRET_WORDS) and leaf is not None
            values[dotted] = "***" if secret else leaf
    return values


_GROUPS = {
    name
    for name, field in PipelineSettings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}
