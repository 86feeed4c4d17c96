"""llm_mock as the bench runs it: a separate process with the workload rules, pinned to a core.

    python bench/launcher.py [--cpu N] [--profile OUT.pstats]

Prints the URL, serves until stdin closes. The process is set up as the CLI sets up its own
(`llm_mock.cli.serving_process`). `--profile` runs the server's threads under cProfile,
timed in thread CPU time, and writes the merged statistics on exit.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import threading
import time

from llm_mock import MockServer, pacing
from llm_mock import server as server_module
from llm_mock.cli import serving_process
from procs import pin, raise_fd_limit, serve_until_stdin_closes
from workloads import WORKLOADS


def profile_threads(out: str):
    """Run each connection's thread, the pacer thread (it writes paced streams) and the accept loop
    (it starts a thread per connection) under cProfile; returns the function that writes them all,
    merged, to `out`."""
    profiles, lock = [], threading.Lock()

    def wrap(owner, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def profiled(*args, **kwargs):
            profile = cProfile.Profile(time.thread_time)  # CPU time: a thread blocked in recv costs nothing
            profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                profile.disable()
                with lock:
                    profiles.append(profile)

        setattr(owner, name, profiled)

    wrap(server_module._HTTPServer, "process_request_thread")
    wrap(server_module._HTTPServer, "serve_forever")
    wrap(pacing.Pacer, "_run")

    def write() -> None:
        time.sleep(0.3)  # the stopped threads leave their profiled functions and hand their profiles in
        with lock:
            if profiles:
                stats = pstats.Stats(profiles[0])
                for profile in profiles[1:]:
                    stats.add(profile)
                stats.dump_stats(out)

    return write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--profile")
    args = parser.parse_args()
    pin(args.cpu)
    raise_fd_limit()
    serving_process()  # the process as `llm_mock start` sets it up
    write_profile = profile_threads(args.profile) if args.profile else None
    server = MockServer()
    for spec in WORKLOADS.values():
        server.when(spec.marker).reply(spec.text, chunk_size=spec.chunk_size, latency=spec.latency)
    server.start()

    def stop() -> None:
        server.stop()
        if write_profile:
            write_profile()

    serve_until_stdin_closes(server.url, stop)


if __name__ == "__main__":
    main()
