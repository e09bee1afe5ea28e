"""The local tooling finds the bundled data wherever the package sits in the tree."""

from infra.local import SAMPLE
from tests.paths import SAMPLE as REPOSITORY_SAMPLE


def test_the_demo_and_replay_read_the_bundled_sample():
    assert SAMPLE == REPOSITORY_SAMPLE
    assert (SAMPLE / "retail.toml").is_file()
    assert (SAMPLE / "items.csv").is_file()
    assert sorted(SAMPLE.glob("events/*.parquet")), "the sample has no event files"
