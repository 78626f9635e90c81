"""The executor process: a FastAPI app on uvicorn that runs tasks and serves shuffle blocks.

Started by the local backend as ``python -m ember.executor`` or by the executor pod's
entrypoint. Everything it needs comes from the environment:

- ``EMBER_DRIVER_URL``, ``EMBER_APP_ID``, ``EMBER_EXECUTOR_ID``, ``EMBER_SECRET``
- ``EMBER_EXECUTOR_CORES`` (default 1), ``EMBER_LOCAL_DIR``
- ``EMBER_BIND_HOST`` (default 127.0.0.1) and ``POD_IP`` (the address to advertise)
- ``EMBER_EXECUTOR_MEMORY``: the heap in bytes (default ``spark.executor.memory``'s, 1g), split
  by Spark's unified memory model (``EMBER_MEMORY_FRACTION`` and
  ``EMBER_MEMORY_STORAGE_FRACTION`` carry spark.memory.fraction and .storageFraction) into one
  `MemoryPool` that tasks and the block manager share; the executor warns when its cgroup
  memory limit leaves less than the 384 MiB minimum overhead on top of it.
"""

from __future__ import annotations

import ctypes
import hmac
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from ember import rpc
from ember.driver.server_socket import nodelay
from ember.errors import IllegalArgumentException
from ember.exec.shuffle_fetch import CHECKSUM_HEADER
from ember.exec.shuffle_files import block_location, read_checksums
from ember.executor import native_memory
from ember.executor.memory import (
    MIN_OVERHEAD_BYTES,
    MemoryLayout,
    UnifiedMemoryManager,
    executor_heap_bytes,
)
from ember.executor.memory_pool import MemoryPool
from ember.executor.runner import BadTaskError, Executor

log = logging.getLogger("ember.executor")


MiB = 1024 * 1024
# cgroup v1 reports "no limit" as a huge number near 2**63.
_NO_LIMIT = 1 << 60


def cgroup_memory_limit(proc_self_cgroup: str, root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit of the cgroup named in ``/proc/self/cgroup`` text; None when unlimited.

    cgroup v2 (a ``0::/path`` line) reads ``memory.max``; v1 (a line whose controllers include
    ``memory``) reads ``memory.limit_in_bytes``, under ``root/memory`` when it exists.
    """
    candidates: list[Path] = []
    for line in proc_self_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        rel = path.lstrip("/")
        if hierarchy == "0" and controllers == "":
            candidates += [root / rel / "memory.max", root / "memory.max"]
        elif "memory" in controllers.split(","):
            base = root / "memory" if (root / "memory").is_dir() else root
            candidates += [base / rel / "memory.limit_in_bytes", base / "memory.limit_in_bytes"]
    for candidate in candidates:
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return None if value >= _NO_LIMIT else value
    return None


def memory_fit_warning(heap: int, limit: int | None) -> str | None:
    """What to say when the heap plus the minimum overhead does not fit the memory limit."""
    if limit is None or heap + MIN_OVERHEAD_BYTES <= limit:
        return None
    return (f"the executor's memory limit is {limit // MiB} MiB, less than its heap of "
            f"{heap // MiB} MiB plus {MIN_OVERHEAD_BYTES // MiB} MiB of overhead: it may be "
            "OOM-killed\n\nlower spark.executor.memory or raise spark.executor.memoryOverhead "
            "(the pod's limit is their sum)")


def executor_memory() -> tuple[MemoryLayout, UnifiedMemoryManager]:
    """The heap from ``EMBER_EXECUTOR_MEMORY``, split as Spark does (``EMBER_MEMORY_FRACTION``,
    ``EMBER_MEMORY_STORAGE_FRACTION``: spark.memory.fraction and .storageFraction), checked
    against the cgroup."""
    env = os.environ
    value = env.get("EMBER_EXECUTOR_MEMORY")
    heap = int(value) if value else executor_heap_bytes({})
    layout = MemoryLayout(
        heap=heap,
        fraction=_env_fraction("EMBER_MEMORY_FRACTION", "spark.memory.fraction", 0.6),
        storage_fraction=_env_fraction("EMBER_MEMORY_STORAGE_FRACTION",
                                       "spark.memory.storageFraction", 0.5))
    try:
        limit = cgroup_memory_limit(Path("/proc/self/cgroup").read_text())
    except OSError:
        limit = None
    warning = memory_fit_warning(heap, limit)
    if warning:
        log.warning("%s", warning)
    return layout, UnifiedMemoryManager(layout.max_memory, layout.storage_region)


def _env_fraction(name: str, key: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        msg = f"{key} must be a number, got {value!r}\n\nuse e.g. {default}"
        raise IllegalArgumentException(msg) from None


def make_app(executor: Executor, layout: MemoryLayout | None = None) -> FastAPI:
    app = FastAPI(title="ember executor", docs_url=None, redoc_url=None)

    def authorized(request: Request) -> None:
        header = request.headers.get("authorization", "")
        expected = f"Bearer {executor.token}"
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    auth = [Depends(authorized)]

    @app.post("/tasks", dependencies=auth, status_code=202)
    async def launch(request: Request) -> dict:
        body = await request.body()
        try:
            task_id = executor.launch(body)
        except BadTaskError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"task_id": task_id, "accepted": True}

    @app.delete("/tasks/{task_id}", dependencies=auth)
    def kill(task_id: int) -> dict:
        return {"task_id": task_id, "found": executor.kill(task_id)}

    @app.get("/shuffle/{shuffle_id}/{map_id}/{reduce_id}", dependencies=auth)
    def shuffle_block(shuffle_id: int, map_id: int, reduce_id: int,
                      end: int | None = None) -> Response:
        try:
            path, offset, length = block_location(executor.local_dir, shuffle_id, map_id,
                                                  reduce_id, end)
        except FileNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except (IndexError, ValueError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        checksums = read_checksums(executor.local_dir, shuffle_id, map_id, reduce_id,
                                   reduce_id + 1 if end is None else end)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        # The reader checks the bytes against the index's CRC32s: a corrupt or truncated data
        # file becomes a fetch failure there, and the map is run again.
        return Response(content=data, media_type="application/vnd.apache.arrow.stream",
                        headers={CHECKSUM_HEADER: ",".join(map(str, checksums))})

    @app.get("/blocks/{block_id}", dependencies=auth)
    def block(block_id: str) -> Response:
        data = executor.pop_block(block_id)
        blocks = getattr(executor, "blocks", None)
        if data is None and blocks is not None:  # a cached partition
            data = blocks.block_bytes(block_id)
        if data is None:
            raise HTTPException(status_code=404, detail=f"no block {block_id} on this executor")
        return Response(content=data, media_type="application/vnd.apache.arrow.stream")

    @app.delete("/blocks", dependencies=auth)
    def remove_blocks(rdd: int | None = None, broadcast: int | None = None) -> dict:
        """Drop the cached blocks of one dataset (``?rdd=``) or a broadcast value."""
        blocks = getattr(executor, "blocks", None)
        if blocks is None:
            return {"removed": 0}
        removed = 0
        if rdd is not None:
            removed += blocks.remove_rdd(rdd)
        if broadcast is not None:
            removed += int(blocks.remove_broadcast(broadcast))
        return {"removed": removed}

    @app.delete("/shuffle/{shuffle_id}", dependencies=auth)
    def remove(shuffle_id: int) -> dict:
        return {"removed_files": executor.remove_shuffle(shuffle_id)}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "executor_id": executor.executor_id}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        m = executor.metrics
        lines = []
        for name, value in (("tasks_started_total", m.tasks_started),
                            ("tasks_succeeded_total", m.tasks_succeeded),
                            ("tasks_failed_total", m.tasks_failed),
                            ("active_tasks", m.active_tasks),
                            ("shuffle_write_bytes_total", m.shuffle_write_bytes),
                            ("shuffle_read_remote_bytes_total", m.shuffle_read_remote_bytes),
                            ("shuffle_read_local_bytes_total", m.shuffle_read_local_bytes),
                            ("spill_bytes_total", m.spill_bytes),
                            ("spill_files_total", m.spill_files)):
            lines.append(f'ember_executor_{name}{{executor_id="{executor.executor_id}"}} {value}')
        blocks = getattr(executor, "blocks", None)
        if blocks is not None:
            for name, value in sorted(vars(blocks.metrics).items()):
                lines.append(f'ember_executor_{name}_total{{executor_id="{executor.executor_id}"}} '
                             f'{value}')
        gauges: list[tuple[str, int]] = []
        if layout is not None:
            gauges += [("memory_heap_bytes", layout.heap),
                       ("memory_max_bytes", layout.max_memory),
                       ("memory_storage_region_bytes", layout.storage_region)]
        pool = getattr(executor, "memory_pool", None)
        if pool is not None:
            used = pool.metrics()
            gauges += [("memory_execution_used_bytes", used.execution_used),
                       ("memory_storage_used_bytes", used.storage_used)]
        # What the process really holds, next to what the memory manager accounts (Spark reports
        # the same pair as ProcessTreeRSSMemory and the peak executor metrics).
        rss, peak = process_memory()
        gauges += [("process_rss_bytes", rss), ("process_peak_rss_bytes", peak),
                   ("arrow_allocated_bytes", pa.total_allocated_bytes())]
        for name, value in gauges:
            lines.append(f'ember_executor_{name}{{executor_id="{executor.executor_id}"}} {value}')
        return "\n".join(lines) + "\n"

    return app


def process_memory() -> tuple[int, int]:
    """(resident, peak resident) bytes of this process, from /proc (zeros where there is none)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this process when its parent exits."""
    if sys.platform != "linux" or os.environ.get("EMBER_KEEP_ORPHAN"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(0)
    except OSError:
        pass


def _register_and_heartbeat(executor: Executor, server: uvicorn.Server, app_id: str,
                            interval: float, timeout: float) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.005)
    payload = {"executor_id": executor.executor_id, "address": executor.address,
               "cores": executor.cores, "pid": os.getpid(), "app_id": app_id}
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpc.post_json(f"{executor.driver_url}/executors", payload, token=executor.token)
            break
        except rpc.RpcError as exc:
            # The driver may still be starting its server; anything but a refusal is retried.
            if exc.status is not None or time.monotonic() > deadline:
                log.error("could not register with the driver at %s: %s", executor.driver_url,
                          exc)
                server.should_exit = True
                return
            time.sleep(0.02)
    last_ok = time.monotonic()
    url = f"{executor.driver_url}/executors/{executor.executor_id}/heartbeat"
    while not server.should_exit:
        time.sleep(interval)
        try:
            rpc.post_json(url, {"running_tasks": executor.running_tasks()},
                          token=executor.token, timeout=timeout)
            last_ok = time.monotonic()
        except rpc.RpcError as exc:
            if exc.status == 404 or time.monotonic() - last_ok > timeout:
                log.error("the driver no longer knows this executor (%s); exiting", exc)
                server.should_exit = True
                return


def main() -> None:
    logging.basicConfig(level=os.environ.get("EMBER_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _die_with_parent()
    env = os.environ
    missing = [k for k in ("EMBER_DRIVER_URL", "EMBER_EXECUTOR_ID", "EMBER_SECRET") if not env.get(k)]
    if missing:
        print(f"ember executor: missing environment variables {missing}\n\n"
              "executors are started by the driver, which sets them", file=sys.stderr)
        sys.exit(2)
    executor_id = env["EMBER_EXECUTOR_ID"]
    native_memory.tune_allocator()
    layout, memory_manager = executor_memory()
    local_dir = Path(env.get("EMBER_LOCAL_DIR") or tempfile.mkdtemp(prefix=f"ember-{executor_id}-"))
    executor = Executor(executor_id=executor_id, driver_url=env["EMBER_DRIVER_URL"],
                        token=env["EMBER_SECRET"], cores=int(env.get("EMBER_EXECUTOR_CORES", "1")),
                        local_dir=local_dir,
                        max_direct_result=int(env.get("EMBER_MAX_DIRECT_RESULT", str(1 << 20))),
                        memory_pool=MemoryPool(memory_manager))
    bind = env.get("EMBER_BIND_HOST", "127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    nodelay(sock)
    sock.bind((bind, int(env.get("EMBER_EXECUTOR_PORT", "0"))))
    advertise = env.get("POD_IP") or ("127.0.0.1" if bind in {"0.0.0.0", ""} else bind)
    executor.address = f"http://{advertise}:{sock.getsockname()[1]}"
    from ember.executor.block_manager import BlockManager

    executor.blocks = BlockManager(  # type: ignore[attr-defined]
        executor_id=executor_id, local_dir=local_dir, driver_url=executor.driver_url,
        token=executor.token, pool=getattr(executor, "memory_pool", None))
    config = uvicorn.Config(make_app(executor, layout), log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    interval = float(env.get("EMBER_HEARTBEAT_INTERVAL", "2"))
    timeout = float(env.get("EMBER_NETWORK_TIMEOUT", "30"))
    threading.Thread(target=_register_and_heartbeat, name="heartbeat", daemon=True,
                     args=(executor, server, env.get("EMBER_APP_ID", ""), interval,
                           timeout)).start()
    try:
        server.run(sockets=[sock])
    finally:
        executor.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
