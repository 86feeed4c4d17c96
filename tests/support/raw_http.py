"""Raw HTTP for what the SDKs hide: exact bytes and headers on the wire, broken request bodies,
connection reuse; raw sockets; and polling for what happens after an answer (threads, history)."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time
from typing import NamedTuple, Optional
from urllib.parse import urlsplit

from support.sse import parse_sse

# One minimal valid body per route.
BODIES = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-4.1-mini", "input": "hi"},
    "/v1/messages": {"model": "claude-mock", "max_tokens": 1024,
                     "messages": [{"role": "user", "content": "hi"}]},
}
ROUTES = tuple(BODIES)


class RawReply(NamedTuple):
    """One answer, its body read whole (de-chunked by http.client). A tuple, so
    `status, headers, body = post(...)` works too."""

    status: int
    headers: dict  # lower-cased names
    body: bytes

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def events(self) -> list:
        """The body's server-sent events (`support.sse.parse_sse`)."""
        return parse_sse(self.body)


def connect(server, timeout: float = 10) -> http.client.HTTPConnection:
    """A keep-alive connection to `server` (not yet opened)."""
    url = urlsplit(server.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)


def request(conn: http.client.HTTPConnection, method: str, path: str, body=None,
            headers: Optional[dict] = None) -> RawReply:
    """One request on `conn` (a dict or list body is sent as JSON; `content-type` defaults to JSON)."""
    data = json.dumps(body).encode("utf-8") if isinstance(body, (dict, list)) else body
    conn.request(method, path, body=data, headers={"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return RawReply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def post(conn: http.client.HTTPConnection, path: str, body, headers: Optional[dict] = None) -> RawReply:
    """POST on an open connection (kept open for the next request)."""
    return request(conn, "POST", path, body, headers)


def raw_request(server, method: str, path: str, body=None, headers: Optional[dict] = None) -> RawReply:
    """One request over a fresh connection, closed afterwards."""
    conn = connect(server)
    try:
        return request(conn, method, path, body, headers)
    finally:
        conn.close()


def raw_post(server, path: str, body, headers: Optional[dict] = None) -> RawReply:
    return raw_request(server, "POST", path, body, headers)


def exchange(server, data: bytes, timeout: float = 5) -> tuple:
    """Send raw bytes on a fresh socket and read until the server closes; returns (reply bytes,
    seconds until the close). A read that times out ends with `<<timeout>>` appended."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        started, out = time.monotonic(), b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            out += b"<<timeout>>"
        except ConnectionResetError:
            out += b"<<reset>>"
        return out, time.monotonic() - started


def request_bytes(path: str, body: bytes, headers: Optional[dict] = None) -> bytes:
    """A complete HTTP/1.1 POST as bytes (Content-Length unless `headers` say otherwise)."""
    fields = {"host": "127.0.0.1", "content-type": "application/json", "content-length": str(len(body)),
              **(headers or {})}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    return head.encode("latin-1") + b"\r\n" + body


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_for(condition, timeout: float = 3.0, interval: float = 0.01, what=None) -> float:
    """Poll `condition` until it is true; returns the seconds that took. Fails (AssertionError) after
    `timeout`, with `what()` (or `what`) as the message when given."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            detail = what() if callable(what) else what
            raise AssertionError(detail or f"not true after {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def os_threads() -> int:
    """Threads of this process as the OS counts them (connection threads are not `threading` objects)."""
    return len(os.listdir("/proc/self/task"))
