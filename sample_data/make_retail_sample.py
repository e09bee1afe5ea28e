"""Convert the UCI Online Retail log into the project's event schema.

Run from the repository root:  python sample_data/make_retail_sample.py PATH/online_retail.parquet

Writes one Parquet file of events per calendar month to sample_data/events/ and the
item catalogue to sample_data/items.csv. The mapping, row by row:

    CustomerID  -> user_id     (guest checkouts without a CustomerID are dropped:
                                there is nobody to recommend to)
    StockCode   -> item_id
    InvoiceDate -> ts
    Quantity    -> quantity
    UnitPrice   -> price
    Country     -> country
    InvoiceNo   -> event_type  "return" when the invoice starts with "C", else "purchase"

Everything else (duplicated lines, non-product codes such as POST or BANK CHARGES,
price adjustments) is kept as it came: cleaning is the pipeline's job.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def to_events(retail: pd.DataFrame) -> pd.DataFrame:
    """Rows of the retail log in the event schema (guests dropped)."""
    known = retail[retail["CustomerID"].notna()]
    is_return = known["InvoiceNo"].str.startswith("C")
    return pd.DataFrame(
        {
            "user_id": known["CustomerID"].astype("int64").astype(str),
            "item_id": known["StockCode"].astype(str),
            "event_type": is_return.map({True: "return", False: "purchase"}),
            "ts": known["InvoiceDate"].astype("datetime64[us]"),
            "quantity": known["Quantity"].astype("int64"),
            "price": known["UnitPrice"].astype("float64"),
            "country": known["Country"].astype(str),
        }
    ).reset_index(drop=True)


# the first keyword found in a product's name gives its category (a shop's own would come from its
# product data; the UCI log has none); names without one are "other"
CATEGORY_KEYWORDS = [
    ("jewellery", ("NECKLACE", "EARRINGS", "BRACELET", "RING ", "BROOCH", "HAIRCLIP", "HAIR ")),
    ("christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE")),
    ("stationery", ("CARD", "PAPER", "WRAP", "NOTEBOOK", "PENCIL", "PEN ", "STICKER", "TAPE", "ENVELOPE")),
    ("bags", ("BAG", "PURSE", "SHOPPER", "TOTE")),
    (
        "home/kitchen",
        (
            "MUG",
            "BOWL",
            "CAKE",
            "TEA",
            "CUP",
            "PLATE",
            "SPOON",
            "JAR",
            "TIN",
            "LUNCH",
            "BAKING",
            "NAPKIN",
            "COASTER",
            "TRAY",
            "GLASS",
            "BOTTLE",
            "KITCHEN",
            "APRON",
            "JUG",
        ),
    ),
    ("home/lighting", ("CANDLE", "T-LIGHT", "LIGHT", "LANTERN", "LAMP")),
    (
        "home/decor",
        (
            "DECORATION",
            "SIGN",
            "FRAME",
            "WALL",
            "CUSHION",
            "CLOCK",
            "HANGING",
            "HEART",
            "VASE",
            "MIRROR",
            "ORNAMENT",
            "DOORMAT",
            "BUNTING",
            "GARLAND",
        ),
    ),
    ("garden", ("GARDEN", "PLANT", "FLOWER", "BIRD", "WATERING")),
    ("toys", ("TOY", "GAME", "DOLL", "PUZZLE", "PLAYHOUSE", "JIGSAW", "SKITTLES", "DOMINOES")),
    ("fees", ("POSTAGE", "CARRIAGE", "MANUAL", "BANK CHARGES", "DISCOUNT", "AMAZON FEE", "DOTCOM")),
]


def category_of(name: str) -> str:
    """A product's category from the first keyword of CATEGORY_KEYWORDS in its (upper-case) name."""
    upper = f"{name.upper()} "
    return next((c for c, words in CATEGORY_KEYWORDS if any(w in upper for w in words)), "other")


def to_catalogue(retail: pd.DataFrame) -> pd.DataFrame:
    """item_id -> the most frequent product description, and the category its words give."""
    named = retail.dropna(subset=["Description"])
    names = (
        named.groupby(["StockCode", "Description"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["StockCode", "n"], ascending=[True, False])
        .drop_duplicates("StockCode")
    )
    catalogue = pd.DataFrame({"item_id": names["StockCode"], "name": names["Description"].str.strip()})
    return catalogue.assign(category=catalogue["name"].map(category_of))


def main(source: str) -> None:
    retail = pd.read_parquet(source)
    events = to_events(retail)
    out = HERE / "events"
    out.mkdir(exist_ok=True)
    for month, rows in events.groupby(events["ts"].dt.strftime("%Y-%m")):
        rows.to_parquet(out / f"{month}.parquet", index=False)
    to_catalogue(retail).to_csv(HERE / "items.csv", index=False)
    print(f"{len(events):,} events in {events['ts'].dt.strftime('%Y-%m').nunique()} monthly files")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/online-retail/online_retail.parquet")
