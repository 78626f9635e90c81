"""The examples run end to end and print what an independent computation says."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected_word_counts(path: Path) -> Counter[str]:
    words = re.split(r"[^a-z']+", path.read_text().lower())
    return Counter(w for w in words if w)


def test_wordcount_matches_a_python_counter(spark) -> None:  # type: ignore[no-untyped-def]
    wordcount = _load("wordcount")
    rows = wordcount.word_counts(spark, str(wordcount.DEFAULT_INPUT)).collect()
    expected = _expected_word_counts(wordcount.DEFAULT_INPUT)
    assert {r["word"]: r["count"] for r in rows} == dict(expected)
    ordered = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(r["word"], r["count"]) for r in rows] == ordered


def test_wordcount_script_prints_the_top_words() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "wordcount.py"), "--top", "3"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "|word|count|" in out
    assert "|the |24   |" in out
    assert "only showing top 3 rows" in out


def test_etl_report_matches_pandas(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    etl = _load("etl_joins")
    report = etl.run(spark, tmp_path, orders=20_000)
    got = report.toPandas()
    raw = tmp_path / "raw"
    orders = pd.read_parquet(raw / "orders")
    products = pd.read_parquet(raw / "products")
    customers = pd.read_parquet(raw / "customers")
    sales = orders[(orders.quantity > 0) & orders.customer_id.notna()]
    sales = sales.merge(products, on="product_id").merge(customers, on="customer_id")
    sales = sales.assign(revenue=sales.quantity * sales.price)
    expected = (sales.groupby(["country", "category"])
                .agg(revenue=("revenue", "sum"), orders=("order_id", "count"),
                     buyers=("customer_id", "nunique"), avg_quantity=("quantity", "mean"))
                .reset_index().sort_values("revenue", ascending=False, ignore_index=True))
    assert list(got.columns) == ["country", "category", "revenue", "orders", "buyers",
                                 "avg_quantity"]
    assert len(got) == len(expected) == 30
    assert got[["country", "category"]].values.tolist() == \
        expected[["country", "category"]].values.tolist()
    assert got.orders.tolist() == expected.orders.tolist()
    assert got.buyers.tolist() == expected.buyers.tolist()
    assert got.revenue.tolist() == pytest.approx(expected.revenue.round(2).tolist(), abs=0.011)
    assert got.avg_quantity.tolist() == pytest.approx(
        expected.avg_quantity.round(3).tolist(), abs=0.0011)
    # The report was written as parquet files with Spark's layout.
    files = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert "_SUCCESS" in files
    assert all(re.fullmatch(r"part-\d{5}-[0-9a-f]+-c000\.snappy\.parquet", f)
               for f in files if f != "_SUCCESS")
