"""The driver's listening socket, bound before the (slower to import) server starts."""

from __future__ import annotations

import errno
import socket


def bind(host: str = "127.0.0.1", port: int = 0, advertise: str | None = None, *,
         max_retries: int = 0) -> tuple[socket.socket, str]:
    """Bind and listen, so executors can be told the driver's URL before it serves.

    A fixed ``port`` that is taken is retried on the next port up, ``max_retries`` times
    (``spark.port.maxRetries``), as Spark does.
    """
    for attempt in range(max_retries + 1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        nodelay(sock)
        try:
            sock.bind((host, port + attempt if port else 0))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or not port or attempt == max_retries:
                if exc.errno == errno.EADDRINUSE and port:
                    msg = (f"ports {port} to {port + attempt} are all taken\n\nset "
                           "spark.driver.port to a free port or raise spark.port.maxRetries")
                    raise OSError(exc.errno, msg) from exc
                raise
            continue
        break
    sock.listen(128)
    shown = advertise or ("127.0.0.1" if host in {"0.0.0.0", ""} else host)
    return sock, f"http://{shown}:{sock.getsockname()[1]}"


def nodelay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off for every connection accepted on ``sock``.

    uvicorn answers with separate writes for headers and body; with Nagle on, the body waits
    for the client's delayed ACK, about 40 ms on Linux, on every request of a kept-alive
    connection. Accepted sockets inherit the option from the listening one.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
