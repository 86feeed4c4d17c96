"""The six scenarios. Each runs its rounds against llm_mock and, where it has a meaning, against the
ceiling in alternation (so a noisy neighbour hurts both alike), and returns table rows."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from loadgen import closed_loop, fetch, response_end, split_response, timed_streams
from procs import BENCH_DIR, REPO, SERVER_CPU, Child, PeakSampler, child_env, cpu_seconds, pin
from workloads import FORMATS, PATHS, WORKLOADS, request_for, rules_document

MIB = "MiB"


@dataclass
class Settings:
    rounds: int = 5
    duration: float = 3.0  # seconds per throughput round
    memory_requests: int = 100_000
    profile_dir: Optional[str] = None


@dataclass
class Row:
    """One line of the table. `target` reads against `ceiling` when it is a ratio."""

    name: str
    value: Optional[float]
    unit: str = ""
    ceiling: Optional[float] = None
    target: str = ""
    ok: Optional[bool] = None
    note: str = ""

    @property
    def ratio(self) -> Optional[float]:
        return self.value / self.ceiling if self.value is not None and self.ceiling else None


@dataclass
class Samples:
    """The llm_mock and ceiling values of one metric over the rounds; the table shows medians."""

    mock: list = field(default_factory=list)
    ceiling: list = field(default_factory=list)

    def medians(self) -> tuple:
        return (statistics.median(self.mock) if self.mock else None,
                statistics.median(self.ceiling) if self.ceiling else None)


def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile of unsorted `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def launcher(settings: Settings, name: str) -> Child:
    args = ["--profile", os.path.join(settings.profile_dir, f"{name}.pstats")] if settings.profile_dir else []
    return Child("launcher.py", *args)


def at_least(ratio: float) -> Callable:
    return lambda value, ceiling: value is not None and ceiling is not None and value >= ratio * ceiling


def at_most(limit: float) -> Callable:
    return lambda value, ceiling: value is not None and value <= limit


def unless_failed(failed: str, check: Callable) -> Callable:
    """`check`, and no request of the rounds failed."""
    return lambda value, ceiling: not failed and check(value, ceiling)


def row(name: str, samples: Samples, unit: str, target: str = "", check: Optional[Callable] = None,
        note: str = "") -> Row:
    value, ceiling = samples.medians()
    return Row(name, value, unit, ceiling, target, check(value, ceiling) if check else None, note)


# -- capture: the bytes the ceiling replays ---------------------------------------------------
CAPTURED = [("json", "openai"), ("sse", "openai"), ("sse", "responses"), ("sse", "anthropic"),
            ("paced", "openai"), ("accuracy", "openai")]


def capture(settings: Settings) -> dict:
    """One response of each workload from llm_mock: checked, measured, and kept for the ceiling."""
    samples = {}
    with launcher(settings, "capture") as server:
        for workload, fmt in CAPTURED:
            raw = asyncio.run(fetch(server.port, request_for(workload, fmt, server.port)))
            if not raw.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{workload}/{fmt} answered {raw[:200]!r}")
            head, chunks = split_response(raw)
            spec = WORKLOADS[workload]
            events = sum(chunk.count(b"\n\n") for chunk in chunks) if spec.stream else 1
            if spec.stream and events < len(spec.text) // spec.chunk_size:
                raise RuntimeError(f"{workload}/{fmt}: {events} events for {len(spec.text)} characters")
            samples[(workload, fmt)] = {"raw": raw, "head": head, "chunks": chunks, "events": events}
    return samples


def ceiling_file(samples: dict) -> str:
    """The replay list for the ceiling: paced workloads as one frame per chunk, on their gap."""
    entries = []
    for (workload, fmt), sample in samples.items():
        spec = WORKLOADS[workload]
        if spec.latency:
            encoded = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in sample["chunks"]]
            frames = [sample["head"] + encoded[0], *encoded[1:-1], encoded[-1] + b"0\r\n\r\n"]
        else:
            frames = [sample["raw"]]
        entries.append({"path": PATHS[fmt], "marker": spec.marker, "gap": spec.latency / 1000,
                        "frames": [frame.decode("latin-1") for frame in frames]})
    handle, path = tempfile.mkstemp(prefix="llm_mock_ceiling_", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(entries, out)
    return path


# -- 1. cold start ----------------------------------------------------------------------------
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def cold_start(settings: Settings) -> list:
    in_process, start_only, imports, cli, bare = Samples(), Samples(), Samples(), Samples(), Samples()
    request = request_for("json", "openai", 0).decode("latin-1")
    for _ in range(settings.rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=child_env())
        bare.mock.append((time.perf_counter() - started) * 1000)
        out = subprocess.run([sys.executable, "-c", _IN_PROCESS, request], capture_output=True, text=True,
                             env=child_env(), cwd=REPO, preexec_fn=lambda: pin(SERVER_CPU), check=True)
        import_ms, start_ms, answer_ms = map(float, out.stdout.split())
        imports.mock.append(import_ms), start_only.mock.append(start_ms), in_process.mock.append(answer_ms)
    rows = []
    has_cli = os.path.exists(os.path.join(REPO, "llm_mock", "cli.py"))
    if has_cli:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as rules:
            json.dump(rules_document(), rules)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as replay:
            json.dump([{"path": PATHS["openai"], "marker": "", "frames": [_TINY_ANSWER]}], replay)
        try:
            for _ in range(settings.rounds):
                cli.mock.append(_cold_round(["-m", "llm_mock", "start", "-p", "{port}", "--rules", rules.name]))
                ceiling_args = [os.path.join(BENCH_DIR, "ceiling.py"), replay.name, "--port", "{port}"]
                cli.ceiling.append(_cold_round(ceiling_args))
        finally:
            os.unlink(rules.name)
            os.unlink(replay.name)
        rows.append(row("cold start: CLI to first answer", cli, "ms", "<= 80 ms", at_most(80),
                        "ceiling: bench/ceiling.py started the same way"))
    else:
        rows.append(Row("cold start: CLI to first answer", None, "ms", None, "<= 80 ms", None,
                        "pending: llm_mock/cli.py does not exist yet"))
    rows += [row("in-process: MockServer().start() to first answer", in_process, "ms", "<= 5 ms", at_most(5)),
             row("in-process: start() alone", start_only, "ms"),
             row("import llm_mock", imports, "ms"),
             row("interpreter start and exit (python -c pass)", bare, "ms")]
    return rows


_TINY_ANSWER = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def _cold_round(args: list) -> float:
    """Milliseconds from spawning `python *args` to the first answered request."""
    port = _free_port()
    request = request_for("json", "openai", port)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *(arg.format(port=port) for arg in args)], cwd=REPO, env=child_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: pin(SERVER_CPU))
    try:
        answer = _first_answer(port, request, started + 10)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{args} answered {answer[:200]!r}; stderr: {errors[-500:]!r}")
    return elapsed


# -- 2, 3. throughput -------------------------------------------------------------------------
SSE_CONNECTIONS = 4


def _rounds(settings: Settings, ceiling: Child, server: Child, run: Callable) -> tuple:
    """Alternate llm_mock and ceiling rounds (after a short warm-up of each); returns their results."""
    for target in (server, ceiling):
        run(target, settings.duration / 10)
    mock, top = [], []
    for _ in range(settings.rounds):
        mock.append(run(server, settings.duration))
        top.append(run(ceiling, settings.duration))
    return mock, top


def _load(workload: str, fmt: str, connections: int, expect: int) -> Callable:
    def run(target: Child, duration: float):
        request = request_for(workload, fmt, target.port)
        cpu = cpu_seconds(target.pid)
        result = asyncio.run(closed_loop(target.port, request, connections, duration, expect=expect))
        result.server_cpu = cpu_seconds(target.pid) - cpu
        return result
    return run


def _cpu_row(name: str, mock: list, top: list) -> Row:
    return row(name, Samples([r.cpu_per_request_us for r in mock], [r.cpu_per_request_us for r in top]), "us")


def _failures(results: list) -> str:
    errors = sum(r.errors for r in results)
    mismatched = sum(r.mismatched for r in results)
    return f"{errors} errors, {mismatched} odd-sized answers" if errors or mismatched else ""


def json_throughput(settings: Settings, samples: dict, ceiling: Child) -> list:
    rows = []
    expect = len(samples[("json", "openai")]["raw"])
    with launcher(settings, "json") as server:
        for connections, ratio in ((1, 0.8), (32, 0.22)):
            mock, top = _rounds(settings, ceiling, server, _load("json", "openai", connections, expect))
            rate = Samples([r.rate for r in mock], [r.rate for r in top])
            p50 = Samples([percentile(r.latencies, 50) * 1000 for r in mock],
                          [percentile(r.latencies, 50) * 1000 for r in top])
            p99 = Samples([percentile(r.latencies, 99) * 1000 for r in mock],
                          [percentile(r.latencies, 99) * 1000 for r in top])
            failed = _failures(mock)
            rows += [row(f"JSON req/s, {connections} conn", rate, "req/s", f">= {ratio} x ceiling",
                         unless_failed(failed, at_least(ratio)), failed),
                     row(f"JSON p50 latency, {connections} conn", p50, "ms"),
                     row(f"JSON p99 latency, {connections} conn", p99, "ms"),
                     _cpu_row(f"JSON server CPU per request, {connections} conn", mock, top)]
    return rows


def sse_throughput(settings: Settings, samples: dict, ceiling: Child) -> list:
    rows = []
    with launcher(settings, "sse") as server:
        for fmt in FORMATS:
            sample = samples[("sse", fmt)]
            mock, top = _rounds(settings, ceiling, server, _load("sse", fmt, SSE_CONNECTIONS, len(sample["raw"])))
            rate = Samples([r.rate for r in mock], [r.rate for r in top])
            events = Samples([r.rate * sample["events"] for r in mock], [r.rate * sample["events"] for r in top])
            failed = _failures(mock)
            rows += [row(f"SSE {fmt}: streams/s ({SSE_CONNECTIONS} conn)", rate, "req/s"),
                     _cpu_row(f"SSE {fmt}: server CPU per stream", mock, top),
                     row(f"SSE {fmt}: events/s ({sample['events']} per stream)", events, "ev/s",
                         ">= 0.13 x ceiling", unless_failed(failed, at_least(0.13)), failed)]
    return rows


# -- 4. many paced streams --------------------------------------------------------------------
def _stream_stats(timings: list, wall: float) -> dict:
    done = [t for t in timings if t.ok]
    gaps = [later - earlier for t in done for earlier, later in zip(t.event_times, t.event_times[1:], strict=False)]
    return {"completed": len(done), "failed": len(timings) - len(done), "wall_s": wall,
            "gap_p50_ms": percentile(gaps, 50) * 1000, "gap_p99_ms": percentile(gaps, 99) * 1000,
            "ttfb_p99_ms": percentile([t.ttfb for t in done], 99) * 1000,
            "errors": sorted({t.error for t in timings if not t.ok})[:3]}


def many_streams(settings: Settings, samples: dict, ceiling: Child) -> list:
    """All streams open at once; TTFB counts from the moment each stream starts connecting."""
    rows = []
    events = samples[("paced", "openai")]["events"]
    latency = WORKLOADS["paced"].latency
    ideal = (events - 1) * latency / 1000
    for count in (200, 1000):
        stats = {key: Samples() for key in ("completed", "failed", "wall_s", "gap_p50_ms", "gap_p99_ms",
                                             "ttfb_p99_ms", "threads", "rss", "cpu_s")}
        errors = set()
        with launcher(settings, f"streams{count}") as server:
            for _ in range(settings.rounds):
                for target, side in ((server, "mock"), (ceiling, "ceiling")):
                    request = request_for("paced", "openai", target.port)
                    cpu = cpu_seconds(target.pid)
                    with PeakSampler(target.pid) as peaks:
                        result = _stream_stats(*asyncio.run(timed_streams(target.port, request, count)))
                    result.update(threads=peaks.peak_threads, rss=peaks.peak_rss, cpu_s=cpu_seconds(target.pid) - cpu)
                    for key, bucket in stats.items():
                        getattr(bucket, side).append(result[key])
                    if side == "mock":
                        errors.update(result["errors"])
                    time.sleep(0.3)  # let the finished streams' threads and sockets go
        gate = count == 1000
        failed = max(stats["failed"].mock)
        gap_target = ("<= 60 ms", at_most(60)) if gate else ()
        ttfb_target = ("<= 150 ms", at_most(150)) if gate else ()
        name = f"{count} streams:"
        rows += [Row(f"{name} completed (worst round)", min(stats["completed"].mock), "",
                     min(stats["completed"].ceiling)),
                 Row(f"{name} failed (worst round)", failed, "", max(stats["failed"].ceiling),
                     "0" if gate else "", (failed == 0) if gate else None, "; ".join(sorted(errors))[:120]),
                 row(f"{name} wall time (ideal {ideal:.2f} s)", stats["wall_s"], "s"),
                 row(f"{name} gap p50 (ideal {latency:.0f} ms)", stats["gap_p50_ms"], "ms"),
                 row(f"{name} gap p99", stats["gap_p99_ms"], "ms", *gap_target),
                 row(f"{name} TTFB p99", stats["ttfb_p99_ms"], "ms", *ttfb_target),
                 row(f"{name} server CPU for the round", stats["cpu_s"], "s"),
                 row(f"{name} peak threads", stats["threads"], ""),
                 row(f"{name} peak RSS", stats["rss"], MIB)]
    return rows


# -- 5. latency accuracy ----------------------------------------------------------------------
def accuracy(settings: Settings, samples: dict, ceiling: Child) -> list:
    gap = WORKLOADS["accuracy"].latency / 1000
    mean_error, p99_error, drift = Samples(), Samples(), Samples()
    with launcher(settings, "accuracy") as server:
        for _ in range(settings.rounds):
            for target, side in ((server, "mock"), (ceiling, "ceiling")):
                request = request_for("accuracy", "openai", target.port)
                (timing,), _ = asyncio.run(timed_streams(target.port, request, 1))
                if not timing.ok:
                    raise RuntimeError(f"accuracy stream failed: {timing.error}")
                times = timing.event_times
                errors = [abs(b - a - gap) * 1000 for a, b in zip(times, times[1:], strict=False)]
                getattr(mean_error, side).append(statistics.mean(errors))
                getattr(p99_error, side).append(percentile(errors, 99))
                getattr(drift, side).append((times[-1] - times[0] - gap * (len(times) - 1)) * 1000)
    gaps = samples[("accuracy", "openai")]["events"] - 1
    return [row(f"accuracy: mean gap error ({gaps} gaps of 10 ms)", mean_error, "ms"),
            row("accuracy: p99 gap error", p99_error, "ms"),
            row("accuracy: total drift", drift, "ms", "<= 1 ms", lambda v, c: v is not None and abs(v) <= 1)]


# -- 6. memory --------------------------------------------------------------------------------
def memory(settings: Settings, samples: dict) -> list:
    expect = len(samples[("json", "openai")]["raw"])
    with launcher(settings, "memory") as server:
        time.sleep(0.2)
        idle = server.status()["rss_mib"]
        request = request_for("json", "openai", server.port)
        result = asyncio.run(closed_loop(server.port, request, 32, total=settings.memory_requests, expect=expect))
        time.sleep(0.2)
        after = server.status()
    failed = _failures([result])
    return [Row("memory: RSS idle", idle, MIB),
            Row(f"memory: RSS after {result.requests:,} requests", after["rss_mib"], MIB, None, "<= 64 MiB",
                after["rss_mib"] <= 64 and not failed, failed),
            Row("memory: peak RSS (VmHWM)", after["hwm_mib"], MIB)]
