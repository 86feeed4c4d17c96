"""`--host 0.0.0.0` prints the address actually bound with a URL a local client can use, and warns in
one line that the server is exposed to the network; a loopback bind prints what it always did."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

import pytest

from llm_mock import MockServer
from llm_mock.cli import banner, exposure

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(args: list, cwd: str) -> tuple:
    """`python -m llm_mock start ARGS` until its banner is out: (banner, stderr so far)."""
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed below)
    process = subprocess.Popen([sys.executable, "-m", "llm_mock", "start", "-p", "0", *args], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=stderr, text=True,
                               env=dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1"))
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("  Ctrl+C"):
                break
        url = re.search(r"on this machine: (http://\S+?)\)", lines[0]) or re.search(r"(http://\S+)", lines[0])
        with urllib.request.urlopen(url.group(1) + "/v1/models", timeout=5) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        stderr.seek(0)
        err = stderr.read()
        stderr.close()
    return "".join(lines), err


def test_all_interfaces_prints_the_bound_address_a_local_url_and_a_warning(tmp_path):
    text, err = start(["--host", "0.0.0.0", "--no-admin"], str(tmp_path))  # the admin API would need a token
    first = text.splitlines()[0]
    port = re.search(r"0\.0\.0\.0:(\d+)", first).group(1)
    assert first.endswith(f"listening on http://0.0.0.0:{port} (all interfaces; on this machine: "
                          f"http://127.0.0.1:{port})")
    assert f'base_url="http://127.0.0.1:{port}/v1"' in text
    assert err.splitlines() == [f"llm-mock: warning: listening on every network interface (port {port}): anyone "
                                "who can reach this machine can use the server, with any API key; use --host "
                                "127.0.0.1 to keep it local"]


def test_loopback_prints_no_warning(tmp_path):
    text, err = start([], str(tmp_path))
    assert re.search(r"listening on http://127\.0\.0\.1:\d+$", text.splitlines()[0])
    assert err == ""


@pytest.mark.parametrize("host, wildcard", [("::", True), ("::1", False)])
def test_ipv6(host, wildcard):
    server = MockServer(host=host, admin=False)
    try:
        server.start()
    except OSError:
        pytest.skip("no IPv6 here")
    try:
        first = banner(server, False).splitlines()[0]
        port = server.port
        if wildcard:
            assert first.endswith(f"http://[::]:{port} (all interfaces; on this machine: http://[::1]:{port})")
            assert "every network interface" in exposure(server)
        else:
            assert first.endswith(f"listening on http://[::1]:{port}") and exposure(server) is None
    finally:
        server.stop()
