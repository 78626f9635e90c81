"""ETL: raw parquet in, joins and aggregation, a parquet report out.

1. Generates a small shop: customers, products and orders (some orders lack a customer, some
   are returns), and writes them as parquet: the raw zone.
2. Reads them back, keeps real sales, joins products and customers, and computes revenue,
   order counts, distinct buyers and the average basket per country and category.
3. Writes the report as parquet, reads it back and prints it.

Run: python examples/etl_joins.py [--orders N] [--out DIR] [--master local[2]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ember.sql import DataFrame, SparkSession
from ember.sql import functions as F

COUNTRIES = ["DE", "FR", "NL", "PL", "SE", "US"]
CATEGORIES = ["books", "garden", "games", "kitchen", "music"]


def generate_raw(raw: Path, *, orders: int, seed: int = 7) -> None:
    """Write customers, products and orders as parquet under ``raw``."""
    rng = np.random.default_rng(seed)
    n_customers, n_products = 2_000, 200
    customers = pa.table({
        "customer_id": np.arange(1, n_customers + 1, dtype=np.int64),
        "country": pa.array(rng.choice(COUNTRIES, n_customers)),
        "signup_date": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d))
                                 for d in rng.integers(0, 365, n_customers)]),
    })
    products = pa.table({
        "product_id": np.arange(1, n_products + 1, dtype=np.int32),
        "category": pa.array(rng.choice(CATEGORIES, n_products)),
        "price": np.round(rng.uniform(2.0, 120.0, n_products), 2),
    })
    customer_ids = rng.integers(1, n_customers + 1, orders).astype(np.int64)
    no_customer = rng.random(orders) < 0.02
    quantity = rng.integers(1, 6, orders).astype(np.int32)
    quantity[rng.random(orders) < 0.05] *= -1  # returns
    order_table = pa.table({
        "order_id": np.arange(orders, dtype=np.int64),
        "customer_id": pa.array(customer_ids, mask=no_customer),
        "product_id": rng.integers(1, n_products + 1, orders).astype(np.int32),
        "quantity": quantity,
    })
    for name, table in (("customers", customers), ("products", products),
                        ("orders", order_table)):
        (raw / name).mkdir(parents=True, exist_ok=True)
        # Several files per table, as an upstream system would drop them.
        parts = 4 if name == "orders" else 1
        for i in range(parts):
            lo, hi = table.num_rows * i // parts, table.num_rows * (i + 1) // parts
            pq.write_table(table.slice(lo, hi - lo), raw / name / f"part-{i}.parquet")


def build_report(spark: SparkSession, raw: Path) -> DataFrame:
    orders = spark.read.parquet(str(raw / "orders"))
    products = spark.read.parquet(str(raw / "products"))
    customers = spark.read.parquet(str(raw / "customers"))
    sales = (orders
             .filter((F.col("quantity") > 0) & F.col("customer_id").isNotNull())
             .join(products, "product_id")
             .join(customers, "customer_id")
             .withColumn("revenue", F.col("quantity") * F.col("price")))
    return (sales.groupBy("country", "category")
            .agg(F.round(F.sum("revenue"), 2).alias("revenue"),
                 F.count("*").alias("orders"),
                 F.countDistinct("customer_id").alias("buyers"),
                 F.round(F.avg("quantity"), 3).alias("avg_quantity"))
            .orderBy(F.desc("revenue")))


def run(spark: SparkSession, out: Path, *, orders: int) -> DataFrame:
    raw, report_path = out / "raw", out / "report"
    generate_raw(raw, orders=orders)
    build_report(spark, raw).write.mode("overwrite").parquet(str(report_path))
    return spark.read.parquet(str(report_path)).orderBy(F.desc("revenue"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    spark = SparkSession.builder.master(args.master).appName("etl-joins").getOrCreate()
    try:
        with tempfile.TemporaryDirectory(prefix="ember-etl-") as tmp:
            out = args.out or Path(tmp)
            report = run(spark, out, orders=args.orders)
            report.show(30)
            total = report.agg(F.sum("revenue").alias("total")).collect()[0]["total"]
            print(f"report rows: {report.count()}, total revenue: {total:,.2f}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
