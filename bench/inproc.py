"""The request path without sockets: `Connection.handle_one_request` over an in-memory reader, in a
loop. A steadier figure than req/s on a busy machine for comparing two versions of the server.

    python bench/inproc.py [--wire openai] [--stream] [--n 20000] [--profile OUT.pstats]

Prints CPU microseconds per request (best of 5 runs) and, with `--profile`, writes a cProfile of one run.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import sys
import time

from procs import REPO

sys.path.insert(0, REPO)  # this checkout's llm_mock, as the bench's server processes get it

from llm_mock import MockServer  # noqa: E402
from llm_mock.connection import Connection  # noqa: E402
from loadgen import build_request  # noqa: E402
from workloads import WIRES, WORKLOADS  # noqa: E402


class _Sink:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        pass


class _Reader:
    deadline = None


def _connection(server: MockServer, data: bytes) -> Connection:
    conn = Connection.__new__(Connection)
    conn.server = server._httpd  # type: ignore[attr-defined]
    conn.rfile = io.BufferedReader(io.BytesIO(data), 65536)
    conn.wfile = _Sink()
    conn.reader = _Reader()
    conn.close_connection = False
    conn.connection = None
    conn.client_address = ("127.0.0.1", 0)
    conn.request_version = "HTTP/1.1"
    return conn


def run(server: MockServer, request: bytes, count: int) -> float:
    conn = _connection(server, request * count)
    start = time.thread_time()  # CPU time: steadier than wall time on a shared machine
    for _ in range(count):
        conn.handle_one_request()
    elapsed = time.thread_time() - start
    assert not conn.close_connection, "the connection was closed: the request failed"
    return elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wire", default="openai")
    parser.add_argument("--stream", action="store_true", help="the unpaced SSE workload instead of JSON")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile")
    args = parser.parse_args()
    server = MockServer()
    for spec in WORKLOADS.values():
        server.when(spec.marker).reply(spec.text, chunk_size=spec.chunk_size, latency=spec.latency)
    server.start()
    try:
        wire = WIRES[args.wire]
        workload = WORKLOADS["sse" if args.stream else "json"]
        request = build_request(wire.route(args.stream), wire.body(workload.marker, args.stream), server.port,
                                wire.headers)
        run(server, request, 200)  # warm up
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            run(server, request, args.n)
            profile.disable()
            profile.dump_stats(args.profile)
        best = min(run(server, request, args.n) for _ in range(args.runs))
        print(f"{args.wire} {'stream' if args.stream else 'json'}: {best:.1f} µs per request (best of {args.runs})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
