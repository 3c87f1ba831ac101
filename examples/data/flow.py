"""Revenue per region from the shop's SQLite database, read through lamina.data.

    python make_db.py           # once: creates shop.db
    lamina run flow.py          # reads the orders, writes region_totals to reports.db
    lamina show shop/latest     # the run, and the data it read (query, params, version)
    lamina run flow.py --cache  # nothing changed: every step is reused

Change the data (python make_db.py again, or any write to shop.db) and run with --cache:
the read is computed again because the database's version changed, and `lamina diff`
names the input that changed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import lamina.data
from lamina import Flow

flow = Flow("shop")


@flow.step
def orders(since: str = "2026-11-15") -> pa.Table:
    """Orders since a day; the value is bound by the driver, never formatted into SQL."""
    return lamina.data.read(
        "shop", "select region, amount from orders where day >= %(since)s order by id",
        params={"since": since})


@flow.step
def totals(orders: pa.Table) -> pa.Table:
    """Revenue and order count per region."""
    grouped = orders.group_by("region").aggregate([("amount", "sum"), ("amount", "count")])
    return grouped.rename_columns(["region", "revenue", "orders"]).sort_by("region")


@flow.step
def publish(totals: pa.Table) -> int:
    """Write the totals to the reports database, replacing the previous ones."""
    rounded = totals.set_column(1, "revenue", pc.round(totals["revenue"], 2))
    written = lamina.data.write("reports", "region_totals", rounded, mode="overwrite")
    for row in rounded.to_pylist():
        print(f"{row['region']:>5}: {row['revenue']:>10.2f} from {row['orders']} orders")
    return written
