"""Per-block CRC32s in the shuffle index: a corrupt or truncated block fails the fetch (so the
map is recomputed), read from the local file or fetched from a real executor endpoint."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import uvicorn

from ember.exec import shuffle_files
from ember.exec.shuffle_fetch import BlockRequest, FetchFailedError, fetch_blocks
from ember.executor.runner import Executor
from ember.executor.server import make_app

TOKEN = "secret"


def _write_map(directory: Path, rows: int = 20_000) -> list[int]:
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    writer = shuffle_files.ShuffleWriter(directory, 0, 0, 4, schema)
    keys = np.arange(rows)
    writer.write(pa.record_batch([pa.array(keys), pa.array([f"v{i}" for i in keys])],
                                 schema=schema), keys % 4)
    return writer.commit()


def _corrupt_one_byte(directory: Path, position: int) -> None:
    path = shuffle_files.data_path(directory, 0, 0)
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0x01
    path.write_bytes(bytes(raw))


def _request(sizes: list[int], address: str, executor_id: str) -> BlockRequest:
    return BlockRequest(0, 0, 1, 3, executor_id, address, tuple(sizes[1:3]))


@pytest.fixture
def executor_url(tmp_path: Path) -> Iterator[str]:
    """A real executor app serving ``tmp_path`` over HTTP."""
    executor = Executor(executor_id="serving", driver_url="http://unused", token=TOKEN, cores=1,
                        local_dir=tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(make_app(executor), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    executor.shutdown()


def test_local_read_of_a_flipped_byte_is_a_fetch_failure(tmp_path: Path) -> None:
    sizes = _write_map(tmp_path)
    request = _request(sizes, "http://unused", "me")
    good = list(fetch_blocks([request], token=TOKEN, local_executor_id="me", local_dir=tmp_path))
    assert sum(b.num_rows for b in good) == 10_000
    _corrupt_one_byte(tmp_path, sizes[0] + sizes[1] // 2)
    with pytest.raises(FetchFailedError, match="corrupt block.*checksum mismatch") as info:
        list(fetch_blocks([request], token=TOKEN, local_executor_id="me", local_dir=tmp_path))
    assert (info.value.shuffle_id, info.value.map_id) == (0, 0)


def test_remote_fetch_of_a_flipped_byte_is_a_fetch_failure(tmp_path: Path,
                                                           executor_url: str) -> None:
    sizes = _write_map(tmp_path)
    request = _request(sizes, executor_url, "serving")
    good = list(fetch_blocks([request], token=TOKEN, local_executor_id=None, local_dir=None))
    assert sum(b.num_rows for b in good) == 10_000
    _corrupt_one_byte(tmp_path, sizes[0] + sizes[1] + 100)
    with pytest.raises(FetchFailedError, match="corrupt block.*checksum mismatch") as info:
        list(fetch_blocks([request], token=TOKEN, local_executor_id=None, local_dir=None))
    assert info.value.executor_id == "serving"


def test_a_truncated_data_file_is_a_fetch_failure_locally_and_remotely(
        tmp_path: Path, executor_url: str) -> None:
    sizes = _write_map(tmp_path)
    path = shuffle_files.data_path(tmp_path, 0, 0)
    path.write_bytes(path.read_bytes()[: sizes[0] + sizes[1] + sizes[2] // 2])
    for request, local in ((_request(sizes, "http://unused", "me"), tmp_path),
                           (_request(sizes, executor_url, "serving"), None)):
        with pytest.raises(FetchFailedError, match="truncated|byte body"):
            list(fetch_blocks([request], token=TOKEN, local_executor_id="me",
                              local_dir=local))
