"""The ceiling: a minimal asyncio responder that replays pre-built responses.

It answers the bench's requests with the very bytes llm_mock sent for them (captured once per run),
so the bench's numbers read as ratios to what this machine, this Python and this load generator
can do at all. Paced responses are replayed on the same absolute-deadline schedule.

    python bench/ceiling.py RESPONSES.json [--cpu N] [--port N]

RESPONSES.json: [{"path": "/v1/...", "marker": "...", "frames": [latin-1 strings], "gap": seconds}]
— the first entry whose path matches and whose marker is in the request body answers it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading

from procs import pin, raise_fd_limit, serve_until_stdin_closes

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class Replay:
    def __init__(self, entry: dict):
        self.path = entry["path"].encode()
        self.marker = entry["marker"].encode()
        self.frames = [frame.encode("latin-1") for frame in entry["frames"]]
        self.whole = b"".join(self.frames)
        self.gap = float(entry.get("gap", 0))


class Responder(asyncio.Protocol):
    """Parses just enough HTTP/1.1 (request line, content-length) to answer keep-alive requests."""

    def __init__(self, replays: list):
        self.replays = replays
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = _LENGTH.search(self.buffer, 0, head_end + 2)
            end = head_end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < end:
                return
            request, self.buffer = self.buffer[:end], self.buffer[end:]
            self.answer(request, head_end)

    def answer(self, request: bytes, head_end: int) -> None:
        path = request[request.index(b" ") + 1: request.index(b" HTTP/")]
        body = request[head_end:]
        for replay in self.replays:
            if replay.path == path and replay.marker in body:
                break
        else:
            self.transport.write(NOT_FOUND)
            return
        if not replay.gap:
            self.transport.write(replay.whole)
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.transport.write(replay.frames[0])
        for index, frame in enumerate(replay.frames[1:], 1):
            loop.call_at(start + index * replay.gap, self.write, frame)

    def write(self, frame: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(frame)


async def serve(replays: list, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(replays), "127.0.0.1", port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    stopped = asyncio.Event()
    threading.Thread(target=serve_until_stdin_closes, daemon=True,
                     args=(f"http://127.0.0.1:{port}", lambda: loop.call_soon_threadsafe(stopped.set))).start()
    await stopped.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("responses")
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    pin(args.cpu)
    raise_fd_limit()
    with open(args.responses) as handle:
        replays = [Replay(entry) for entry in json.load(handle)]
    asyncio.run(serve(replays, args.port))


if __name__ == "__main__":
    main()
