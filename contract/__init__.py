"""The DynamoDB item contract: the one joint between the batch job and the API.

The pipeline writes these items and the API reads them; this package is the only place
either side learns the layout, and it imports nothing but the standard library (no boto3,
nothing of ``pipeline`` or ``lambda_api``), so the Lambda zip carries it as is. Its API is
``contract.<name>``; the underscored modules behind it are private.

Table: partition key ``pk`` (S), sort key ``sk`` (S). Every recommendation row is written
under its model version (``sk`` = version), so several versions coexist and a reader first
resolves which one is current:

    pk                      sk          attributes                                   codec
    ----------------------  ----------  -------------------------------------------  ----------------
    meta#pointer            current     version, previous, k, flipped_at             Pointer
    meta#lock               nightly     holder, expires_at (lease, epoch seconds)    (pipeline only)
    meta#version            <version>   status (writing|published|retired), rows,    VersionEntry
                                        rows_done, k, metrics (S, JSON), fingerprint,
                                        check_keys (S, JSON), created_at,
                                        published_at, expires_at
    user#<user_id>          <version>   items (S), scores (S), expires_at, schema,   RankedItems
                                        cats (S), new (S)
    item#<item_id>          <version>   items (S), scores (S), expires_at, schema,   RankedItems
                                        cats, new, about (S) (similar items)
    popular#<segment>       <version>   items (S), scores (S), expires_at, schema,   RankedItems
                                        cats (segment "global", or e.g. "France")
    meta#categories         <version>   names (S, JSON), expires_at                  CategoryTable

``items`` holds the item ids in rank order joined by commas and ``scores`` the matching scores to
4 significant digits, joined the same way (``_rows``, layout 2): two string attributes keep a
60-item row of realistic ids, with each item's category code (``cats``, into the version's
``meta#categories`` table), under 1 KB (one write unit; ``item_size`` measures it as DynamoDB
bills it), and are cheaper to write and parse than a list of maps of numbers. ``expires_at`` is
the table's TTL attribute (epoch seconds). ``schema`` on each row names the layout version
(``SCHEMA_VERSION``) so that old and new layouts can coexist in a switch: readers still read
layout 1 (JSON arrays).

Readers resolve ``meta#pointer`` first and then read rows under its version only, so an
answer never mixes versions; a user the version does not know is answered from the popular
lists in ``fallback_segments`` order. The pipeline flips the pointer only after every row of
a version is written and verified; ``meta#version`` is the pipeline's registry of versions
(the API does not read it).

Rules (``_rules``): a row may carry ``cats``, its items' categories, and ``meta#availability``
items list the items not to recommend during the day (``recs availability set``).

Ids (``ID_RULE``): what the product accepts as a user, item or segment id: ingest quarantines
a row whose id breaks it and the API answers 422, so every stored id can be served and excluded.
"""

from contract._categories import (
    CATEGORY_TABLE_PK,
    CategoryTable,
    category_table,
    category_table_key,
    decode_category_table,
    encode_category_table,
)
from contract._experiment import (
    ARMS,
    EXPERIMENT_KEY,
    EXPERIMENT_PK,
    SHARE_RULE,
    Experiment,
    ExperimentKind,
    ExperimentStatus,
    arm_of,
    bucket,
    decode_experiment,
    encode_experiment,
    experiment_problem,
    run_key,
)
from contract._ids import (
    ID_CHARACTERS,
    ID_PATTERN,
    ID_RULE,
    MAX_ID_LENGTH,
    MAX_SEGMENT_LENGTH,
    id_problem,
)
from contract._impression import (
    IMPRESSION_FIELDS,
    IMPRESSIONS_PREFIX,
    Arm,
    Impression,
    Route,
    encode_impression,
    impression_line,
    impression_time,
)
from contract._keys import (
    GLOBAL_SEGMENT,
    KEY_SCHEMA,
    LOCK_KEY,
    PARTITION_KEY,
    POINTER_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
    VERSION_PK,
    fallback_segments,
    item_pk,
    popular_pk,
    row_key,
    table_keys,
    user_pk,
)
from contract._meta import (
    Pointer,
    VersionEntry,
    VersionStatus,
    decode_pointer,
    decode_version,
    encode_pointer,
    encode_version,
)
from contract._rows import (
    MAX_K,
    SCHEMA_VERSION,
    RankedItems,
    decode_row,
    encode_row,
    encode_text_row,
    ids_text,
    needs_category_table,
    scores_text,
)
from contract._rules import (
    ABOUT_ATTRIBUTE,
    AVAILABILITY_PK,
    CATEGORIES_ATTRIBUTE,
    NEW_ATTRIBUTE,
    Availability,
    availability_key,
    availability_parts,
    decode_about,
    decode_availability,
    decode_new,
    encode_about,
    encode_availability,
    encode_new,
    in_category,
    read_availability,
)
from contract._size import WRITE_UNIT_BYTES, item_size

__all__ = [
    "CATEGORY_TABLE_PK",
    "CategoryTable",
    "category_table",
    "category_table_key",
    "decode_category_table",
    "encode_category_table",
    "ARMS",
    "EXPERIMENT_KEY",
    "EXPERIMENT_PK",
    "IMPRESSIONS_PREFIX",
    "IMPRESSION_FIELDS",
    "SHARE_RULE",
    "Arm",
    "Experiment",
    "ExperimentKind",
    "ExperimentStatus",
    "Impression",
    "Route",
    "arm_of",
    "bucket",
    "decode_experiment",
    "encode_experiment",
    "encode_impression",
    "experiment_problem",
    "impression_line",
    "impression_time",
    "run_key",
    "ABOUT_ATTRIBUTE",
    "AVAILABILITY_PK",
    "CATEGORIES_ATTRIBUTE",
    "NEW_ATTRIBUTE",
    "Availability",
    "availability_key",
    "availability_parts",
    "decode_about",
    "decode_availability",
    "decode_new",
    "encode_about",
    "encode_availability",
    "encode_new",
    "in_category",
    "GLOBAL_SEGMENT",
    "ID_CHARACTERS",
    "ID_PATTERN",
    "ID_RULE",
    "KEY_SCHEMA",
    "LOCK_KEY",
    "MAX_ID_LENGTH",
    "MAX_K",
    "MAX_SEGMENT_LENGTH",
    "PARTITION_KEY",
    "POINTER_KEY",
    "SCHEMA_VERSION",
    "SORT_KEY",
    "TTL_ATTRIBUTE",
    "VERSION_PK",
    "WRITE_UNIT_BYTES",
    "Pointer",
    "RankedItems",
    "VersionEntry",
    "VersionStatus",
    "decode_pointer",
    "decode_row",
    "decode_version",
    "encode_text_row",
    "encode_pointer",
    "encode_row",
    "encode_version",
    "fallback_segments",
    "id_problem",
    "ids_text",
    "needs_category_table",
    "item_pk",
    "item_size",
    "popular_pk",
    "read_availability",
    "row_key",
    "scores_text",
    "table_keys",
    "user_pk",
]
