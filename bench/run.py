"""The llm_mock benchmark: how fast the mock is, read against a ceiling measured in the same run.

Usage (stdlib only; `make bench` runs the full suite):

    python3 bench/run.py                      # every scenario, 5 rounds, medians
    python3 bench/run.py --quick              # 2 short rounds, 20 000 requests for the memory row
    python3 bench/run.py --only json,sse      # some scenarios: cold json sse streams accuracy memory
    python3 bench/run.py --json out.json      # also write the rows and the machine's state as JSON
    python3 bench/run.py --peers aimock       # compare with some peers only (--peers none: with none)
    python3 bench/run.py --profile /tmp/prof  # cProfile the server (numbers then mean nothing; no peers);
                                              # one .pstats per scenario: bench/pstats_top.py reads them

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

The peers (bench/peers.py: aimock from the npm registry, llm-mock-api from PyPI) are installed on
demand into ~/.cache/llm-mock-bench and run in the same rounds, pinned to the same core, with the
same workloads written as their own rules; the second table gives llm_mock / peer for each row,
with the targets read against the fastest peer (aimock).

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

from cold import cold_start
from lineup import Lineup
from peers import PEERS, cache_dir
from procs import CLIENT_CPU, cpus, pin, raise_fd_limit
from scenarios import Settings, accuracy, json_throughput, many_streams, memory, sse_throughput
from table import LEAD, print_ceiling_table, print_peer_table
from wrk import wrk_rows

SCENARIOS = ("cold", "json", "sse", "streams", "accuracy", "memory")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short rounds per scenario")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + " ".join(SCENARIOS))
    parser.add_argument("--peers", help=f"comma-separated: {' '.join(PEERS)} (default: all; none: no peers)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--profile", metavar="DIR", help="cProfile the server, one .pstats per scenario")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    wanted = pick_peers(parser, args.peers if args.peers is not None else "none" if args.profile else "all")
    settings = Settings(rounds=2, duration=1.0, memory_requests=20_000) if args.quick else Settings()
    settings.rounds = args.rounds or settings.rounds
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        settings.profile_dir = os.path.abspath(args.profile)
    usable = len(cpus())
    machine = describe_machine(pin(CLIENT_CPU), usable)
    raise_fd_limit()
    print(f"llm_mock bench: {machine['summary']}", flush=True)
    peers, skipped = install_peers(wanted)
    rows, answers = run(chosen, settings, peers)
    machine["load_after"] = os.getloadavg()
    print_ceiling_table(rows)
    if any(r.peers for r in rows):
        print(f"\nllm_mock against the peers (\"/ peer\" is llm_mock / peer; targets read against {LEAD}):")
        print_peer_table(rows)
    print(f"\nload average before {fmt_load(machine['load_before'])}, after {fmt_load(machine['load_after'])}")
    if settings.profile_dir:
        print(f"profiles in {settings.profile_dir} (the numbers above were taken under cProfile); "
              f"read them with python3 bench/pstats_top.py {settings.profile_dir}/json.pstats")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "settings": vars(settings), "scenarios": chosen,
                       "peers": {peer.name: {"version": peer.version, "home": peer.home} for peer in peers},
                       "peers_skipped": skipped, "answers": answers, "rows": [r.as_json() for r in rows]},
                      out, indent=2)
    return 0


def pick_peers(parser, names: str) -> list:
    if names == "all":
        return list(PEERS)
    if names == "none":
        return []
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = set(wanted) - set(PEERS)
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(sorted(unknown))}; choose from {', '.join(PEERS)} or none")
    return wanted


def install_peers(names: list) -> tuple:
    """The peers that are installed or install now, and why the others are skipped (one line each)."""
    peers, skipped = [], {}
    for name in names:
        peer = PEERS[name]
        reason = peer.install()
        if reason:
            skipped[name] = reason
            print(f"  {name}: {reason}", flush=True)
        else:
            peers.append(peer)
    if peers:
        print(f"  peers: {', '.join(f'{p.name} {p.version}' for p in peers)} (cached in {cache_dir()})", flush=True)
    return peers, skipped


def run(chosen: list, settings: Settings, peers: list) -> tuple:
    """The rows of the chosen scenarios, and the size and events of what each server answered."""
    rows = []
    with Lineup(settings.profile_dir, peers) as lineup:
        for name, scenario in (("cold", cold_start), ("json", json_throughput), ("sse", sse_throughput),
                               ("streams", many_streams), ("accuracy", accuracy)):
            if name in chosen:
                rows += timed(name, scenario, settings, lineup)
        if "json" in chosen and shutil.which("wrk"):
            rows += timed("wrk", wrk_rows, settings, lineup)
        if "memory" in chosen:
            rows += timed("memory", memory, settings, lineup)
    answers = {side: {f"{workload}/{fmt}": {"bytes": len(answer.raw), "events": answer.events}
                      for (workload, fmt), answer in served.items()} for side, served in lineup.answers.items()}
    return rows, answers


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


if __name__ == "__main__":
    sys.exit(main())
