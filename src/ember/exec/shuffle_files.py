"""Map output files in Spark's sort-shuffle layout.

A map task writes two files per shuffle into its executor's shuffle directory:

- ``shuffle_{shuffle}_{map}_0.data``: for each reduce partition in order, one Arrow IPC
  *stream* (schema, record batches, end-of-stream marker), LZ4-compressed by default, back to
  back. A reduce partition with no rows takes 0 bytes.
- ``shuffle_{shuffle}_{map}_0.index``: ``num_partitions + 1`` little-endian int64 offsets
  into the data file; partition ``r`` is the byte range ``[offset[r], offset[r + 1])``. Then
  ``num_partitions`` more int64: the CRC32 of each partition's bytes, which every reader checks
  (a corrupt or truncated block must fail the fetch, never be decoded as data).

Because the streams are contiguous, partitions ``[start, end)`` are one byte range, which a
reducer can fetch in one request (Spark's batched fetch). Each stream is self-contained, so
a reducer decodes a range by splitting it with the per-partition sizes of the ``MapStatus``.

Both files are written under temporary names and renamed, the index last: the index is the
commit marker, so a reader never sees a half-written output. As in Spark, if a valid output
of the same map already exists (an earlier attempt of the task committed first), it is kept
and the new attempt's files are discarded, so readers never see the bytes change.

When the task's execution memory runs out, the writer spills its buffers (one IPC stream per
partition, as in the data file) and merges the spills into the data file at commit.
"""

from __future__ import annotations

import errno
import os
import re
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ember.exec import hashing

if TYPE_CHECKING:
    from ember.exec.spill import SpillFile, SpillFiles, TaskMemoryLike

__all__ = [
    "CorruptBlockError",
    "ShuffleWriter",
    "block_location",
    "data_path",
    "decode_block",
    "decode_blocks",
    "index_path",
    "read_block_bytes",
    "read_checksums",
    "read_index",
    "verify_checksums",
    "remove_shuffle",
]

_INDEX_DTYPE = np.dtype("<i8")


class CorruptBlockError(OSError):
    """Bytes of a map output that do not match the checksums its index recorded."""

_CRC_CHUNK = 4 << 20


def data_path(directory: str | Path, shuffle_id: int, map_id: int) -> Path:
    """Path of a map task's data file."""
    return Path(directory) / f"shuffle_{shuffle_id}_{map_id}_0.data"


def index_path(directory: str | Path, shuffle_id: int, map_id: int) -> Path:
    """Path of a map task's index file."""
    return Path(directory) / f"shuffle_{shuffle_id}_{map_id}_0.index"


class ShuffleWriter:
    """Buffers one map task's output per reduce partition, then writes the data and index files.

    Rows are kept in memory as slices of the input batches until :meth:`commit`;
    :attr:`buffered_bytes` tells the memory manager how much that is. Small slices of one
    partition are concatenated into batches of up to ``target_batch_rows`` rows (or
    ``target_batch_bytes``) before they are written, so the files hold few, large batches.

    >>> import tempfile, numpy as np, pyarrow as pa
    >>> d = tempfile.mkdtemp()
    >>> w = ShuffleWriter(d, 0, 3, 2, pa.schema([("k", pa.int64())]))
    >>> w.write(pa.record_batch({"k": [1, 2, 3]}), np.array([1, 1, 1]))
    >>> sizes = w.commit()
    >>> sizes[0], sizes[1] > 0
    (0, True)
    >>> [b.num_rows for b in decode_block(read_block_bytes(d, 0, 3, 1))]
    [3]
    """

    def __init__(
        self,
        directory: str | Path,
        shuffle_id: int,
        map_id: int,
        num_partitions: int,
        schema: pa.Schema,
        *,
        compression: str | None = "lz4",
        target_batch_rows: int = 256 * 1024,
        target_batch_bytes: int = 32 * 1024 * 1024,
        memory: TaskMemoryLike | None = None,
        spills: SpillFiles | None = None,
    ) -> None:
        if num_partitions < 1:
            msg = f"num_partitions must be at least 1, got {num_partitions}"
            raise ValueError(msg)
        self.directory = Path(directory)
        self.shuffle_id = shuffle_id
        self.map_id = map_id
        self.num_partitions = num_partitions
        self.schema = schema
        self.compression = compression
        self.target_batch_rows = target_batch_rows
        self.target_batch_bytes = target_batch_bytes
        self._buffers: list[list[pa.RecordBatch]] = [[] for _ in range(num_partitions)]
        self._buffered_bytes = 0
        self._buffered_rows = 0
        self._committed: list[int] | None = None
        # Buffered bytes are reserved on ``memory``; when it says no they go to ``spills``.
        self.memory = memory
        self.spills = spills
        self._reserved = 0
        self._spilled: list[SpillFile] = []

    @property
    def buffered_bytes(self) -> int:
        """Bytes of row data held in memory, waiting for :meth:`commit`."""
        return self._buffered_bytes

    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    @property
    def data_path(self) -> Path:
        return data_path(self.directory, self.shuffle_id, self.map_id)

    @property
    def index_path(self) -> Path:
        return index_path(self.directory, self.shuffle_id, self.map_id)

    def write(self, data: pa.RecordBatch | pa.Table, pids: np.ndarray) -> None:
        """Buffer the rows of ``data``; row ``i`` goes to reduce partition ``pids[i]``."""
        if self._committed is not None:
            msg = f"shuffle {self.shuffle_id} map {self.map_id} was already committed"
            raise RuntimeError(msg)
        if not data.schema.equals(self.schema, check_metadata=False):
            msg = (
                f"batch schema does not match the shuffle's schema\n"
                f"  shuffle: {self.schema.to_string(show_schema_metadata=False)}\n"
                f"  batch:   {data.schema.to_string(show_schema_metadata=False)}"
            )
            raise ValueError(msg)
        if data.num_rows == 0:
            return
        parts = hashing.split_by_partition(data, pids, self.num_partitions)
        added = 0
        for p, part in enumerate(parts):
            if part is None:
                continue
            batches = part.to_batches() if isinstance(part, pa.Table) else [part]
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                self._buffers[p].append(batch)
                self._buffered_bytes += batch.nbytes
                self._buffered_rows += batch.num_rows
                added += batch.nbytes
        if self.memory is None or self.spills is None:
            return
        if self.memory.reserve(added):
            self._reserved += added
        else:
            self.spill()

    def spill(self) -> None:
        """Write the buffered rows to a spill file and give their memory back."""
        if self.spills is None or not self._buffered_rows:
            return
        parts = [list(self._coalesce(b)) for b in self._buffers]
        self._spilled.append(self.spills.write_partitioned(self.schema, parts))
        self._release_buffers()

    def commit(self) -> list[int]:
        """Write the data and index files; return the byte size of each reduce partition."""
        if self._committed is not None:
            return list(self._committed)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = _existing_sizes(self.directory, self.shuffle_id, self.map_id,
                                   self.num_partitions)
        if existing is not None:
            # An earlier attempt of this map task already committed; its output stands.
            self._release_buffers()
            self._committed = existing
            return list(existing)
        final_data, final_index = self.data_path, self.index_path
        token = uuid.uuid4().hex
        tmp_data = final_data.with_name(f"{final_data.name}.{token}.tmp")
        tmp_index = final_index.with_name(f"{final_index.name}.{token}.tmp")
        try:
            offsets, checksums = self._write_data(tmp_data)
            with open(tmp_index, "wb") as f:
                f.write(np.asarray(offsets + checksums, dtype=_INDEX_DTYPE).tobytes())
            existing = _existing_sizes(self.directory, self.shuffle_id, self.map_id,
                                       self.num_partitions)
            if existing is not None:
                # An attempt running alongside committed first: keep its files, drop ours.
                sizes = existing
                tmp_data.unlink()
                tmp_index.unlink()
            else:
                # The index is the commit marker: remove any stale one, then publish the data,
                # then the index, so no reader pairs an index with the wrong data.
                final_index.unlink(missing_ok=True)
                os.replace(tmp_data, final_data)
                os.replace(tmp_index, final_index)
                sizes = np.diff(offsets).tolist()
        except BaseException as exc:
            tmp_data.unlink(missing_ok=True)
            tmp_index.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                from ember.exec.spill import spill_error

                raise spill_error(self.directory, exc) from exc
            raise
        self._release_buffers()
        self._committed = sizes
        return list(sizes)

    def abort(self) -> None:
        """Drop the buffered rows without writing anything."""
        self._release_buffers()

    def _release_buffers(self) -> None:
        self._buffers = [[] for _ in range(self.num_partitions)]
        self._buffered_bytes = 0
        self._buffered_rows = 0
        if self.memory is not None and self._reserved:
            self.memory.release(self._reserved)
        self._reserved = 0

    def _write_data(self, path: Path) -> tuple[list[int], list[int]]:
        """Write the data file; return its offsets and each partition's CRC32."""
        options = pa.ipc.IpcWriteOptions(compression=self.compression)
        offsets = [0]
        with pa.OSFile(str(path), "wb") as sink:
            for p in range(self.num_partitions):
                batches = self._buffers[p]
                spilled = [s for s in self._spilled if s.offsets[p + 1] > s.offsets[p]]
                if batches or spilled:
                    with pa.ipc.new_stream(sink, self.schema, options=options) as writer:
                        for spill in spilled:
                            for batch in spill.read_partition(p):
                                writer.write_batch(batch)
                        for batch in self._coalesce(batches):
                            writer.write_batch(batch)
                    # Free this partition's slices as soon as they are on disk.
                    self._buffers[p] = []
                offsets.append(sink.tell())
        if self.spills is not None:
            for spill in self._spilled:
                self.spills.delete(spill)
        self._spilled = []
        return offsets, _file_checksums(path, offsets)

    def _coalesce(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Concatenate runs of small batches into batches of about the target size."""
        run: list[pa.RecordBatch] = []
        rows = nbytes = 0
        for batch in batches:
            if run and (rows + batch.num_rows > self.target_batch_rows
                        or nbytes + batch.nbytes > self.target_batch_bytes):
                yield _concat(run)
                run, rows, nbytes = [], 0, 0
            run.append(batch)
            rows += batch.num_rows
            nbytes += batch.nbytes
        if run:
            yield _concat(run)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.concat_batches(batches)


def _file_checksums(path: Path, offsets: list[int]) -> list[int]:
    """The CRC32 of each byte range ``[offsets[i], offsets[i + 1])`` of ``path``."""
    out = []
    with open(path, "rb") as f:
        for start, end in zip(offsets, offsets[1:], strict=False):
            crc = 0
            pos = start
            while pos < end:
                chunk = os.pread(f.fileno(), min(_CRC_CHUNK, end - pos), pos)
                if not chunk:
                    break
                crc = zlib.crc32(chunk, crc)
                pos += len(chunk)
            out.append(crc)
    return out


def _read_index_entries(directory: str | Path, shuffle_id: int, map_id: int) -> np.ndarray:
    """The offsets then the checksums of an index: ``2 * num_partitions + 1`` entries."""
    path = index_path(directory, shuffle_id, map_id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"no shuffle output for shuffle {shuffle_id} map {map_id}: {path} does not exist"
        raise FileNotFoundError(msg) from None
    entries = len(raw) // _INDEX_DTYPE.itemsize
    if entries < 3 or len(raw) % _INDEX_DTYPE.itemsize or entries % 2 == 0:
        msg = f"corrupt shuffle index {path}: {len(raw)} bytes"
        raise OSError(msg)
    return np.frombuffer(raw, dtype=_INDEX_DTYPE).astype(np.int64)


def read_index(directory: str | Path, shuffle_id: int, map_id: int) -> np.ndarray:
    """The ``num_partitions + 1`` offsets of a committed map output."""
    entries = _read_index_entries(directory, shuffle_id, map_id)
    return entries[: (len(entries) + 1) // 2]


def read_checksums(directory: str | Path, shuffle_id: int, map_id: int, reduce_start: int = 0,
                   reduce_end: int | None = None) -> list[int]:
    """The CRC32 of each reduce partition in ``[reduce_start, reduce_end)`` of a map output."""
    entries = _read_index_entries(directory, shuffle_id, map_id)
    checksums = entries[(len(entries) + 1) // 2:]
    end = len(checksums) if reduce_end is None else reduce_end
    return [int(c) for c in checksums[reduce_start:end]]


def verify_checksums(data: bytes | bytearray | memoryview, sizes: Sequence[int],
                     checksums: Sequence[int]) -> str | None:
    """Why ``data`` (blocks of ``sizes`` bytes) does not match ``checksums``; None if it does."""
    if len(sizes) != len(checksums):
        return f"{len(checksums)} checksums for {len(sizes)} blocks"
    if sum(sizes) != len(data):
        return f"{len(data)} bytes where the blocks add up to {sum(sizes)}"
    view = memoryview(data)
    offset = 0
    for i, (size, expected) in enumerate(zip(sizes, checksums, strict=True)):
        actual = zlib.crc32(view[offset:offset + size])
        if actual != expected:
            return (f"checksum mismatch in block {i} of the range: CRC32 {actual:#010x}, "
                    f"the index says {expected:#010x}")
        offset += size
    return None


def _existing_sizes(
    directory: Path, shuffle_id: int, map_id: int, num_partitions: int
) -> list[int] | None:
    """Sizes of an already committed, consistent output of this map, if there is one."""
    try:
        offsets = read_index(directory, shuffle_id, map_id)
        data_size = data_path(directory, shuffle_id, map_id).stat().st_size
    except OSError:
        return None
    if len(offsets) != num_partitions + 1 or offsets[0] != 0 or offsets[-1] != data_size \
            or np.any(np.diff(offsets) < 0):
        return None
    return np.diff(offsets).tolist()


def block_location(
    directory: str | Path,
    shuffle_id: int,
    map_id: int,
    reduce_start: int,
    reduce_end: int | None = None,
) -> tuple[Path, int, int]:
    """``(data file, offset, length)`` of reduce partitions ``[reduce_start, reduce_end)``.

    ``reduce_end`` defaults to ``reduce_start + 1``. Raises ``FileNotFoundError`` if the map
    output is not there and ``IndexError`` if the range is outside the map's partitions.
    """
    end = reduce_start + 1 if reduce_end is None else reduce_end
    offsets = read_index(directory, shuffle_id, map_id)
    num_partitions = len(offsets) - 1
    if not 0 <= reduce_start < end <= num_partitions:
        msg = (
            f"reduce partitions [{reduce_start}, {end}) are outside shuffle {shuffle_id} "
            f"map {map_id}, which has {num_partitions} partitions"
        )
        raise IndexError(msg)
    start_offset = int(offsets[reduce_start])
    return data_path(directory, shuffle_id, map_id), start_offset, int(offsets[end]) - start_offset


def read_block_bytes(
    directory: str | Path,
    shuffle_id: int,
    map_id: int,
    reduce_start: int,
    reduce_end: int | None = None,
) -> bytes:
    """The bytes of reduce partitions ``[reduce_start, reduce_end)``, read from the local file
    and checked against the index's checksums (``OSError`` if they do not match)."""
    path, offset, length = block_location(directory, shuffle_id, map_id, reduce_start, reduce_end)
    if length == 0:
        return b""
    try:
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), length, offset)
    except FileNotFoundError:
        msg = f"no shuffle output for shuffle {shuffle_id} map {map_id}: {path} does not exist"
        raise FileNotFoundError(msg) from None
    if len(data) != length:
        msg = f"shuffle data file {path} is truncated: read {len(data)} of {length} bytes " \
              f"at offset {offset}"
        raise OSError(msg)
    end = reduce_start + 1 if reduce_end is None else reduce_end
    offsets = read_index(directory, shuffle_id, map_id)[reduce_start:end + 1]
    problem = verify_checksums(data, np.diff(offsets).tolist(),
                               read_checksums(directory, shuffle_id, map_id, reduce_start, end))
    if problem is not None:
        msg = f"shuffle data file {path} is corrupt: {problem}"
        raise CorruptBlockError(msg)
    return data


def decode_block(data: bytes | bytearray | memoryview | pa.Buffer) -> Iterator[pa.RecordBatch]:
    """The record batches of one IPC stream (one reduce partition of one map)."""
    if len(data) == 0:
        return
    reader = pa.ipc.open_stream(pa.BufferReader(pa.py_buffer(data)))
    yield from reader


def decode_blocks(
    data: bytes | bytearray | memoryview | pa.Buffer, sizes: Sequence[int]
) -> Iterator[pa.RecordBatch]:
    """The record batches of consecutive IPC streams whose byte lengths are ``sizes``.

    Zero-length entries (empty partitions) are skipped.
    """
    buf = pa.py_buffer(data)
    total = int(sum(sizes))
    if total != buf.size:
        msg = f"block sizes add up to {total} bytes but {buf.size} bytes were given"
        raise ValueError(msg)
    offset = 0
    for size in sizes:
        if size:
            yield from decode_block(buf.slice(offset, size))
        offset += size


def remove_shuffle(directory: str | Path, shuffle_id: int) -> int:
    """Delete every file of one shuffle (committed or temporary); return how many went."""
    removed = 0
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    pattern = re.compile(rf"shuffle_{int(shuffle_id)}_\d+_0\.(data|index)(\.[0-9a-f]+\.tmp)?")
    for path in directory.glob(f"shuffle_{shuffle_id}_*"):
        if not pattern.fullmatch(path.name):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
