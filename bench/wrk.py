"""The JSON rows again with `wrk`, when it is installed: a C client lifts the load generator's own
ceiling, so its ratio says more about the server on a fast machine."""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import tempfile

from procs import CLIENT_CPU, pin
from scenarios import Settings
from table import Row
from workloads import PATHS, WORKLOADS

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _script() -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": WORKLOADS["json"].marker}]}
    lua = (f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
           'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer sk-bench"\n')
    handle, path = tempfile.mkstemp(prefix="llm_mock_wrk_", suffix=".lua")
    with os.fdopen(handle, "w") as out:
        out.write(lua)
    return path


def _wrk(port: int, script: str, connections: int, duration: float) -> tuple:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s",
                          script, f"http://127.0.0.1:{port}{PATHS['openai']}"], capture_output=True, text=True,
                         check=True, preexec_fn=lambda: pin(CLIENT_CPU)).stdout
    p99 = _P99.search(out)
    return float(_RATE.search(out).group(1)), float(p99.group(1)) * _SCALE[p99.group(2)] if p99 else None


def wrk_rows(settings: Settings, lineup) -> list:
    script = _script()
    try:
        with lineup.launcher("wrk") as server:
            mock = [_wrk(server.port, script, 32, settings.duration) for _ in range(settings.rounds)]
            top = [_wrk(lineup.ceiling.port, script, 32, settings.duration) for _ in range(settings.rounds)]
    finally:
        os.unlink(script)
    rate, top_rate = statistics.median(r for r, _ in mock), statistics.median(r for r, _ in top)
    return [Row("JSON req/s, 32 conn (wrk)", rate, "req/s", top_rate, ">= 0.22 x ceiling", rate >= 0.22 * top_rate),
            Row("JSON p99 latency, 32 conn (wrk)", statistics.median(p for _, p in mock if p is not None), "ms",
                statistics.median(p for _, p in top if p is not None))]
