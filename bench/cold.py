"""Cold start: from spawning a server's command line to its first answered request, for llm_mock's
CLI, the ceiling started the same way, and each peer's CLI; and llm_mock in-process. The CLI and the
ceiling are also started with `python -S`: both need only the standard library, and the difference
is what the machine's site-packages (.pth files run at every interpreter start) cost."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from loadgen import response_end
from procs import BENCH_DIR, REPO, SERVER_CPU, child_env, free_port, pin
from table import CEILING, MOCK, Samples, at_most, at_most_ratio, row
from workloads import PATHS, request_for, rules_document

_IN_PROCESS = r"""
import socket, sys, time
t0 = time.perf_counter()
from llm_mock import MockServer
t1 = time.perf_counter()
server = MockServer().start()
t2 = time.perf_counter()
conn = socket.create_connection(("127.0.0.1", server.port))
conn.sendall(sys.argv[1].encode("latin-1"))
data = b""
while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + int(
        data.split(b"content-length: ")[1].split(b"\r\n")[0]):
    data += conn.recv(65536)
t3 = time.perf_counter()
assert data.startswith(b"HTTP/1.1 200"), data[:100]
print((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t1) * 1000)
server.stop()
"""

_TINY_ANSWER = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def _first_answer(port: int, request: bytes, deadline: float) -> bytes:
    """Connect as soon as something listens, send `request`, return the whole response."""
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.perf_counter() > deadline:
                raise TimeoutError("the CLI never listened") from None
            time.sleep(0.0005)
    with conn:
        conn.sendall(request)
        data = b""
        while not response_end(data):
            more = conn.recv(65536)
            if not more:
                break
            data += more
    return data


def _cold_round(command, cwd: str = REPO) -> float:
    """Milliseconds from spawning `command(port)` to the first answered request."""
    port = free_port()
    request = request_for("json", "openai", port)
    args = command(port)
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, preexec_fn=lambda: pin(SERVER_CPU))
    try:
        answer = _first_answer(port, request, started + 30)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{args} answered {answer[:200]!r}; stderr: {errors[-500:]!r}")
    return elapsed


def cold_start(settings, lineup) -> list:
    in_process, start_only, imports, bare = Samples(), Samples(), Samples(), Samples()
    request = request_for("json", "openai", 0).decode("latin-1")
    for _ in range(settings.rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=child_env())
        bare.add(MOCK, (time.perf_counter() - started) * 1000)
        out = subprocess.run([sys.executable, "-c", _IN_PROCESS, request], capture_output=True, text=True,
                             env=child_env(), cwd=REPO, preexec_fn=lambda: pin(SERVER_CPU), check=True)
        import_ms, start_ms, answer_ms = map(float, out.stdout.split())
        imports.add(MOCK, import_ms), start_only.add(MOCK, start_ms), in_process.add(MOCK, answer_ms)
    cli, no_site = Samples(), Samples()
    with tempfile.TemporaryDirectory(prefix="llm_mock_cold_") as directory:
        rules, replay = os.path.join(directory, "rules.json"), os.path.join(directory, "replay.json")
        with open(rules, "w") as out:
            json.dump(rules_document(), out)
        with open(replay, "w") as out:
            json.dump([{"path": PATHS["openai"], "marker": "", "frames": [_TINY_ANSWER]}], out)
        starts = [(MOCK, lambda port: [sys.executable, "-m", "llm_mock", "start", "-p", str(port), "--rules", rules],
                   REPO),
                  (CEILING, lambda port: [sys.executable, os.path.join(BENCH_DIR, "ceiling.py"), replay,
                                          "--port", str(port)], REPO),
                  *(lineup.cold_commands() if lineup else ())]
        for _ in range(settings.rounds):
            for name, command, cwd in starts:
                cli.add(name, _cold_round(command, cwd))
            for name, command, cwd in starts[:2]:  # llm_mock and the ceiling need nothing from site-packages
                no_site.add(name, _cold_round(lambda port, command=command: [sys.executable, "-S", *command(port)[1:]],
                                              cwd))
    return [row("cold start: CLI to first answer", cli, "ms", "<= 80 ms", at_most(80),
                "ceiling: bench/ceiling.py started the same way", vs_peer=("<= 0.5 x", at_most_ratio(0.5))),
            row("cold start: the same under python -S", no_site, "ms",
                note="no site-packages processing: what a machine's .pth hooks add to every Python start"),
            row("in-process: MockServer().start() to first answer", in_process, "ms", "<= 5 ms", at_most(5)),
            row("in-process: start() alone", start_only, "ms"),
            row("import llm_mock", imports, "ms"),
            row("interpreter start and exit (python -c pass)", bare, "ms")]

