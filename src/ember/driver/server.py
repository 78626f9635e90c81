"""The driver's RPC server: executors register, heartbeat, report task status and the blocks
they cache here, and fetch broadcasts."""

from __future__ import annotations

import hmac
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ember.driver.runtime import DriverRuntime


class Registration(BaseModel):
    executor_id: str = Field(min_length=1, max_length=200)
    address: str = Field(pattern=r"^https?://[^/\s]+$")
    cores: int = Field(ge=1, le=4096)
    pid: int | None = None
    app_id: str = ""


class Heartbeat(BaseModel):
    running_tasks: list[int] = []


class FetchFailedInfo(BaseModel):
    shuffle_id: int
    map_id: int
    executor_id: str


class ErrorInfo(BaseModel):
    type: str = "Exception"
    message: str = ""
    traceback: str = ""


class TaskStatus(BaseModel):
    executor_id: str
    state: str = Field(pattern="^(FINISHED|FAILED|KILLED)$")
    sizes: list[int] | None = None
    result: str | None = None
    result_block: str | None = None
    result_size: int | None = None
    files: list[str] | None = None
    metrics: dict[str, float] = {}
    error: ErrorInfo | None = None
    fetch_failed: FetchFailedInfo | None = None
    duration_s: float | None = None


class BlockReport(BaseModel):
    executor_id: str
    block_id: str = Field(pattern=r"^[A-Za-z0-9_]+$", max_length=200)
    stored: bool
    size: int = Field(default=0, ge=0)
    on_disk: bool = False
    num_partitions: int | None = Field(default=None, ge=0)


def make_app(runtime: DriverRuntime) -> FastAPI:
    app = FastAPI(title="ember driver", docs_url=None, redoc_url=None)

    def authorized(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.encode(), f"Bearer {runtime.token}".encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    auth = [Depends(authorized)]

    @app.post("/executors", dependencies=auth)
    def register(reg: Registration) -> dict[str, Any]:
        runtime.executor_registered(reg.executor_id, reg.address, reg.cores, reg.pid)
        return {"registered": reg.executor_id}

    @app.post("/executors/{executor_id}/heartbeat", dependencies=auth)
    def heartbeat(executor_id: str, beat: Heartbeat) -> dict[str, Any]:
        if not runtime.executor_heartbeat(executor_id):
            raise HTTPException(status_code=404, detail=f"unknown executor {executor_id}")
        return {"ok": True}

    @app.post("/tasks/{task_id}/status", dependencies=auth)
    def task_status(task_id: int, status: TaskStatus) -> dict[str, Any]:
        runtime.task_status(task_id, status.model_dump())
        return {"ok": True}

    @app.get("/map-outputs/{shuffle_id}", dependencies=auth)
    def map_outputs(shuffle_id: int) -> dict[str, Any]:
        statuses = runtime.map_outputs(shuffle_id)
        if statuses is None:
            raise HTTPException(status_code=404, detail=f"unknown shuffle {shuffle_id}")
        return {"shuffle_id": shuffle_id, "statuses": statuses}

    @app.post("/blocks", dependencies=auth)
    def block_report(report: BlockReport) -> dict[str, Any]:
        runtime.block_report(report.model_dump())
        return {"ok": True}

    @app.get("/broadcast/{broadcast_id}", dependencies=auth)
    def broadcast(broadcast_id: int) -> Response:
        data = runtime.broadcast_bytes(broadcast_id)
        if data is None:
            raise HTTPException(status_code=404, detail=f"unknown broadcast {broadcast_id}")
        # Arrow IPC for a broadcast join's table, cloudpickle for sc.broadcast values.
        return Response(content=data, media_type="application/octet-stream")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "app_id": runtime.app_id}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        lines = [f"ember_driver_{k} {v}" for k, v in runtime.metrics().items()]
        return "\n".join(lines) + "\n"

    return app


class DriverServer:
    """uvicorn serving the driver app from a background thread, on a bound socket."""

    def __init__(self, runtime: DriverRuntime, sock: socket.socket, url: str) -> None:
        self.sock = sock
        self.url = url
        config = uvicorn.Config(make_app(runtime), log_level="warning", access_log=False,
                                lifespan="off", timeout_keep_alive=60)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="driver-rpc", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                msg = "the driver RPC server did not start"
                raise RuntimeError(msg)
            time.sleep(0.002)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()
