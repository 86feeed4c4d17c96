"""Seeded fuzzing of the three routes: thousands of broken requests over a few keep-alive connections.

Nothing may produce a 5xx, a hang or a dropped connection; afterwards the server still answers and
its threads are back to the baseline. `make fuzz` runs it longer (LLM_MOCK_FUZZ_ITERATIONS).
"""
from __future__ import annotations

import collections
import http.client
import os

from llm_mock import MockServer
from support.fuzz_corpus import Mutator
from support.raw_http import BODIES, connect, os_threads, post, wait_for

ITERATIONS = int(os.environ.get("LLM_MOCK_FUZZ_ITERATIONS", "3000"))
SEED = int(os.environ.get("LLM_MOCK_FUZZ_SEED", "20261125"))
CONNECTIONS = 4
REQUEST_TIMEOUT = 10  # seconds: a request that takes longer is a hang


def test_fuzzed_requests_never_break_the_server():
    with MockServer() as server:
        server.when("hi").reply("hello", chunk_size=2)
        baseline = os_threads()
        mutator = Mutator(SEED)
        conns = [connect(server, REQUEST_TIMEOUT) for _ in range(CONNECTIONS)]
        statuses, failures = collections.Counter(), []
        for index in range(ITERATIONS):
            path, data, content_type = mutator.next()
            slot = index % CONNECTIONS
            try:
                status, headers, body = post(conns[slot], path, data, {"content-type": content_type})
            except (http.client.HTTPException, OSError) as exc:  # a drop or a hang: the worst outcome
                failures.append((index, path, data[:200], f"{type(exc).__name__}: {exc}"))
                conns[slot].close()
                conns[slot] = connect(server, REQUEST_TIMEOUT)
                continue
            statuses[status] += 1
            if status >= 500 or b"Traceback" in body:
                failures.append((index, path, data[:200], status, body[:300]))
            if headers.get("connection") == "close":
                conns[slot].close()
                conns[slot] = connect(server, REQUEST_TIMEOUT)
        assert not failures, f"{len(failures)} of {ITERATIONS} fuzzed requests failed (seed {SEED}): {failures[:5]}"
        assert statuses[200] > ITERATIONS // 10 and statuses[400] > ITERATIONS // 10, statuses  # both kinds hit
        for path, body in BODIES.items():
            status, _, _ = post(conns[0], path, body)
            assert status == 200
        for conn in conns:
            conn.close()
        wait_for(lambda: os_threads() <= baseline, timeout=5,
                 what=lambda: f"{os_threads()} threads, {baseline} before the fuzzing")
        assert server.history.count() == min(ITERATIONS + len(BODIES), server.options.history_limit)
