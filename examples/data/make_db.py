"""Create the shop's database (shop.db) that flow.py reads: 30 days of orders in 3 regions.

Written with lamina.data.write outside a step, so nothing is recorded: a notebook or a
script can prepare data with the same calls a step uses.
"""

from __future__ import annotations

import datetime as dt
import random

import lamina.data


def main() -> None:
    rng = random.Random(7)
    start = dt.date(2026, 11, 1)
    rows = [(i, (start + dt.timedelta(days=i % 30)).isoformat(), rng.choice(["eu", "us", "apac"]),
             round(rng.uniform(5, 200), 2)) for i in range(3000)]
    ids, days, regions, amounts = (list(col) for col in zip(*rows, strict=True))
    written = lamina.data.write("shop", "orders", {"id": ids, "day": days, "region": regions,
                                                   "amount": amounts}, mode="overwrite")
    print(f"shop.db: {written} orders")


if __name__ == "__main__":
    main()
