"""How Parquet files are cut into scan splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ember.exec import scan


def _parquet(path: Path, *, rows: int, row_group_rows: int) -> str:
    table = pa.table({"v": np.arange(rows, dtype=np.int64), "w": np.ones(rows)})
    pq.write_table(table, path, row_group_size=row_group_rows)
    return str(path)


def test_small_input_stays_one_split(tmp_path: Path) -> None:
    f = _parquet(tmp_path / "a.parquet", rows=10_000, row_group_rows=1_000)
    assert len(scan.plan_splits("parquet", [f], parallelism=2)) == 1


def test_input_above_the_open_cost_is_spread_over_the_cores(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scan, "OPEN_COST_BYTES", 1024)
    f = _parquet(tmp_path / "a.parquet", rows=80_000, row_group_rows=10_000)
    splits = scan.plan_splits("parquet", [f], parallelism=2)
    assert len(splits) >= 2
    assert sorted(rg for _, groups, _ in splits for rg in groups) == list(range(8))


def test_split_size_never_exceeds_the_max_split_bytes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scan, "OPEN_COST_BYTES", 1)
    f = _parquet(tmp_path / "a.parquet", rows=80_000, row_group_rows=10_000)
    one_group = pq.ParquetFile(f).metadata.row_group(0).total_byte_size
    monkeypatch.setattr(scan, "MAX_SPLIT_BYTES", one_group)
    assert len(scan.plan_splits("parquet", [f], parallelism=1)) == 8
