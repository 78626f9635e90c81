"""A DataFrame ETL with window functions, written against PySpark.

From a day of orders it computes, per customer, each order's running total and the gap since
the previous order, and per category the two best-selling products by revenue.

Run with ember: ember submit examples/pyspark/etl_windows.py [ORDERS]
"""

import datetime as dt
import sys

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

PRODUCTS = {"p1": "coffee", "p2": "coffee", "p3": "coffee", "p4": "tea", "p5": "tea",
            "p6": "cake"}


def orders(n: int) -> list[tuple]:
    start = dt.datetime(2026, 3, 1, 8, 0, 0)
    rows = []
    for i in range(n):
        product = f"p{1 + (i * 5) % 6}"
        rows.append((i, f"c{(i * 7) % 13}", product, PRODUCTS[product],
                     start + dt.timedelta(minutes=(i * 37) % 600), 1 + (i * 11) % 3,
                     round(2.0 + ((i * 3) % 7) * 0.5, 2)))
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    spark = SparkSession.builder.appName("etl-windows").getOrCreate()
    df = spark.createDataFrame(
        orders(n), ["order_id", "customer", "product", "category", "ts", "qty", "price"])
    df = df.withColumn("amount", F.col("qty") * F.col("price"))

    by_customer = Window.partitionBy("customer").orderBy("ts", "order_id")
    history = (df
               .withColumn("running_total", F.sum("amount").over(
                   by_customer.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
               .withColumn("previous_ts", F.lag("ts").over(by_customer))
               .withColumn("order_no", F.row_number().over(by_customer)))
    last_orders = history.filter(F.col("order_no") == 3).select(
        "customer", "order_id", "running_total").orderBy("customer")
    last_orders.show()

    revenue = df.groupBy("category", "product").agg(F.sum("amount").alias("revenue"))
    ranked = revenue.withColumn(
        "rank", F.dense_rank().over(Window.partitionBy("category").orderBy(F.desc("revenue"))))
    ranked.filter(F.col("rank") <= 2).orderBy("category", "rank", "product").show()
    spark.stop()


if __name__ == "__main__":
    main()
