"""Raw HTTP for what the SDKs hide: exact bytes on the wire, broken request bodies, connection reuse."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time

# One minimal valid body per route.
BODIES = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-4.1-mini", "input": "hi"},
    "/v1/messages": {"model": "claude-mock", "max_tokens": 1024,
                     "messages": [{"role": "user", "content": "hi"}]},
}
ROUTES = tuple(BODIES)


def connect(server, timeout: float = 5) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def post(conn: http.client.HTTPConnection, path: str, body, headers: dict = None) -> tuple:
    """POST `body` (a dict is sent as JSON) on `conn`; returns (status, headers, body bytes)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    conn.request("POST", path, body=data, headers={"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def exchange(server, data: bytes, timeout: float = 5) -> tuple:
    """Send raw bytes on a fresh socket and read until the server closes; returns (reply bytes,
    seconds until the close). A read that times out ends with `<<timeout>>` appended."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        started, out = time.monotonic(), b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except socket.timeout:
            out += b"<<timeout>>"
        except ConnectionResetError:
            out += b"<<reset>>"
        return out, time.monotonic() - started


def request_bytes(path: str, body: bytes, headers: dict = None) -> bytes:
    """A complete HTTP/1.1 POST as bytes (Content-Length unless `headers` say otherwise)."""
    fields = {"host": "127.0.0.1", "content-type": "application/json", "content-length": str(len(body)),
              **(headers or {})}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    return head.encode("latin-1") + b"\r\n" + body


def sse_events(body: bytes) -> list:
    """The SSE events of a stream body as (event name or None, data string) pairs."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        events.append((name, "\n".join(data)))
    return events


def wait_for(predicate, timeout: float = 3.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not (ok := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return ok


def os_threads() -> int:
    """Threads of this process as the OS counts them (connection threads are not `threading` objects)."""
    return len(os.listdir("/proc/self/task"))
