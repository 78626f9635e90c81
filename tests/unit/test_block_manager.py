"""The executor's BlockManager over a small MemoryPool, and the driver's BlockManagerMaster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ember.core.storagelevel import StorageLevel, checked
from ember.driver.block_master import BlockManagerMaster, CacheManager
from ember.executor.block_manager import BlockManager
from ember.executor.memory import UnifiedMemoryManager
from ember.executor.memory_pool import MemoryPool


def _table(rows: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + rows), pa.int64())})


def _manager(tmp_path: Path, memory: int = 1 << 20) -> tuple[BlockManager, list[dict[str, Any]]]:
    reports: list[dict[str, Any]] = []
    pool = MemoryPool(UnifiedMemoryManager(memory, memory // 2))
    bm = BlockManager(executor_id="e1", local_dir=tmp_path, pool=pool, reporter=reports.append)
    return bm, reports


@pytest.mark.parametrize(("level", "where"), [
    (StorageLevel.MEMORY_ONLY, "memory"),
    (StorageLevel.MEMORY_AND_DISK, "memory"),
    (StorageLevel.MEMORY_AND_DISK_DESER, "memory"),
    (StorageLevel.MEMORY_ONLY_SER, "memory"),
    (StorageLevel.MEMORY_AND_DISK_SER, "memory"),
    (StorageLevel.DISK_ONLY, "disk"),
])
def test_every_level_gives_back_the_stored_table(tmp_path: Path, level: StorageLevel,
                                                 where: str) -> None:
    bm, reports = _manager(tmp_path)
    table = _table(1000)
    bm.put("rdd_3_0", table, level, num_partitions=4)
    assert bm.where("rdd_3_0") == where
    assert bm.get("rdd_3_0").equals(table)
    assert reports == [{"executor_id": "e1", "block_id": "rdd_3_0", "stored": True,
                        "size": reports[0]["size"], "on_disk": where == "disk",
                        "num_partitions": 4}]
    # Served to other executors as an Arrow IPC stream.
    served = bm.block_bytes("rdd_3_0")
    assert served is not None
    assert pa.ipc.open_stream(served).read_all().equals(table)
    if where == "disk":
        assert list((tmp_path / "blocks").glob("rdd_3_0.*"))


def test_ser_levels_keep_ipc_bytes_and_account_their_size(tmp_path: Path) -> None:
    bm, _ = _manager(tmp_path)
    bm.put("rdd_1_0", _table(1000), StorageLevel.MEMORY_ONLY_SER)
    entry = bm._blocks["rdd_1_0"]
    assert entry.table is None and isinstance(entry.ipc, bytes)
    assert bm.pool.metrics().storage_used == len(entry.ipc)


def test_lru_eviction_moves_memory_and_disk_blocks_to_disk_and_drops_memory_only_ones(
        tmp_path: Path) -> None:
    table = _table(10_000)  # 80 KB
    bm, reports = _manager(tmp_path, memory=4 * table.nbytes)
    bm.put("rdd_1_0", table, StorageLevel.MEMORY_AND_DISK)
    bm.put("rdd_2_0", table, StorageLevel.MEMORY_ONLY)
    bm.put("rdd_3_0", table, StorageLevel.MEMORY_ONLY)
    bm.get("rdd_1_0")  # rdd_2_0 is now the least recently used
    bm.put("rdd_4_0", table, StorageLevel.MEMORY_ONLY)
    bm.put("rdd_5_0", table, StorageLevel.MEMORY_ONLY)
    assert bm.where("rdd_2_0") is None  # dropped: recomputed from lineage when needed
    assert {"executor_id": "e1", "block_id": "rdd_2_0", "stored": False} in reports
    bm.put("rdd_6_0", table, StorageLevel.MEMORY_ONLY)
    assert bm.where("rdd_3_0") is None
    assert bm.where("rdd_1_0") == "memory"
    bm.put("rdd_7_0", table, StorageLevel.MEMORY_ONLY)
    assert bm.where("rdd_1_0") == "disk"  # evicted to disk, still readable
    assert bm.get("rdd_1_0").equals(table)
    assert bm.metrics.blocks_evicted_to_disk == 1
    assert bm.metrics.blocks_dropped >= 1
    used = bm.pool.metrics().storage_used
    assert used == sum(e.nbytes for e in bm._blocks.values() if e.in_memory)


def test_execution_memory_evicts_cached_blocks(tmp_path: Path) -> None:
    table = _table(10_000)
    bm, _ = _manager(tmp_path, memory=4 * table.nbytes)
    for i in range(3):
        bm.put(f"rdd_7_{i}", table, StorageLevel.MEMORY_ONLY)
    bm.pool.task_started(1)
    # Execution takes the free quarter, and evicts the blocks above the storage region (half).
    granted = bm.pool.acquire_execution(1, 3 * table.nbytes)
    assert granted == 2 * table.nbytes
    assert [bm.where(f"rdd_7_{i}") for i in range(3)] == [None, "memory", "memory"]


def test_a_block_larger_than_memory_goes_to_disk_or_is_not_kept(tmp_path: Path) -> None:
    table = _table(100_000)
    bm, reports = _manager(tmp_path, memory=table.nbytes // 2)
    bm.put("rdd_1_0", table, StorageLevel.MEMORY_AND_DISK)
    assert bm.where("rdd_1_0") == "disk"
    bm.put("rdd_2_0", table, StorageLevel.MEMORY_ONLY)
    assert bm.where("rdd_2_0") is None
    assert [r["block_id"] for r in reports] == ["rdd_1_0"]


def test_remove_rdd_releases_memory_and_files(tmp_path: Path) -> None:
    bm, _ = _manager(tmp_path)
    bm.put("rdd_4_0", _table(100), StorageLevel.MEMORY_ONLY)
    bm.put("rdd_4_1", _table(100), StorageLevel.DISK_ONLY)
    bm.put("rdd_40_0", _table(100), StorageLevel.MEMORY_ONLY)
    assert bm.remove_rdd(4) == 2
    assert bm.block_ids() == ["rdd_40_0"]
    assert not list((tmp_path / "blocks").glob("rdd_4_*"))
    assert bm.pool.metrics().storage_used == _table(100).nbytes


@pytest.mark.parametrize(("level", "error", "words"), [
    ("MEMORY_ONLY", TypeError, "not a StorageLevel"),
    (StorageLevel(False, False, False, False), ValueError, "neither in memory nor on disk"),
    (StorageLevel(True, True, False, False, 0), ValueError, "replication"),
])
def test_invalid_storage_levels_are_refused_naming_the_setting(level: Any, error: type,
                                                               words: str) -> None:
    with pytest.raises(error, match=words) as info:
        checked(level, setting="storageLevel of DataFrame.persist")
    assert "storageLevel of DataFrame.persist" in str(info.value)


def test_master_tracks_blocks_and_forgets_a_lost_executors() -> None:
    master = BlockManagerMaster()
    master.executor_added("a", "http://a")
    master.executor_added("b", "http://b")
    master.block_stored("a", "rdd_1_0", 10, num_partitions=2)
    assert not master.snapshot(1, StorageLevel.MEMORY_ONLY).complete
    master.block_stored("b", "rdd_1_1", 10, num_partitions=2)
    snap = master.snapshot(1, StorageLevel.MEMORY_ONLY)
    assert snap.complete and snap.locations == ((("a", "http://a"),), (("b", "http://b"),))
    assert master.executor_lost("b") == ["rdd_1_1"]
    snap = master.snapshot(1, StorageLevel.MEMORY_ONLY)
    assert not snap.complete and snap.locations[1] == ()
    master.block_removed("a", "rdd_1_0")
    assert master.locations("rdd_1_0") == []
    master.block_stored("a", "rdd_2_0", 5, num_partitions=1)
    assert master.remove_rdd(2) == {"a"}
    assert master.blocks() == {}


def test_cache_manager_keeps_the_first_entry_per_plan() -> None:
    cache = CacheManager()
    first = cache.add("plan", 1, StorageLevel.MEMORY_ONLY, object())
    assert cache.add("plan", 2, StorageLevel.DISK_ONLY, object()) is first
    assert cache.lookup("plan") is first and bool(cache)
    assert cache.remove("plan") is first and not cache


def _serve_broadcasts(monkeypatch: pytest.MonkeyPatch, values: dict[int, bytes]) -> list[int]:
    """Answer the block manager's broadcast fetches from ``values``; the ids fetched."""
    import ember.executor.block_manager as module

    fetched: list[int] = []

    def request(method: str, url: str, **_: Any) -> bytes:
        broadcast_id = int(url.rsplit("/", 1)[1])
        fetched.append(broadcast_id)
        return values[broadcast_id]

    monkeypatch.setattr(module.rpc, "request", request)
    return fetched


def test_a_broadcast_value_is_storage_memory_until_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle

    data = cloudpickle.dumps(list(range(10_000)))
    fetched = _serve_broadcasts(monkeypatch, {3: data})
    bm, _ = _manager(tmp_path, memory=4 * len(data))
    bm.driver_url = "http://driver"
    assert bm.broadcast_value(3) == list(range(10_000))
    assert bm.broadcast_value(3) == list(range(10_000))
    assert fetched == [3]
    assert bm.pool.metrics().storage_used == len(data)
    assert bm.remove_broadcast(3)
    assert bm.pool.metrics().storage_used == 0


def test_a_broadcast_larger_than_storage_is_kept_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _table(100_000)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    fetched = _serve_broadcasts(monkeypatch, {5: sink.getvalue().to_pybytes()})
    bm, _ = _manager(tmp_path, memory=table.nbytes // 2)
    bm.driver_url = "http://driver"
    assert bm.broadcast_table(5).equals(table)
    assert bm.broadcast_table(5).equals(table)
    assert fetched == [5]  # the second read came from this executor's disk
    assert bm.pool.metrics().storage_used == 0
    assert (tmp_path / "blocks" / "broadcast_5.bin").exists()
    bm.remove_broadcast(5)
    assert not (tmp_path / "blocks" / "broadcast_5.bin").exists()


def test_execution_memory_evicts_a_broadcast_which_is_fetched_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle

    data = cloudpickle.dumps(b"v" * 10_000)
    fetched = _serve_broadcasts(monkeypatch, {9: data})
    memory = 4 * len(data) // 3
    bm, _ = _manager(tmp_path, memory=memory)
    bm.driver_url = "http://driver"
    assert bm.broadcast_value(9) == b"v" * 10_000
    bm.pool.task_started(1)
    # The broadcast (3/4 of memory) borrowed from execution's half; execution takes it back.
    assert bm.pool.acquire_execution(1, memory // 2) == memory // 2
    assert bm.pool.metrics().storage_used == 0
    bm.pool.release_execution(1, memory // 2)
    assert bm.broadcast_value(9) == b"v" * 10_000
    assert fetched == [9, 9]
