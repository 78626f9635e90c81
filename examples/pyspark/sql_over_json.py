"""SQL over JSON files, written against PySpark: which products sell best in each region?

Writes a few JSON-lines files of sales events (or reads the directory given as the first
argument), registers them as a view and answers with SQL: a join with a product table, a
CTE, grouping, HAVING and ordering.

Run with ember: ember submit examples/pyspark/sql_over_json.py [DIR]
"""

import json
import os
import sys
import tempfile

from pyspark.sql import SparkSession

PRODUCTS = [("p1", "espresso", "coffee"), ("p2", "latte", "coffee"), ("p3", "green", "tea"),
            ("p4", "chai", "tea"), ("p5", "cocoa", "other")]
REGIONS = ["north", "south", "east", "west"]


def write_events(directory: str, days: int = 3, per_day: int = 400) -> None:
    os.makedirs(directory, exist_ok=True)
    for day in range(days):
        with open(os.path.join(directory, f"day-{day}.json"), "w") as f:
            for i in range(per_day):
                n = day * per_day + i
                event = {"id": n, "region": REGIONS[(n * 7) % 4],
                         "product": PRODUCTS[(n * 3 + day) % 5][0],
                         "qty": 1 + (n * 13) % 4,
                         "price": round(2.5 + ((n * 17) % 10) * 0.25, 2)}
                if n % 50 == 0:
                    event["coupon"] = "SPRING"
                f.write(json.dumps(event) + "\n")


def main() -> None:
    spark = SparkSession.builder.appName("sql-over-json").getOrCreate()
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="events-")
    if len(sys.argv) <= 1:
        write_events(directory)
    spark.read.json(directory).createOrReplaceTempView("events")
    spark.createDataFrame(PRODUCTS, ["product", "name", "kind"]).createOrReplaceTempView(
        "products")
    spark.sql("SELECT count(*) AS events, count(coupon) AS with_coupon FROM events").show()
    best = spark.sql("""
        WITH sales AS (
            SELECT e.region, p.kind, p.name, e.qty * e.price AS revenue
            FROM events e JOIN products p ON e.product = p.product
        )
        SELECT region, kind, round(sum(revenue), 2) AS revenue, count(*) AS orders
        FROM sales
        GROUP BY region, kind
        HAVING sum(revenue) > 100
        ORDER BY region, revenue DESC
    """)
    best.show(truncate=False)
    spark.stop()


if __name__ == "__main__":
    main()
