"""At the file-descriptor limit the accept loop backs off instead of spinning, says so once at
warning level, and serves again when descriptors free up."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = """
import resource, sys, time
from llm_mock import MockServer
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
server = MockServer(timeout=0).start()
print(server.port, flush=True)
time.sleep(60)
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc")
def test_the_accept_loop_backs_off_at_the_descriptor_limit_and_recovers():
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (read after the process ends)
    process = subprocess.Popen([sys.executable, "-c", SERVER, "40"], stdout=subprocess.PIPE, stderr=stderr,
                               text=True, env=dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1"))
    idle = []
    try:
        port = int(process.stdout.readline())
        for _ in range(60):  # more than the server has descriptors for; each stays open and idle
            idle.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.5)
        before = cpu_seconds(process.pid)
        time.sleep(1.5)
        spent = cpu_seconds(process.pid) - before
        assert spent < 0.3, f"the accept loop used {spent:.2f} s of CPU in 1.5 s"
        for sock in idle:
            sock.close()
        idle.clear()
        assert ask(port).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.2)
    finally:
        for sock in idle:
            sock.close()
        process.kill()
        process.wait()
    stderr.seek(0)
    lines = stderr.read().splitlines()
    warnings = [line for line in lines if "WARN" in line]
    assert len(warnings) == 1, lines
    assert "cannot accept connections: Too many open files (the file descriptor limit" in warnings[0]
    assert any("accepting connections again" in line for line in lines)
    assert not any("Traceback" in line or "ERROR" in line for line in lines), lines
