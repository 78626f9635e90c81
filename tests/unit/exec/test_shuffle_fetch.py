from __future__ import annotations

import asyncio
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from aiohttp import web

from ember.exec import hashing, shuffle_fetch, shuffle_files
from ember.exec.shuffle_fetch import BlockRequest, FetchFailedError, FetchStats

TOKEN = "s3cret"
SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string())])
NUM_REDUCERS = 4


@dataclass
class ServerState:
    """What the test server saw, to check the client's behaviour from the outside."""

    requests: list[str] = field(default_factory=list)
    active_bytes: int = 0
    peak_active_bytes: int = 0
    peak_active_requests: int = 0
    active_requests: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ShuffleServer:
    """A stand-in for an executor's shuffle endpoint, serving one directory over HTTP."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state = ServerState()
        self.address = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/shuffle/{shuffle}/{map}/{reduce}", self._serve_block)
        app.router.add_get("/chunked/{mode}/shuffle/{shuffle}/{map}/{reduce}", self._chunked)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.address = f"http://127.0.0.1:{port}"

    def _locate(self, request: web.Request) -> tuple[Path, int, int]:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized(text="bad or missing bearer token")
        shuffle_id = int(request.match_info["shuffle"])
        map_id = int(request.match_info["map"])
        reduce = int(request.match_info["reduce"])
        end = int(request.query.get("end", reduce + 1))
        try:
            return shuffle_files.block_location(self.directory, shuffle_id, map_id, reduce, end)
        except FileNotFoundError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc

    async def _serve_block(self, request: web.Request) -> web.StreamResponse:
        path, offset, length = self._locate(request)
        state = self.state
        with state.lock:
            state.requests.append(request.path_qs)
            state.active_bytes += length
            state.active_requests += 1
            state.peak_active_bytes = max(state.peak_active_bytes, state.active_bytes)
            state.peak_active_requests = max(state.peak_active_requests, state.active_requests)
        try:
            await asyncio.sleep(state.delay_s)
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(length)
            resp = web.StreamResponse()
            resp.content_length = length
            await resp.prepare(request)
            # Several writes, so the client really streams.
            for i in range(0, length, 4096):
                await resp.write(data[i : i + 4096])
            await resp.write_eof()
            return resp
        finally:
            with state.lock:
                state.active_bytes -= length
                state.active_requests -= 1

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        """Chunked body (no Content-Length) that is too short or too long."""
        path, offset, length = self._locate(request)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if request.match_info["mode"] == "short":
            data = data[: length // 2]
        else:
            data = data + b"extra"
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(data)
        await resp.write_eof()
        return resp


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    d = tmp_path / "remote"
    d.mkdir()
    return d


@pytest.fixture
def server(remote_dir: Path) -> Iterator[ShuffleServer]:
    srv = ShuffleServer(remote_dir)
    srv.start()
    yield srv
    srv.stop()


def _write_map(directory: Path, map_id: int, rows: int, *, shuffle_id: int = 0) -> tuple[
    list[int], pa.Table
]:
    rng = np.random.default_rng(map_id)
    keys = rng.integers(0, 10_000, rows)
    table = pa.table(
        {"k": pa.array(keys), "v": pa.array([None if k % 9 == 0 else f"v{k}" for k in keys])},
        schema=SCHEMA,
    )
    writer = shuffle_files.ShuffleWriter(directory, shuffle_id, map_id, NUM_REDUCERS, SCHEMA)
    writer.write(table, hashing.partition_ids([table["k"]], NUM_REDUCERS))
    return writer.commit(), table


def _rows_of_partitions(table: pa.Table, start: int, end: int) -> list[tuple]:
    pids = hashing.partition_ids([table["k"]], NUM_REDUCERS)
    part = table.filter(pa.array((pids >= start) & (pids < end)))
    return sorted(zip(part["k"].to_pylist(), part["v"].to_pylist(), strict=True),
                  key=lambda r: (r[0], r[1] or ""))


def _rows(batches: list[pa.RecordBatch]) -> list[tuple]:
    table = pa.Table.from_batches(batches, schema=SCHEMA)
    return sorted(zip(table["k"].to_pylist(), table["v"].to_pylist(), strict=True),
                  key=lambda r: (r[0], r[1] or ""))


def _request(map_id: int, sizes: list[int], address: str, *, start: int = 0, end: int | None = None,
             executor_id: str = "exec-remote", shuffle_id: int = 0) -> BlockRequest:
    end = NUM_REDUCERS if end is None else end
    return BlockRequest(shuffle_id, map_id, start, end, executor_id, address,
                        tuple(sizes[start:end]))


def _fetch(requests: list[BlockRequest], stats: FetchStats | None = None, **kwargs: object
           ) -> list[pa.RecordBatch]:
    options: dict[str, object] = {"token": TOKEN, "local_executor_id": "exec-local",
                                  "local_dir": None}
    options.update(kwargs)
    return list(shuffle_fetch.fetch_blocks(requests, stats=stats, **options))


def _closed_port_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_remote_blocks_cross_http_and_decode_to_the_map_rows(
    server: ShuffleServer, remote_dir: Path
) -> None:
    maps = {m: _write_map(remote_dir, m, 3000) for m in range(3)}
    requests = [_request(m, sizes, server.address, start=1, end=3)
                for m, (sizes, _) in maps.items()]
    requests.append(_request(0, maps[0][0], server.address, start=3, end=4))
    stats = FetchStats()
    batches = _fetch(requests, stats)

    expected = sorted(
        [r for _, table in maps.values() for r in _rows_of_partitions(table, 1, 3)]
        + _rows_of_partitions(maps[0][1], 3, 4),
        key=lambda r: (r[0], r[1] or ""),
    )
    assert _rows(batches) == expected
    assert stats.remote_bytes == sum(r.total_size for r in requests) > 0
    assert stats.remote_requests == 4 and stats.remote_blocks == 7
    assert stats.local_bytes == 0 and stats.local_blocks == 0
    assert sorted(server.state.requests) == [
        "/shuffle/0/0/1?end=3", "/shuffle/0/0/3", "/shuffle/0/1/1?end=3", "/shuffle/0/2/1?end=3",
    ]


def test_local_blocks_are_read_from_disk_without_http(tmp_path: Path) -> None:
    local_dir = tmp_path / "local"
    sizes, table = _write_map(local_dir, 5, 2000)
    # The address refuses connections: any HTTP attempt would fail the fetch.
    request = _request(5, sizes, _closed_port_address(), executor_id="exec-local")
    stats = FetchStats()
    batches = _fetch([request], stats, local_dir=local_dir)
    assert _rows(batches) == _rows_of_partitions(table, 0, NUM_REDUCERS)
    assert stats.local_bytes == sum(sizes) and stats.local_blocks == NUM_REDUCERS
    assert stats.remote_bytes == 0 and stats.remote_requests == 0


def test_local_and_remote_blocks_together(
    server: ShuffleServer, remote_dir: Path, tmp_path: Path
) -> None:
    local_dir = tmp_path / "local"
    local_sizes, local_table = _write_map(local_dir, 0, 1000)
    remote_sizes, remote_table = _write_map(remote_dir, 1, 1000)
    requests = [
        _request(0, local_sizes, "http://unused", executor_id="exec-local", start=2, end=3),
        _request(1, remote_sizes, server.address, start=2, end=3),
    ]
    stats = FetchStats()
    batches = _fetch(requests, stats, local_dir=local_dir)
    expected = sorted(_rows_of_partitions(local_table, 2, 3) + _rows_of_partitions(
        remote_table, 2, 3), key=lambda r: (r[0], r[1] or ""))
    assert _rows(batches) == expected
    assert stats.local_bytes == local_sizes[2] and stats.remote_bytes == remote_sizes[2]
    assert server.state.requests == ["/shuffle/0/1/2"]


def test_requests_with_only_empty_blocks_make_no_network_call() -> None:
    request = BlockRequest(0, 0, 0, 3, "exec-gone", _closed_port_address(), (0, 0, 0))
    stats = FetchStats()
    assert _fetch([request], stats) == []
    assert stats == FetchStats()


def test_wrong_token_fails_the_fetch_naming_the_map(
    server: ShuffleServer, remote_dir: Path
) -> None:
    sizes, _ = _write_map(remote_dir, 2, 100)
    with pytest.raises(FetchFailedError, match="HTTP 401") as info:
        _fetch([_request(2, sizes, server.address)], token="wrong")
    err = info.value
    assert (err.shuffle_id, err.map_id, err.executor_id, err.address) == (
        0, 2, "exec-remote", server.address,
    )
    assert "shuffle 0 map 2" in str(err) and "bad or missing bearer token" in str(err)


def test_missing_map_output_fails_with_404(server: ShuffleServer, remote_dir: Path) -> None:
    sizes, _ = _write_map(remote_dir, 0, 100)
    with pytest.raises(FetchFailedError, match="map 7 .*HTTP 404") as info:
        _fetch([_request(0, sizes, server.address), _request(7, sizes, server.address)])
    assert info.value.map_id == 7


def test_connection_refused_fails_the_fetch() -> None:
    address = _closed_port_address()
    request = BlockRequest(3, 4, 0, 1, "exec-dead", address, (100,))
    with pytest.raises(FetchFailedError, match="cannot connect") as info:
        _fetch([request])
    assert (info.value.shuffle_id, info.value.map_id, info.value.executor_id) == (
        3, 4, "exec-dead",
    )
    assert address in str(info.value)


def test_body_shorter_than_the_map_status_says_is_detected(
    server: ShuffleServer, remote_dir: Path
) -> None:
    sizes, _ = _write_map(remote_dir, 0, 500)
    inflated = [s + 10 for s in sizes]
    with pytest.raises(FetchFailedError, match="expected"):
        _fetch([_request(0, inflated, server.address)])


@pytest.mark.parametrize(("mode", "message"), [("short", "truncated body: received"),
                                               ("long", "longer than the expected")])
def test_streamed_body_of_the_wrong_length_is_detected(
    server: ShuffleServer, remote_dir: Path, mode: str, message: str
) -> None:
    sizes, _ = _write_map(remote_dir, 0, 500)
    request = _request(0, sizes, f"{server.address}/chunked/{mode}")
    with pytest.raises(FetchFailedError, match=message):
        _fetch([request])


def test_connection_closed_mid_body_is_a_truncated_fetch() -> None:
    """A server that promises 1000 bytes, sends 10 and hangs up."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        writer.close()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    srv = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(respond, "127.0.0.1", 0), loop
    ).result(10)
    try:
        port = srv.sockets[0].getsockname()[1]
        request = BlockRequest(0, 1, 0, 1, "exec-flaky", f"http://127.0.0.1:{port}", (1000,))
        with pytest.raises(FetchFailedError, match="truncated") as info:
            _fetch([request])
        assert info.value.map_id == 1
    finally:
        srv.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_corrupt_block_is_a_fetch_failure(tmp_path: Path) -> None:
    local_dir = tmp_path / "local"
    sizes, _ = _write_map(local_dir, 0, 500)
    data_file = shuffle_files.data_path(local_dir, 0, 0)
    raw = bytearray(data_file.read_bytes())
    raw[sizes[0] + 8 : sizes[0] + 40] = b"\xff" * 32  # inside partition 1's stream
    data_file.write_bytes(bytes(raw))
    request = _request(0, sizes, "http://unused", executor_id="exec-local", start=1, end=2)
    with pytest.raises(FetchFailedError, match="corrupt block"):
        _fetch([request], local_dir=local_dir)


def test_missing_local_file_is_a_fetch_failure(tmp_path: Path) -> None:
    request = BlockRequest(0, 9, 0, 1, "exec-local", "http://unused", (10,))
    with pytest.raises(FetchFailedError, match="map 9 .*local read failed"):
        _fetch([request], local_dir=tmp_path)


def test_slow_server_times_out(server: ShuffleServer, remote_dir: Path) -> None:
    sizes, _ = _write_map(remote_dir, 0, 100)
    server.state.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(FetchFailedError, match="no response within 0.3s"):
        _fetch([_request(0, sizes, server.address)], timeout_s=0.3)
    assert time.monotonic() - started < 1.5


def _write_equal_maps(directory: Path, count: int) -> list[list[int]]:
    """Maps whose single non-empty partition has random (incompressible) data."""
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    rng = np.random.default_rng(0)
    out = []
    for m in range(count):
        table = pa.table({"k": rng.integers(0, 2**62, 4000),
                          "v": pa.array([f"{x:x}" for x in rng.integers(0, 2**62, 4000)])},
                         schema=schema)
        writer = shuffle_files.ShuffleWriter(directory, 0, m, 1, schema)
        writer.write(table, np.zeros(table.num_rows, dtype=np.int64))
        out.append(writer.commit())
    return out


def test_bytes_in_flight_stay_under_the_limit(server: ShuffleServer, remote_dir: Path) -> None:
    sizes = _write_equal_maps(remote_dir, 12)
    block = max(s[0] for s in sizes)
    smallest = min(s[0] for s in sizes)
    limit = int(block * 2.5)
    server.state.delay_s = 0.05
    requests = [BlockRequest(0, m, 0, 1, "exec-remote", server.address, tuple(s))
                for m, s in enumerate(sizes)]

    stats = FetchStats()
    batches = _fetch(requests, stats, max_bytes_in_flight=limit)
    assert sum(b.num_rows for b in batches) == 12 * 4000
    assert server.state.peak_active_bytes <= limit
    assert server.state.peak_active_requests >= 2  # the budget does allow concurrency
    assert stats.remote_bytes == sum(s[0] for s in sizes)

    # Responses the consumer has not taken yet count too: with a stalled consumer, no more
    # than the budget's worth of requests is ever sent.
    server.state.requests.clear()
    server.state.delay_s = 0.0
    gen = shuffle_fetch.fetch_blocks(requests, token=TOKEN, local_executor_id=None,
                                     local_dir=None, max_bytes_in_flight=limit)
    next(gen)
    time.sleep(0.3)
    assert len(server.state.requests) <= 1 + limit // smallest
    gen.close()


def test_without_a_tight_budget_requests_run_concurrently(
    server: ShuffleServer, remote_dir: Path
) -> None:
    sizes = _write_equal_maps(remote_dir, 8)
    server.state.delay_s = 0.1
    requests = [BlockRequest(0, m, 0, 1, "exec-remote", server.address, tuple(s))
                for m, s in enumerate(sizes)]
    started = time.monotonic()
    _fetch(requests, max_requests_in_flight=8)
    assert server.state.peak_active_requests == 8
    assert time.monotonic() - started < 0.7  # not 8 x 0.1 s one after the other
    server.state.peak_active_requests = 0
    _fetch(requests, max_requests_in_flight=2)
    assert server.state.peak_active_requests == 2


def test_a_block_larger_than_the_budget_is_still_fetched(
    server: ShuffleServer, remote_dir: Path
) -> None:
    sizes, table = _write_map(remote_dir, 0, 2000)
    batches = _fetch([_request(0, sizes, server.address)], max_bytes_in_flight=10)
    assert _rows(batches) == _rows_of_partitions(table, 0, NUM_REDUCERS)


def test_closing_the_generator_early_stops_the_fetcher(
    server: ShuffleServer, remote_dir: Path
) -> None:
    sizes = _write_equal_maps(remote_dir, 6)
    requests = [BlockRequest(0, m, 0, 1, "exec-remote", server.address, tuple(s))
                for m, s in enumerate(sizes)]
    before = {t.name for t in threading.enumerate()}
    gen = shuffle_fetch.fetch_blocks(requests, token=TOKEN, local_executor_id=None,
                                     local_dir=None)
    next(gen)
    gen.close()
    leftover = [t for t in threading.enumerate()
                if t.name == "shuffle-fetch" and t.name not in before]
    assert leftover == []


def test_fetch_failed_error_survives_pickling() -> None:
    err = FetchFailedError("HTTP 404 Not Found", shuffle_id=1, map_id=2, executor_id="e",
                           address="http://x", reduce_start=0, reduce_end=3)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err)
    assert (back.shuffle_id, back.map_id, back.executor_id, back.reduce_end) == (1, 2, "e", 3)


def test_block_request_validates_its_sizes() -> None:
    with pytest.raises(ValueError, match="2 sizes given for reduce partitions \\[0, 3\\)"):
        BlockRequest(0, 0, 0, 3, "e", "http://x", (1, 2))
    request = BlockRequest(0, 0, 2, 3, "e", "http://x/", [5])  # type: ignore[arg-type]
    assert request.sizes == (5,) and request.url == "http://x/shuffle/0/0/2"
