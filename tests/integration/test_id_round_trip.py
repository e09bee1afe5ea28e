"""Any id, round trip: ingest (DuckDB) -> interactions -> publish (moto DynamoDB) -> the API through
Mangum -> exclude. An id is either quarantined at ingest with a reason, or served under its exact
text and excludable (issue #12, item 8). Training is left out: it never touches an id's text."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote, urlencode

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mangum import Mangum

import contract
from lambda_api.app import create_app
from lambda_api.settings import ApiSettings
from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from pipeline.data.interactions import InteractionRules, load_matrix
from pipeline.precompute.recommend import Precomputed, TopK, popular_by_segment
from pipeline.publish import writer
from tests.lambda_api.test_handler import http_v2_event
from tests.pipeline.data.logs import WEIGHTS, events, write

# ids of any Unicode, separators and lengths, with the shapes that broke things made likely
SHAPES = st.sampled_from(["x#y", "José", "u,1", "a/b", "%2F", "?k=1", " pad", "é" * 300, "#", "..", "a b"])
IDS = st.one_of(
    SHAPES, st.text(min_size=1, max_size=40), st.text(alphabet="#,/%?& é😀\t", min_size=1, max_size=6)
)


def every_item_for_everyone(n_users: int, n_items: int) -> TopK:
    ids = np.tile(np.arange(n_items, dtype=np.int32), (n_users, 1))
    scores = np.tile(np.linspace(1.0, 0.1, n_items, dtype=np.float32), (n_users, 1))
    return TopK(ids, scores)


def ask(handler, path: str, pairs: list[tuple[str, str]]) -> dict:
    response = handler(http_v2_event(path, urlencode(pairs)), None)
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    users=st.lists(IDS, min_size=1, max_size=4, unique=True),
    items=st.lists(IDS, min_size=2, max_size=4, unique=True),
)
def test_every_id_is_quarantined_or_served_and_excludable(
    tmp_path_factory, local_aws, dynamodb, users, items
):
    users = [u for u in users if u.strip()]
    items = [i for i in items if i.strip()]
    if not users or len(items) < 2:
        return
    root = tmp_path_factory.mktemp("round-trip")
    pairs = [(u, i) for u in users for i in items]
    frame = events(
        len(pairs),
        user_id=[u for u, _ in pairs],
        item_id=[i for _, i in pairs],
        event_type=["purchase"] * len(pairs),
    )
    with warehouse.connect(root / "w.duckdb") as con:
        ingest(con, [write(frame, root / "events.parquet")], max_bad_fraction=1.0)
        quarantined = {r[0] for r in con.execute("SELECT raw FROM quarantine").fetchall()}
        data = (
            load_matrix(con, InteractionRules(WEIGHTS))
            if con.execute("SELECT count(*) FROM raw_events").fetchone()[0]
            else None
        )
    good_users = [u for u in users if contract.id_problem(u) is None]
    good_items = [i for i in items if contract.id_problem(i) is None]
    assert len(quarantined) == len(pairs) - len(good_users) * len(good_items)  # each bad pair, with a reason
    assume(good_users and len(good_items) >= 2)  # the rest of the class is the API's
    assert data is not None and sorted(data.user_ids) == sorted(good_users)

    n_users, n_items = data.shape
    pre = Precomputed(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        users=every_item_for_everyone(n_users, n_items),
        similar=every_item_for_everyone(n_items, n_items - 1),
        popular=popular_by_segment(data.user_items, None, n_items),
        k=n_items,
    )
    table = f"recs-ids-{uuid.uuid4().hex[:8]}"
    writer.publish(dynamodb, table, "v1", pre, {}, ttl_days=1, workers=2)
    app = create_app(
        ApiSettings(table_name=table, aws_endpoint_url=local_aws.endpoint_url, aws_region=local_aws.region)
    )
    handler = Mangum(app, lifespan="off")

    stored = data.item_ids.tolist()
    for user in good_users:
        path = f"/v1/users/{quote(user, safe='')}/recommendations"
        body = ask(handler, path, [("k", str(n_items))])
        assert (body["user_id"], body["source"]) == (user, "personal")
        assert [i["item_id"] for i in body["items"]] == stored
        first, rest = stored[0], stored[1:]
        excluded = ask(handler, path, [("k", str(n_items - 1)), ("exclude", first)])
        assert [i["item_id"] for i in excluded["items"]] == rest
        as_list = ask(handler, path, [("k", "1"), ("exclude", ",".join(rest))])  # comma form, every id
        assert [i["item_id"] for i in as_list["items"]] == [first]
