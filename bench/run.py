"""The llm_mock benchmark: how fast the mock is, read against a ceiling measured in the same run.

Usage (stdlib only; `make bench` runs the full suite):

    python3 bench/run.py                      # every scenario, 5 rounds, medians
    python3 bench/run.py --quick              # 2 short rounds, 20 000 requests for the memory row
    python3 bench/run.py --only json,sse      # some scenarios: cold json sse streams accuracy memory
    python3 bench/run.py --json out.json      # also write the rows and the machine's state as JSON
    python3 bench/run.py --profile /tmp/prof  # cProfile the server (numbers then mean nothing);
                                              # one .pstats per scenario, read with `python -m pstats`

Scenarios: (cold) CLI and in-process cold start to the first answer; (json) keep-alive JSON
requests/s and latency on 1 and 32 connections; (sse) unpaced 2000-character streams in
10-character chunks, per wire format; (streams) 200 and 1000 concurrent streams of 20 chunks 50 ms
apart; (accuracy) one stream of 100 chunks 10 ms apart; (memory) server RSS idle and after
100 000 requests.

The server runs in its own process (bench/launcher.py) pinned to one core, the load generator
(bench/loadgen.py, asyncio on raw sockets) on another. The ceiling (bench/ceiling.py) replays the
bytes llm_mock sent, from a minimal asyncio responder; its rounds alternate with llm_mock's, and
targets read as ratios to it, because a shared 2-core machine is too noisy for absolute numbers.
With `wrk` on the PATH, the 32-connection JSON row is measured with it too.

Reading the table: the ceiling is usually bound by the load generator (one Python core), not by
its own work, so a throughput ratio also moves with how fast the client side happens to run. The
"server CPU per request" rows (user + system time of the server process over the round, divided by
the requests it answered) compare the two servers' own cost directly and are the steadier numbers
on a busy machine. Latency rows show the ceiling's value as the floor this client can observe.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time

from procs import CLIENT_CPU, Child, cpus, pin, raise_fd_limit
from scenarios import (
    Settings,
    accuracy,
    capture,
    ceiling_file,
    cold_start,
    json_throughput,
    many_streams,
    memory,
    sse_throughput,
)
from wrk import wrk_rows

SCENARIOS = ("cold", "json", "sse", "streams", "accuracy", "memory")
NEEDS_CEILING = {"json", "sse", "streams", "accuracy"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short rounds per scenario")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + " ".join(SCENARIOS))
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--profile", metavar="DIR", help="cProfile the server, one .pstats per scenario")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    settings = Settings(rounds=2, duration=1.0, memory_requests=20_000) if args.quick else Settings()
    settings.rounds = args.rounds or settings.rounds
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        settings.profile_dir = os.path.abspath(args.profile)
    usable = len(cpus())
    machine = describe_machine(pin(CLIENT_CPU), usable)
    raise_fd_limit()
    print(f"llm_mock bench: {machine['summary']}", flush=True)
    rows = run(chosen, settings)
    machine["load_after"] = os.getloadavg()
    print_table(rows)
    print(f"\nload average before {fmt_load(machine['load_before'])}, after {fmt_load(machine['load_after'])}")
    if settings.profile_dir:
        print(f"profiles in {settings.profile_dir} (the numbers above were taken under cProfile)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "settings": vars(settings), "scenarios": chosen,
                       "rows": [dict(vars(r), ratio=r.ratio) for r in rows]}, out, indent=2)
    return 0


def run(chosen: list, settings: Settings) -> list:
    rows = []
    if "cold" in chosen:
        rows += timed("cold start", cold_start, settings)
    if not NEEDS_CEILING.intersection(chosen) and "memory" not in chosen:
        return rows
    samples = capture(settings)
    replay = ceiling_file(samples)
    try:
        with Child("ceiling.py", replay) as ceiling:
            for name, scenario in (("json", json_throughput), ("sse", sse_throughput),
                                   ("streams", many_streams), ("accuracy", accuracy)):
                if name in chosen:
                    rows += timed(name, scenario, settings, samples, ceiling)
            if "json" in chosen and shutil.which("wrk"):
                rows += timed("wrk", wrk_rows, settings, ceiling)
    finally:
        os.unlink(replay)
    if "memory" in chosen:
        rows += timed("memory", memory, settings, samples)
    return rows


def timed(name: str, scenario, *args) -> list:
    started = time.monotonic()
    print(f"  {name} ...", end="", flush=True)
    rows = scenario(*args)
    print(f" {time.monotonic() - started:.0f} s", flush=True)
    return rows


def describe_machine(pinned: bool, usable: int) -> dict:
    placement = (f"server on cpu 0, load generator on cpu {CLIENT_CPU}" if pinned
                 else "not pinned (fewer than 2 cores usable)")
    load = os.getloadavg()
    return {"summary": f"{platform.python_implementation()} {platform.python_version()}, "
                       f"{os.cpu_count()} cores ({usable} usable), {placement}, load {fmt_load(load)}",
            "python": sys.version, "platform": platform.platform(), "cores": os.cpu_count(),
            "pinned": pinned, "load_before": load}


def fmt_load(load) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "nan"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100 or float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def print_table(rows: list) -> None:
    header = ("row", "value", "ceiling", "ratio", "target", "result")
    lines = [(r.name, fmt(r.value, r.unit), fmt(r.ceiling, r.unit), "-" if r.ratio is None else f"{r.ratio:.2f}",
              r.target or "-", {True: "PASS", False: "FAIL", None: ""}[r.ok] + (f"  {r.note}" if r.note else ""))
             for r in rows]
    widths = [max(len(line[i]) for line in lines + [header]) for i in range(5)]
    print()
    for line in [header, tuple("-" * w for w in widths) + ("------",)] + lines:
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) if i < 5 else cell
                        for i, cell in enumerate(line)))


if __name__ == "__main__":
    sys.exit(main())
