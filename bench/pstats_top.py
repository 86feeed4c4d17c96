"""The biggest costs in a profile written by `bench/run.py --profile DIR`: the top functions by own
time and by cumulative time, each as a share of all the profiled CPU time and per request.

    python3 bench/pstats_top.py DIR/json.pstats [--top 25] [--unit dispatch.py:serve]

`--unit` names the function called once per request (or per stream): its call count divides the
times into microseconds per request.
"""
from __future__ import annotations

import argparse
import os
import pstats


def label(key: tuple) -> str:
    path, line, name = key
    if path == "~":
        return name  # a built-in
    parts = path.split(os.sep)
    short = os.sep.join(parts[parts.index("llm_mock"):] if "llm_mock" in parts else parts[-2:])
    return f"{short}:{line}({name})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--unit", default="dispatch.py:serve", help="FILE:FUNCTION called once per request")
    args = parser.parse_args(argv)
    stats = pstats.Stats(args.profile)
    entries = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    unit_file, unit_name = args.unit.rsplit(":", 1)
    units = sum(nc for (path, _, name), (_, nc, _, _, _) in entries.items()
                if path.endswith(unit_file) and name == unit_name)
    per = f", {units:,} calls of {args.unit}: {total / units * 1e6:.1f} us each" if units else ""
    print(f"{args.profile}: {total:.3f} s of CPU in profiled threads{per}")
    for title, index in (("own time", 2), ("cumulative time", 3)):
        ranked = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)[:args.top]
        print(f"\nby {title}:\n{'share':>7} {'s':>8} {'us/req':>8} {'calls':>10}  function")
        for key, (_, nc, tt, ct, _) in ranked:
            seconds = (tt, ct)[index - 2]
            per_unit = f"{seconds / units * 1e6:8.1f}" if units else f"{'-':>8}"
            print(f"{seconds / total:7.1%} {seconds:8.3f} {per_unit} {nc:>10,}  {label(key)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
