"""Reduce-side shuffle fetching: local blocks from disk, remote blocks over HTTP.

A reduce task knows, from the map output statuses, which executor holds each map's blocks and
how many bytes each reduce partition takes. It turns that into :class:`BlockRequest` objects
(one per map and contiguous range of reduce partitions) and iterates :func:`fetch_blocks`.

- Blocks of the reducer's own executor are read straight from the shuffle files.
- Remote blocks are fetched with ``GET {address}/shuffle/{shuffle}/{map}/{reduce}[?end=E]``
  and the application's bearer token, concurrently over one aiohttp session, in a background
  thread with its own event loop. The bytes of requests in flight *and* of responses not yet
  taken by the consumer stay under ``max_bytes_in_flight`` (Spark's
  ``spark.reducer.maxSizeInFlight``); a single request larger than that is still sent, alone.
- Every body is checked against the size the map reported and the CRC32 of each block (from the
  map's index: read locally, or sent by the serving executor in a header), then decoded into
  record batches.

Any failure to get or decode a map's blocks raises :class:`FetchFailedError` naming the map
and the executor, which the scheduler turns into a resubmission of that map.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ember.exec import shuffle_files

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "CHECKSUM_HEADER",
    "BlockRequest",
    "FetchFailedError",
    "FetchStats",
    "fetch_blocks",
]

_READ_CHUNK = 1 << 20
# Response header of a shuffle block: the CRC32 of each reduce partition, comma-separated.
CHECKSUM_HEADER = "X-Ember-Block-Checksums"


@dataclass(frozen=True)
class BlockRequest:
    """Reduce partitions ``[reduce_start, reduce_end)`` of one map's output.

    ``sizes`` holds the byte size of each of those partitions, from the map's ``MapStatus``.
    """

    shuffle_id: int
    map_id: int
    reduce_start: int
    reduce_end: int
    executor_id: str
    address: str
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if self.reduce_end <= self.reduce_start:
            msg = f"empty reduce range [{self.reduce_start}, {self.reduce_end})"
            raise ValueError(msg)
        if len(self.sizes) != self.reduce_end - self.reduce_start:
            msg = (
                f"{len(self.sizes)} sizes given for reduce partitions "
                f"[{self.reduce_start}, {self.reduce_end})"
            )
            raise ValueError(msg)
        if any(s < 0 for s in self.sizes):
            msg = f"negative block size in {self.sizes}"
            raise ValueError(msg)

    @property
    def total_size(self) -> int:
        return sum(self.sizes)

    @property
    def num_blocks(self) -> int:
        """Reduce partitions of this range that hold data."""
        return sum(1 for s in self.sizes if s)

    @property
    def url(self) -> str:
        url = (
            f"{self.address.rstrip('/')}/shuffle/{self.shuffle_id}/{self.map_id}/"
            f"{self.reduce_start}"
        )
        if self.reduce_end != self.reduce_start + 1:
            url += f"?end={self.reduce_end}"
        return url

    def describe(self) -> str:
        if self.reduce_end == self.reduce_start + 1:
            reduce = f"reduce {self.reduce_start}"
        else:
            reduce = f"reduce [{self.reduce_start}, {self.reduce_end})"
        return f"shuffle {self.shuffle_id} map {self.map_id} {reduce}"


class FetchFailedError(Exception):
    """A map's shuffle blocks could not be fetched or decoded.

    The scheduler reads ``shuffle_id``, ``map_id`` and ``executor_id`` to unregister the lost
    output and resubmit that map.
    """

    def __init__(
        self,
        reason: str,
        *,
        shuffle_id: int,
        map_id: int,
        executor_id: str,
        address: str,
        reduce_start: int | None = None,
        reduce_end: int | None = None,
    ) -> None:
        self.reason = reason
        self.shuffle_id = shuffle_id
        self.map_id = map_id
        self.executor_id = executor_id
        self.address = address
        self.reduce_start = reduce_start
        self.reduce_end = reduce_end
        where = f"shuffle {shuffle_id} map {map_id}"
        if reduce_start is not None and reduce_end is not None:
            if reduce_end == reduce_start + 1:
                where += f" reduce {reduce_start}"
            else:
                where += f" reduce [{reduce_start}, {reduce_end})"
        super().__init__(
            f"fetch failed for {where} from executor {executor_id!r} at {address}: {reason}"
        )

    @classmethod
    def for_request(cls, request: BlockRequest, reason: str) -> FetchFailedError:
        return cls(
            reason,
            shuffle_id=request.shuffle_id,
            map_id=request.map_id,
            executor_id=request.executor_id,
            address=request.address,
            reduce_start=request.reduce_start,
            reduce_end=request.reduce_end,
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields do not survive the default Exception pickling.
        return (_rebuild_fetch_failed, (self.reason, self._fields()))

    def _fields(self) -> dict[str, object]:
        return {
            "shuffle_id": self.shuffle_id,
            "map_id": self.map_id,
            "executor_id": self.executor_id,
            "address": self.address,
            "reduce_start": self.reduce_start,
            "reduce_end": self.reduce_end,
        }


def _rebuild_fetch_failed(reason: str, fields: dict[str, object]) -> FetchFailedError:
    return FetchFailedError(reason, **fields)  # type: ignore[arg-type]


@dataclass
class FetchStats:
    """What one reduce task's fetch did; reported in task metrics."""

    remote_bytes: int = 0
    remote_blocks: int = 0
    remote_requests: int = 0
    local_bytes: int = 0
    local_blocks: int = 0
    fetch_wait_s: float = 0.0


def fetch_blocks(
    requests: Sequence[BlockRequest],
    *,
    token: str,
    local_executor_id: str | None,
    local_dir: str | Path | None,
    max_bytes_in_flight: int = 48 * 1024 * 1024,
    max_requests_in_flight: int = 64,
    timeout_s: float = 120,
    stats: FetchStats | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of all requested blocks.

    Requests whose sizes are all 0 are skipped without any I/O. Blocks held by
    ``local_executor_id`` are read from ``local_dir``; the others are fetched from their
    executors. Batches come in completion order: local blocks first, then remote ones as they
    arrive. Pass ``stats`` to have it filled in.

    Raises :class:`FetchFailedError` for the first map whose blocks cannot be had. Closing
    the generator early cancels the outstanding requests.
    """
    if max_bytes_in_flight < 1 or max_requests_in_flight < 1:
        msg = "max_bytes_in_flight and max_requests_in_flight must be positive"
        raise ValueError(msg)
    stats = stats if stats is not None else FetchStats()
    wanted = [r for r in requests if r.total_size > 0]
    local = [
        r for r in wanted
        if local_dir is not None and local_executor_id is not None
        and r.executor_id == local_executor_id
    ]
    local_ids = {id(r) for r in local}
    remote = [r for r in wanted if id(r) not in local_ids]

    fetcher = None
    if remote:
        fetcher = _RemoteFetcher(
            remote,
            token=token,
            max_bytes_in_flight=max_bytes_in_flight,
            max_requests_in_flight=max_requests_in_flight,
            timeout_s=timeout_s,
        )
        fetcher.start()
    try:
        # Local reads overlap with the remote requests already under way.
        for request in local:
            assert local_dir is not None
            data = _read_local(request, Path(local_dir))
            stats.local_bytes += len(data)
            stats.local_blocks += request.num_blocks
            yield from _decode(request, data)
        if fetcher is not None:
            while True:
                started = time.perf_counter()
                item = fetcher.results.get()
                stats.fetch_wait_s += time.perf_counter() - started
                if item is _DONE:
                    break
                request, payload = item
                if isinstance(payload, BaseException):
                    raise payload
                fetcher.release(request.total_size)
                stats.remote_bytes += len(payload)
                stats.remote_blocks += request.num_blocks
                stats.remote_requests += 1
                yield from _decode(request, payload)
    finally:
        if fetcher is not None:
            fetcher.close()


def _read_local(request: BlockRequest, local_dir: Path) -> bytes:
    try:
        data = shuffle_files.read_block_bytes(
            local_dir, request.shuffle_id, request.map_id, request.reduce_start,
            request.reduce_end,
        )
    except shuffle_files.CorruptBlockError as exc:
        raise FetchFailedError.for_request(request, f"corrupt block: {exc}") from exc
    except (OSError, IndexError) as exc:
        raise FetchFailedError.for_request(request, f"local read failed: {exc}") from exc
    if len(data) != request.total_size:
        reason = (
            f"local block is {len(data)} bytes but the map output status says "
            f"{request.total_size}"
        )
        raise FetchFailedError.for_request(request, reason)
    return data


def _decode(request: BlockRequest, data: bytes | bytearray) -> Iterator[pa.RecordBatch]:
    try:
        batches = list(shuffle_files.decode_blocks(data, request.sizes))
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = f"corrupt block: {type(exc).__name__}: {exc}"
        raise FetchFailedError.for_request(request, reason) from exc
    yield from batches


def _verify(request: BlockRequest, body: bytearray, header: str | None) -> None:
    """Check a fetched range against the CRC32s the serving executor read from its index."""
    if header is None:
        return
    try:
        checksums = [int(c) for c in header.split(",")] if header else []
    except ValueError:
        raise FetchFailedError.for_request(
            request, f"unreadable {CHECKSUM_HEADER} header {header[:80]!r}") from None
    problem = shuffle_files.verify_checksums(body, request.sizes, checksums)
    if problem is not None:
        raise FetchFailedError.for_request(request, f"corrupt block: {problem}")


class _Done:
    pass


_DONE = _Done()


class _ByteBudget:
    """Bytes allowed in flight. Used only from the fetcher's event loop thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._released = asyncio.Event()

    async def acquire(self, n: int) -> None:
        # A request bigger than the whole budget may go when nothing else is in flight.
        while not (self.used == 0 or self.used + n <= self.limit):
            self._released.clear()
            await self._released.wait()
        self.used += n

    def release(self, n: int) -> None:
        self.used -= n
        self._released.set()


class _RemoteFetcher:
    """Runs the HTTP requests on an event loop in a daemon thread.

    Results (``(request, bytes)`` or ``(request, FetchFailedError)``) go to :attr:`results`,
    then ``_DONE``. The consumer calls :meth:`release` once it has taken a result, which
    returns its bytes to the budget.
    """

    def __init__(
        self,
        requests: list[BlockRequest],
        *,
        token: str,
        max_bytes_in_flight: int,
        max_requests_in_flight: int,
        timeout_s: float,
    ) -> None:
        self.requests = requests
        self.token = token
        self.max_bytes_in_flight = max_bytes_in_flight
        self.max_requests_in_flight = max_requests_in_flight
        self.timeout_s = timeout_s
        self.results: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="shuffle-fetch", daemon=True)
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._budget: _ByteBudget | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def release(self, n: int) -> None:
        loop, budget = self._loop, self._budget
        if loop is None or budget is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has already finished
            loop.call_soon_threadsafe(budget.release, n)

    def close(self) -> None:
        loop, main = self._loop, self._main
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        self._thread.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._fetch_all())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # must reach the consumer thread, whatever it is
            self.results.put((self.requests[0], exc))
        finally:
            self._started.set()
            self.results.put(_DONE)

    async def _fetch_all(self) -> None:
        import aiohttp  # imported on first use: executors start faster

        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._budget = _ByteBudget(self.max_bytes_in_flight)
        self._started.set()
        slots = asyncio.Semaphore(self.max_requests_in_flight)
        failed = asyncio.Event()
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s
        )
        connector = aiohttp.TCPConnector(limit=self.max_requests_in_flight)
        headers = {"Authorization": f"Bearer {self.token}"}
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers=headers
        ) as session:
            try:
                for request in self.requests:
                    await self._budget.acquire(request.total_size)
                    await slots.acquire()
                    if failed.is_set():
                        break
                    task = asyncio.create_task(self._fetch_one(session, request, slots, failed))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                while tasks:
                    await asyncio.wait(set(tasks))
            finally:
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch_one(
        self,
        session: aiohttp.ClientSession,
        request: BlockRequest,
        slots: asyncio.Semaphore,
        failed: asyncio.Event,
    ) -> None:
        try:
            body = await self._get(session, request)
        except FetchFailedError as exc:
            failed.set()
            self.results.put((request, exc))
        else:
            self.results.put((request, body))
        finally:
            slots.release()

    async def _get(self, session: aiohttp.ClientSession, request: BlockRequest) -> bytearray:
        import aiohttp

        expected = request.total_size
        try:
            async with session.get(request.url) as resp:
                if resp.status != 200:
                    detail = await _error_detail(resp)
                    reason = f"HTTP {resp.status} {resp.reason}{detail}"
                    raise FetchFailedError.for_request(request, reason)
                if resp.content_length is not None and resp.content_length != expected:
                    reason = (
                        f"server sent a {resp.content_length}-byte body, "
                        f"expected {expected} bytes"
                    )
                    raise FetchFailedError.for_request(request, reason)
                body = bytearray(expected)
                view = memoryview(body)
                got = 0
                async for chunk in resp.content.iter_chunked(_READ_CHUNK):
                    if got + len(chunk) > expected:
                        reason = f"body is longer than the expected {expected} bytes"
                        raise FetchFailedError.for_request(request, reason)
                    view[got : got + len(chunk)] = chunk
                    got += len(chunk)
                if got != expected:
                    reason = f"truncated body: received {got} of {expected} bytes"
                    raise FetchFailedError.for_request(request, reason)
                _verify(request, body, resp.headers.get(CHECKSUM_HEADER))
                return body
        except FetchFailedError:
            raise
        except aiohttp.ClientConnectorError as exc:
            reason = f"cannot connect: {exc}"
            raise FetchFailedError.for_request(request, reason) from exc
        except aiohttp.ClientPayloadError as exc:
            reason = f"truncated body: {exc}"
            raise FetchFailedError.for_request(request, reason) from exc
        except TimeoutError as exc:
            reason = f"no response within {self.timeout_s:g}s"
            raise FetchFailedError.for_request(request, reason) from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise FetchFailedError.for_request(request, reason) from exc


async def _error_detail(resp: aiohttp.ClientResponse) -> str:
    import aiohttp  # imported on first use: executors start faster

    try:
        text = (await resp.text(errors="replace")).strip()
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return f": {text[:200]}" if text else ""
