"""The throughput, stream, accuracy and memory scenarios. Each runs its rounds on every side of the
lineup in turn (llm_mock, the ceiling, each peer: a noisy neighbour hurts all alike) and returns
table rows of medians, each with the ceiling's figure and every peer's."""
from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from loadgen import closed_loop, timed_streams
from procs import PeakSampler, cpu_seconds
from table import (
    CEILING,
    MOCK,
    Row,
    Samples,
    at_least,
    at_most,
    at_most_ratio,
    both,
    percentile,
    row,
    unless_failed,
    with_peer_target,
)
from workloads import FORMATS, WORKLOADS, request_for

MIB = "MiB"


@dataclass
class Settings:
    rounds: int = 5
    duration: float = 3.0  # seconds per throughput round
    warmup: float = 1.0  # seconds of load on each fresh server first: a JIT (Node) needs it, CPython's caches too
    memory_requests: int = 100_000
    profile_dir: Optional[str] = None


def _rounds(settings: Settings, sides: list, run: Callable) -> dict:
    """Each side in turn, round after round (after a warm-up of each); side name -> results."""
    for side in sides:
        run(side, settings.warmup)
    results: dict = {side.name: [] for side in sides}
    for _ in range(settings.rounds):
        for side in sides:
            results[side.name].append(run(side, settings.duration))
    return results


def _samples(results: dict, value: Callable) -> Samples:
    samples = Samples()
    for name, runs in results.items():
        for result in runs:
            samples.add(name, value(name, result))
    return samples


def _load(workload: str, fmt: str, connections: int) -> Callable:
    def run(side, duration: float):
        request = request_for(workload, fmt, side.port)
        expect = len(side.answers[(workload, fmt)].raw)
        cpu = cpu_seconds(side.pid)
        result = asyncio.run(closed_loop(side.port, request, connections, duration, expect=expect))
        result.server_cpu = cpu_seconds(side.pid) - cpu
        return result
    return run


def _failures(results: list) -> str:
    errors = sum(r.errors for r in results)
    mismatched = sum(r.mismatched for r in results)
    return f"{errors} errors, {mismatched} odd-sized answers" if errors or mismatched else ""


def _notes(results: dict) -> tuple:
    """(llm_mock's failures, the failures of every side, named)."""
    named = [f"{name}: {failed}" for name, runs in results.items() if (failed := _failures(runs))]
    return _failures(results.get(MOCK, [])), "; ".join(named)


def _cpu_row(name: str, results: dict) -> Row:
    return row(name, _samples(results, lambda _, r: r.cpu_per_request_us), "us")


# -- throughput -------------------------------------------------------------------------------
SSE_CONNECTIONS = 4


def json_throughput(settings: Settings, lineup) -> list:
    rows = []
    with lineup.servers("json", ("json", "openai")) as sides:
        for connections, ratio in ((1, 0.8), (32, 0.22)):
            results = _rounds(settings, sides, _load("json", "openai", connections))
            failed, note = _notes(results)
            rows += [row(f"JSON req/s, {connections} conn", _samples(results, lambda _, r: r.rate), "req/s",
                         f">= {ratio} x ceiling", unless_failed(failed, at_least(ratio)), note,
                         vs_peer=(">= 1.2 x", unless_failed(failed, at_least(1.2)))),
                     row(f"JSON p50 latency, {connections} conn",
                         _samples(results, lambda _, r: percentile(r.latencies, 50) * 1000), "ms"),
                     row(f"JSON p99 latency, {connections} conn",
                         _samples(results, lambda _, r: percentile(r.latencies, 99) * 1000), "ms"),
                     _cpu_row(f"JSON server CPU per request, {connections} conn", results)]
    return rows


def sse_throughput(settings: Settings, lineup) -> list:
    rows = []
    with lineup.servers("sse", None) as sides:
        for fmt in FORMATS:
            serving = [side for side in sides if side.serves("sse", fmt)]
            if not serving or serving[0].name != MOCK:
                continue  # llm_mock does not serve it: nothing to compare
            events = {side.name: side.answers[("sse", fmt)].events for side in serving}
            results = _rounds(settings, serving, _load("sse", fmt, SSE_CONNECTIONS))
            failed, note = _notes(results)
            per_stream, event_rate = Samples(), Samples()
            for name, count in events.items():
                per_stream.add(name, count)
                for result in results[name]:
                    event_rate.add(name, result.rate * count)
            rows += [row(f"SSE {fmt}: streams/s ({SSE_CONNECTIONS} conn)", _samples(results, lambda _, r: r.rate),
                         "req/s"),
                     _cpu_row(f"SSE {fmt}: server CPU per stream", results),
                     row(f"SSE {fmt}: events per stream", per_stream, ""),
                     row(f"SSE {fmt}: events/s", event_rate, "ev/s", ">= 0.13 x ceiling",
                         unless_failed(failed, at_least(0.13)), note,
                         vs_peer=(">= 2 x", unless_failed(failed, at_least(2))))]
    return rows


# -- many paced streams -----------------------------------------------------------------------
def _stream_stats(timings: list, wall: float) -> dict:
    done = [t for t in timings if t.ok]
    gaps = [later - earlier for t in done for earlier, later in zip(t.event_times, t.event_times[1:], strict=False)]
    return {"completed": len(done), "failed": len(timings) - len(done), "wall_s": wall,
            "gap_p50_ms": percentile(gaps, 50) * 1000, "gap_p99_ms": percentile(gaps, 99) * 1000,
            "ttfb_p99_ms": percentile([t.ttfb for t in done], 99) * 1000,
            "errors": sorted({t.error for t in timings if not t.ok})[:3]}


def _worst(name: str, samples: Samples, pick, note: str = "") -> Row:
    """A row of the worst round of each side (`pick` is min or max) rather than the median."""
    return Row(name, samples.worst(MOCK, pick), "", samples.worst(CEILING, pick), note=note,
               peers=samples.peers(lambda side: samples.worst(side, pick)))


def many_streams(settings: Settings, lineup) -> list:
    """All streams open at once; TTFB counts from the moment each stream starts connecting."""
    rows = []
    events = lineup.answers[MOCK][("paced", "openai")].events
    latency = WORKLOADS["paced"].latency
    ideal = (events - 1) * latency / 1000
    for count in (200, 1000):
        stats = {key: Samples() for key in ("completed", "failed", "wall_s", "gap_p50_ms", "gap_p99_ms",
                                             "ttfb_p99_ms", "threads", "rss", "cpu_s")}
        errors: dict = {}
        with lineup.servers(f"streams{count}", ("paced", "openai")) as sides:
            for side in sides:  # warm-up: a few streams on each fresh server
                asyncio.run(timed_streams(side.port, request_for("paced", "openai", side.port), 20))
            for _ in range(settings.rounds):
                for side in sides:
                    request = request_for("paced", "openai", side.port)
                    cpu = cpu_seconds(side.pid)
                    with PeakSampler(side.pid) as peaks:
                        result = _stream_stats(*asyncio.run(timed_streams(side.port, request, count)))
                    result.update(threads=peaks.peak_threads, rss=peaks.peak_rss, cpu_s=cpu_seconds(side.pid) - cpu)
                    for key, bucket in stats.items():
                        bucket.add(side.name, result[key])
                    errors.setdefault(side.name, set()).update(result["errors"])
                    time.sleep(0.3)  # let the finished streams' threads and sockets go
        gate = count == 1000
        failed = stats["failed"].worst(MOCK)
        note = "; ".join(f"{name}: {', '.join(sorted(seen))}" for name, seen in errors.items() if seen)[:160]
        name = f"{count} streams:"
        failed_row = _worst(f"{name} failed (worst round)", stats["failed"], max, note=note)
        if gate:
            failed_row.target, failed_row.ok = "0", failed == 0
            with_peer_target(failed_row, "0", lambda value, other: value == 0, absolute=True)
        gap_vs = ("<= aimock's, <= 60 ms", both(at_most_ratio(1), at_most(60))) if gate else ()
        ttfb_vs = ("<= aimock's", at_most_ratio(1)) if gate else ()
        rows += [_worst(f"{name} completed (worst round)", stats["completed"], min),
                 failed_row,
                 row(f"{name} wall time (ideal {ideal:.2f} s)", stats["wall_s"], "s"),
                 row(f"{name} gap p50 (ideal {latency:.0f} ms)", stats["gap_p50_ms"], "ms"),
                 row(f"{name} gap p99", stats["gap_p99_ms"], "ms", *(("<= 60 ms", at_most(60)) if gate else ()),
                     vs_peer=gap_vs),
                 row(f"{name} TTFB p99", stats["ttfb_p99_ms"], "ms", *(("<= 150 ms", at_most(150)) if gate else ()),
                     vs_peer=ttfb_vs),
                 row(f"{name} server CPU for the round", stats["cpu_s"], "s"),
                 row(f"{name} peak threads", stats["threads"], ""),
                 row(f"{name} peak RSS", stats["rss"], MIB)]
    return rows


# -- latency accuracy -------------------------------------------------------------------------
def accuracy(settings: Settings, lineup) -> list:
    gap = WORKLOADS["accuracy"].latency / 1000
    mean_error, p99_error, drift = Samples(), Samples(), Samples()
    with lineup.servers("accuracy", ("accuracy", "openai")) as sides:
        for _ in range(settings.rounds):
            for side in sides:
                request = request_for("accuracy", "openai", side.port)
                (timing,), _ = asyncio.run(timed_streams(side.port, request, 1))
                if not timing.ok:
                    raise RuntimeError(f"{side.name}: accuracy stream failed: {timing.error}")
                times = timing.event_times
                errors = [abs(b - a - gap) * 1000 for a, b in zip(times, times[1:], strict=False)]
                mean_error.add(side.name, statistics.mean(errors))
                p99_error.add(side.name, percentile(errors, 99))
                drift.add(side.name, (times[-1] - times[0] - gap * (len(times) - 1)) * 1000)
    gaps = lineup.answers[MOCK][("accuracy", "openai")].events - 1
    within = lambda value, other: value is not None and abs(value) <= 1  # noqa: E731
    return [row(f"accuracy: mean gap error ({gaps} gaps of 10 ms)", mean_error, "ms"),
            row("accuracy: p99 gap error", p99_error, "ms"),
            row("accuracy: total drift", drift, "ms", "<= 1 ms", within, vs_peer=("<= 1 ms", within, True))]


# -- memory -----------------------------------------------------------------------------------
def memory(settings: Settings, lineup) -> list:
    """Each server fresh: RSS idle, then after `memory_requests` JSON requests on 32 connections."""
    idle, after, peak, failures = Samples(), Samples(), Samples(), {}
    requests = 0
    with lineup.servers("memory", ("json", "openai"), ceiling=False) as sides:
        time.sleep(0.2)
        for side in sides:
            idle.add(side.name, side.server.status()["rss_mib"])
        for side in sides:
            request = request_for("json", "openai", side.port)
            expect = len(side.answers[("json", "openai")].raw)
            result = asyncio.run(closed_loop(side.port, request, 32, total=settings.memory_requests, expect=expect))
            requests = max(requests, result.requests)
            time.sleep(0.2)
            status = side.server.status()
            after.add(side.name, status["rss_mib"]), peak.add(side.name, status["hwm_mib"])
            failures[side.name] = _failures([result])
    failed = failures.get(MOCK, "")
    note = "; ".join(f"{name}: {text}" for name, text in failures.items() if text)
    rss = row(f"memory: RSS after {requests:,} requests", after, MIB, "<= 64 MiB",
              unless_failed(failed, at_most(64)), note, vs_peer=("<= 0.5 x", at_most_ratio(0.5)))
    return [row("memory: RSS idle", idle, MIB), rss, row("memory: peak RSS (VmHWM)", peak, MIB)]

