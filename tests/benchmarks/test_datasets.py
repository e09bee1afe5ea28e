"""The public datasets' readers, on a few rows in their published shapes (nothing downloaded)."""

from __future__ import annotations

import pytest

from benchmarks import datasets

HEADER = ",order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,product_id,"
INSTACART = (
    HEADER
    + """add_to_cart_order,reordered
0,10,1,1,2,8,,196,1.0,0.0
1,10,1,1,2,8,,14084,2.0,0.0
2,11,1,2,3,7,15.0,196,1.0,1.0
3,12,2,1,0,23,,5,1.0,0.0
4,13,1,3,3,12,2.5,7,1.0,0.0
"""
)


def test_movielens_keeps_ratings_of_4_and_5_as_positives_with_their_epoch_seconds():
    text = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n" \
           "186\t302\t4\t891717742\n22\t377\t5.0\t878887116\n"  # fmt: skip
    assert list(datasets.movielens_rows(text)) == [("186", "302", 891717742), ("22", "377", 878887116)]


def test_movielens_names_the_columns_it_expected_when_the_header_differs():
    with pytest.raises(datasets.DatasetError, match=r"expected user_id, item_id, rating, timestamp, found"):
        list(datasets.movielens_rows("user:token\titem:token\n1\t2\n"))


def test_instacart_times_an_order_by_the_users_cumulative_days_and_its_hour():
    day, hour = 86_400, 3_600
    assert list(datasets.instacart_rows(INSTACART)) == [
        ("1", "196", datasets.INSTACART_EPOCH + 8 * hour),
        ("1", "14084", datasets.INSTACART_EPOCH + 8 * hour),
        ("1", "196", datasets.INSTACART_EPOCH + 15 * day + 7 * hour),  # a reorder is another event
        ("2", "5", datasets.INSTACART_EPOCH + 23 * hour),
        ("1", "7", datasets.INSTACART_EPOCH + int(17.5 * day) + 12 * hour),
    ]


def test_events_are_written_whole_with_the_plain_header(tmp_path):
    path = tmp_path / "ml" / "events.csv"
    assert datasets.write_events(iter([("u", "i", 5)]), path) == 1
    assert path.read_text().splitlines() == ["user_id,item_id,timestamp", "u,i,5"]
    assert not path.with_suffix(".partial").exists()


def test_an_unknown_dataset_is_refused_with_the_known_names(tmp_path):
    with pytest.raises(
        datasets.DatasetError, match=r"unknown dataset 'ml-1m': expected one of \['instacart', 'ml-100k'\]"
    ):
        datasets.fetch("ml-1m", tmp_path)
