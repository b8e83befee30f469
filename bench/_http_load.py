"""A light HTTP/1.1 load generator for the benches: keep-alive connections on one asyncio
loop, requests encoded before the clock starts, responses read by ``Content-Length``.

Why not ``httpx``: on these two-core machines the load generator shares the cores with
the server it measures. ``httpx`` spends about 0.7 ms of CPU per request (more than the
verifier's server spends on a whole presentation) in eight GIL-bound threads; it could
not keep one uvicorn worker busy, so its rates measured the client, and its threads
took CPU from the workers they were timing. This client spends about 0.03 ms per
request, as ``wrk`` or ``h2load`` would, and keeps ``concurrency`` requests in flight.
Each run reports its own CPU per request (:attr:`Load.client_ms`).

:class:`SyncClient` is the same idea for a client that must think between requests
(the wallet's OpenID4VCI flow): the wallet's own ``HttpClient`` protocol over one
keep-alive socket per thread, instead of ``httpx``'s machinery.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """One request, encoded, and the status it must get."""

    raw: bytes
    expect: int


def post_form(host: str, port: int, path: str, body: bytes, expect: int) -> Request:
    """A ``POST`` of an ``application/x-www-form-urlencoded`` body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return Request(head.encode("ascii") + body, expect)


class Refused(Exception):
    """A response other than the expected one."""


@dataclass(frozen=True)
class Load:
    """What one :func:`send` took: requests, wall seconds, this process's CPU seconds."""

    count: int
    wall: float
    client_cpu: float

    @property
    def client_ms(self) -> float:
        return self.client_cpu / self.count * 1e3 if self.count else float("nan")


def send(host: str, port: int, requests: Sequence[Request], concurrency: int) -> Load:
    """Send every request over ``concurrency`` keep-alive connections, each taking the
    next unsent one as soon as its previous response is in; raise :class:`Refused` on
    the first response whose status is not the expected one (raised as ``SystemExit``
    with its text: the bench stops there)."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        asyncio.run(_send_all(host, port, iter(requests), concurrency))
    except Refused as exc:
        raise SystemExit(str(exc)) from None
    return Load(len(requests), time.perf_counter() - start, time.process_time() - cpu)


async def _send_all(host: str, port: int, queue: Iterable[Request], concurrency: int) -> None:
    shared = iter(queue)  # one iterator: each request is taken by exactly one connection
    await asyncio.gather(*(_connection(host, port, shared) for _ in range(concurrency)))


async def _connection(host: str, port: int, queue: Iterable[Request]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in queue:
            writer.write(request.raw)
            status, headers = _head(await reader.readuntil(b"\r\n\r\n"))
            body = await reader.readexactly(_content_length(headers))
            if status != request.expect:
                text = body[:400].decode("utf-8", "replace")
                raise Refused(f"the server answered {status}, not {request.expect}: {text}")
    finally:
        writer.close()


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    """A response's status and its headers (lower-case names) from its head block."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return int(status_line[9:12]), headers


def _content_length(headers: Mapping[str, str]) -> int:
    if "content-length" not in headers:
        raise Refused("a response without Content-Length (this client reads no other framing)")
    return int(headers["content-length"])


@dataclass(frozen=True)
class Reply:
    """A response as the wallet reads one (``status_code``, lower-case ``headers``)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


class SyncClient:
    """The wallet's ``HttpClient`` protocol for one server, over one keep-alive
    connection per calling thread (bench only: no TLS, no redirects, no chunked
    responses, no timeouts)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._local = threading.local()
        self._streams: list[Any] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
    ) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = content or b""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        stream = self._stream()
        stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        stream.flush()
        lines = [stream.readline()]
        if not lines[0]:
            raise Refused("the server closed the connection")
        while lines[-1] not in (b"\r\n", b""):
            lines.append(stream.readline())
        status, received = _head(b"".join(lines))
        return Reply(status, received, stream.read(_content_length(received)))

    def _stream(self) -> Any:
        stream = getattr(self._local, "stream", None)
        if stream is None:
            sock = socket.create_connection((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = self._local.stream = sock.makefile("rwb")
            sock.close()  # the file keeps the connection open until it is closed
            with self._lock:
                self._streams.append(stream)
        return stream
