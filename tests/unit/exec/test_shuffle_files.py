from __future__ import annotations

import datetime
import decimal
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ember.exec import hashing, shuffle_files

SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("name", pa.string()),
    ("score", pa.float64()),
    ("flag", pa.bool_()),
    ("day", pa.date32()),
    ("ts", pa.timestamp("us")),
    ("price", pa.decimal128(12, 2)),
    ("blob", pa.binary()),
])


def _batch(start: int, n: int) -> pa.RecordBatch:
    ids = np.arange(start, start + n)
    return pa.record_batch(
        {
            "id": pa.array(ids),
            "name": pa.array([None if i % 5 == 0 else f"name-{i}" for i in ids]),
            "score": pa.array([None if i % 7 == 0 else i * 0.5 for i in ids]),
            "flag": pa.array([None if i % 3 == 0 else bool(i % 2) for i in ids]),
            "day": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=int(i % 400))
                             for i in ids]),
            "ts": pa.array([None if i % 4 == 0 else datetime.datetime(2024, 1, 1, 0, 0, i % 60)
                            for i in ids], pa.timestamp("us")),
            "price": pa.array([decimal.Decimal(int(i)) / 100 for i in ids], pa.decimal128(12, 2)),
            "blob": pa.array([bytes([i % 256]) * int(i % 4) for i in ids]),
        },
        schema=SCHEMA,
    )


def _write(directory: Path, batches: list[pa.RecordBatch], num_partitions: int,
           *, map_id: int = 0, **kwargs: object) -> tuple[list[int], pa.Table]:
    writer = shuffle_files.ShuffleWriter(directory, 1, map_id, num_partitions, SCHEMA, **kwargs)
    for batch in batches:
        writer.write(batch, hashing.partition_ids([batch["id"]], num_partitions))
    return writer.commit(), pa.Table.from_batches(batches, schema=SCHEMA)


def _rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def test_round_trip_keeps_every_row_in_its_partition_with_nulls_and_types(
    tmp_path: Path,
) -> None:
    batches = [_batch(i * 1000, 1000) for i in range(5)]
    sizes, source = _write(tmp_path, batches, 6)
    assert len(sizes) == 6 and all(s > 0 for s in sizes)

    all_pids = hashing.partition_ids([source["id"]], 6)
    got_rows = 0
    for r in range(6):
        data = shuffle_files.read_block_bytes(tmp_path, 1, 0, r)
        assert len(data) == sizes[r]
        got = pa.Table.from_batches(list(shuffle_files.decode_block(data)), schema=SCHEMA)
        expected = source.filter(pa.array(all_pids == r))
        assert _rows(got) == _rows(expected)
        # Rows keep their input order within a partition.
        assert got["id"].to_pylist() == expected["id"].to_pylist()
        got_rows += got.num_rows
    assert got_rows == source.num_rows


def test_index_holds_n_plus_one_little_endian_offsets_then_n_checksums(tmp_path: Path) -> None:
    sizes, _ = _write(tmp_path, [_batch(0, 500)], 4)
    raw = (tmp_path / "shuffle_1_0_0.index").read_bytes()
    entries = np.frombuffer(raw, dtype="<i8")
    assert len(entries) == 9
    offsets, checksums = entries[:5], entries[5:]
    data = (tmp_path / "shuffle_1_0_0.data").read_bytes()
    assert checksums.tolist() == [zlib.crc32(data[offsets[r]:offsets[r + 1]]) for r in range(4)]
    assert offsets[0] == 0 and np.diff(offsets).tolist() == sizes
    assert offsets[-1] == (tmp_path / "shuffle_1_0_0.data").stat().st_size
    for r in range(4):
        path, offset, length = shuffle_files.block_location(tmp_path, 1, 0, r)
        assert path == tmp_path / "shuffle_1_0_0.data"
        assert (offset, length) == (offsets[r], sizes[r])


def test_each_partition_is_a_self_contained_lz4_ipc_stream(tmp_path: Path) -> None:
    sizes, _ = _write(tmp_path, [_batch(0, 2000)], 3)
    _, offset, length = shuffle_files.block_location(tmp_path, 1, 0, 1)
    raw = (tmp_path / "shuffle_1_0_0.data").read_bytes()[offset : offset + length]
    reader = pa.ipc.open_stream(raw)
    assert reader.schema.equals(SCHEMA)
    assert sum(b.num_rows for b in reader) > 0
    uncompressed, _ = _write(tmp_path, [_batch(0, 2000)], 3, map_id=9, compression=None)
    assert sum(sizes) < sum(uncompressed)


def test_empty_partitions_take_no_bytes_and_decode_to_nothing(tmp_path: Path) -> None:
    writer = shuffle_files.ShuffleWriter(tmp_path, 2, 5, 4, SCHEMA)
    batch = _batch(0, 10)
    writer.write(batch, np.array([2] * 10))
    writer.write(batch.slice(0, 0), np.array([], dtype=np.int64))
    sizes = writer.commit()
    assert sizes[0] == sizes[1] == sizes[3] == 0 and sizes[2] > 0
    assert shuffle_files.read_block_bytes(tmp_path, 2, 5, 0) == b""
    assert list(shuffle_files.decode_block(b"")) == []
    whole = shuffle_files.read_block_bytes(tmp_path, 2, 5, 0, 4)
    batches = list(shuffle_files.decode_blocks(whole, sizes))
    assert pa.Table.from_batches(batches).equals(pa.Table.from_batches([batch]))


def test_map_with_no_rows_writes_an_all_zero_index(tmp_path: Path) -> None:
    writer = shuffle_files.ShuffleWriter(tmp_path, 3, 0, 3, SCHEMA)
    assert writer.commit() == [0, 0, 0]
    assert (tmp_path / "shuffle_3_0_0.data").stat().st_size == 0
    assert shuffle_files.block_location(tmp_path, 3, 0, 0, 3)[1:] == (0, 0)


def test_a_range_of_partitions_is_one_contiguous_byte_range(tmp_path: Path) -> None:
    sizes, source = _write(tmp_path, [_batch(0, 3000)], 8)
    path, offset, length = shuffle_files.block_location(tmp_path, 1, 0, 2, 6)
    assert length == sum(sizes[2:6])
    data = shuffle_files.read_block_bytes(tmp_path, 1, 0, 2, 6)
    assert len(data) == length
    got = pa.Table.from_batches(list(shuffle_files.decode_blocks(data, sizes[2:6])))
    pids = hashing.partition_ids([source["id"]], 8)
    expected = source.filter(pa.array((pids >= 2) & (pids < 6)))
    assert _rows(got) == _rows(expected)


def test_small_slices_are_combined_into_large_batches(tmp_path: Path) -> None:
    # 200 input batches of 50 rows over 2 partitions: ~25-row slices each time.
    batches = [_batch(i * 50, 50) for i in range(200)]
    _write(tmp_path, batches, 2)
    for r in range(2):
        data = shuffle_files.read_block_bytes(tmp_path, 1, 0, r)
        assert len(list(shuffle_files.decode_block(data))) == 1
    # With a small target, batches are capped at it.
    _write(tmp_path, batches, 2, map_id=1, target_batch_rows=1000)
    data = shuffle_files.read_block_bytes(tmp_path, 1, 1, 0)
    decoded = list(shuffle_files.decode_block(data))
    assert len(decoded) > 1 and max(b.num_rows for b in decoded) <= 1000


def test_buffered_bytes_grow_with_writes_and_drop_after_commit(tmp_path: Path) -> None:
    writer = shuffle_files.ShuffleWriter(tmp_path, 1, 0, 4, SCHEMA)
    assert writer.buffered_bytes == 0
    batch = _batch(0, 1000)
    writer.write(batch, hashing.partition_ids([batch["id"]], 4))
    first = writer.buffered_bytes
    assert first >= batch.nbytes * 0.9
    writer.write(batch, hashing.partition_ids([batch["id"]], 4))
    assert writer.buffered_bytes > first and writer.buffered_rows == 2000
    writer.commit()
    assert writer.buffered_bytes == 0
    with pytest.raises(RuntimeError, match="already committed"):
        writer.write(batch, np.zeros(1000, dtype=np.int64))


def test_writer_refuses_a_batch_of_another_schema(tmp_path: Path) -> None:
    writer = shuffle_files.ShuffleWriter(tmp_path, 1, 0, 2, SCHEMA)
    with pytest.raises(ValueError, match="does not match"):
        writer.write(pa.record_batch({"id": [1]}), np.array([0]))


def test_tables_with_several_chunks_are_accepted(tmp_path: Path) -> None:
    table = pa.Table.from_batches([_batch(0, 100), _batch(100, 100)])
    writer = shuffle_files.ShuffleWriter(tmp_path, 1, 0, 3, SCHEMA)
    writer.write(table, hashing.partition_ids([table["id"]], 3))
    sizes = writer.commit()
    data = shuffle_files.read_block_bytes(tmp_path, 1, 0, 0, 3)
    got = pa.Table.from_batches(list(shuffle_files.decode_blocks(data, sizes)))
    assert _rows(got) == _rows(table)


def test_commit_leaves_only_the_final_files(tmp_path: Path) -> None:
    _write(tmp_path, [_batch(0, 100)], 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shuffle_1_0_0.data", "shuffle_1_0_0.index",
    ]


def test_failed_commit_leaves_no_files_behind(tmp_path: Path, monkeypatch) -> None:
    writer = shuffle_files.ShuffleWriter(tmp_path, 1, 0, 3, SCHEMA)
    batch = _batch(0, 100)
    writer.write(batch, hashing.partition_ids([batch["id"]], 3))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(shuffle_files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        writer.commit()
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_task_keeps_the_first_committed_output(tmp_path: Path) -> None:
    first, _ = _write(tmp_path, [_batch(0, 300)], 3)
    before = (tmp_path / "shuffle_1_0_0.data").read_bytes()
    # The re-run sees different rows (say a non-deterministic upstream): readers still get
    # the first output, and the sizes returned describe it.
    second, _ = _write(tmp_path, [_batch(5000, 10)], 3)
    assert second == first
    assert (tmp_path / "shuffle_1_0_0.data").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shuffle_1_0_0.data", "shuffle_1_0_0.index",
    ]


def test_a_stale_inconsistent_output_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "shuffle_1_0_0.data").write_bytes(b"half a file")
    (tmp_path / "shuffle_1_0_0.index").write_bytes(np.array([0, 5, 99], "<i8").tobytes())
    sizes, source = _write(tmp_path, [_batch(0, 200)], 3)
    data = shuffle_files.read_block_bytes(tmp_path, 1, 0, 0, 3)
    assert _rows(pa.Table.from_batches(list(shuffle_files.decode_blocks(data, sizes)))) == \
        _rows(source)


def test_missing_output_and_bad_range_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="shuffle 4 map 2"):
        shuffle_files.block_location(tmp_path, 4, 2, 0)
    with pytest.raises(FileNotFoundError, match="shuffle 4 map 2"):
        shuffle_files.read_block_bytes(tmp_path, 4, 2, 0)
    _write(tmp_path, [_batch(0, 10)], 3)
    with pytest.raises(IndexError, match="has 3 partitions"):
        shuffle_files.block_location(tmp_path, 1, 0, 2, 4)
    (tmp_path / "shuffle_1_0_0.data").unlink()
    with pytest.raises(FileNotFoundError):
        shuffle_files.read_block_bytes(tmp_path, 1, 0, 0, 3)


def test_decode_blocks_checks_the_sizes_add_up() -> None:
    with pytest.raises(ValueError, match="add up to 10 bytes but 4"):
        list(shuffle_files.decode_blocks(b"abcd", [4, 6]))


def test_remove_shuffle_deletes_only_that_shuffle(tmp_path: Path) -> None:
    for shuffle_id in (1, 12):
        for map_id in (0, 1):
            w = shuffle_files.ShuffleWriter(tmp_path, shuffle_id, map_id, 2, SCHEMA)
            w.write(_batch(0, 10), np.zeros(10, dtype=np.int64))
            w.commit()
    (tmp_path / "shuffle_1_3_0.data.0123abcd.tmp").write_bytes(b"x")
    (tmp_path / "unrelated.txt").write_text("keep")
    assert shuffle_files.remove_shuffle(tmp_path, 1) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shuffle_12_0_0.data", "shuffle_12_0_0.index",
        "shuffle_12_1_0.data", "shuffle_12_1_0.index", "unrelated.txt",
    ]
    assert shuffle_files.remove_shuffle(tmp_path / "nope", 1) == 0
