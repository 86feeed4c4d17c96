"""1000 concurrent requests over keep-alive connections: `times` and sequences count exactly, no step
is skipped or served twice, and every request is in the history."""
from __future__ import annotations

import http.client
import threading
from collections import Counter

from llm_mock import MockServer
from support.raw_http import connect, post

WORKERS = 50
REQUESTS = 1000


def ask(conn: http.client.HTTPConnection, text: str, stream: bool, retry_count: int = 0) -> str:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}
    reply = post(conn, "/v1/chat/completions", body, {"x-stainless-retry-count": str(retry_count)})
    assert reply.status == 200, reply.body
    if not stream:
        return reply.json["choices"][0]["message"]["content"]
    chunks = [event.json for event in reply.events if event.data != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def hammer(server: MockServer, jobs: list, work) -> list:
    """Run `work(conn, job)` for every job from WORKERS threads at once, each on its own keep-alive
    connection; returns the results in job order."""
    results: list = [None] * len(jobs)
    errors: list = []
    start = threading.Barrier(WORKERS)

    def worker(offset: int) -> None:
        conn = connect(server, timeout=30)
        try:
            start.wait()
            for index in range(offset, len(jobs), WORKERS):
                results[index] = work(conn, jobs[index])
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    assert all(not thread.is_alive() for thread in threads)
    return results


def test_times_and_a_limited_sequence_count_exactly(server):
    server.when("seq").reply_sequence([f"step {i}" for i in range(500)]).times(500)
    server.when("limited").reply("limited").times(300)
    server.fallback("fallback")
    jobs = [("seq" if i % 5 < 3 else "limited", i % 2 == 0) for i in range(REQUESTS)]  # 600 seq, 400 limited
    replies = hammer(server, jobs, lambda conn, job: ask(conn, *job))
    seq = Counter(reply for reply, (text, _) in zip(replies, jobs, strict=True) if text == "seq")
    limited = Counter(reply for reply, (text, _) in zip(replies, jobs, strict=True) if text == "limited")
    assert seq == Counter({**{f"step {i}": 1 for i in range(500)}, "fallback": 100})
    assert limited == Counter({"limited": 300, "fallback": 100})
    assert server.history.count() == REQUESTS
    assert Counter(entry.rule for entry in server.history) == {'"seq"': 500, '"limited"': 300, None: 200}
    assert server.rule_count == 0 and server.is_done()


def test_an_unlimited_sequence_serves_each_step_once_then_repeats_the_last(server):
    server.when("seq").reply_sequence([f"step {i}" for i in range(200)])
    replies = hammer(server, [i % 3 == 0 for i in range(REQUESTS)], lambda conn, stream: ask(conn, "seq", stream))
    assert Counter(replies) == Counter({**{f"step {i}": 1 for i in range(199)}, "step 199": REQUESTS - 199})
    assert server.is_done()
    assert server.history.count() == REQUESTS


def test_concurrent_retries_replay_their_own_first_attempt(server):
    server.when("job").reply_sequence([f"step {i}" for i in range(REQUESTS // 2)]).times(REQUESTS // 2)

    def attempt_then_retry(conn, job: int) -> tuple:
        text = f"job {job}"  # a distinct body per job: each retry replays its own first attempt
        stream = job % 2 == 0
        return ask(conn, text, stream), ask(conn, text, stream, retry_count=1)

    pairs = hammer(server, list(range(REQUESTS // 2)), attempt_then_retry)
    assert all(first == retry for first, retry in pairs)
    assert sorted(first for first, _ in pairs) == sorted(f"step {i}" for i in range(REQUESTS // 2))
    assert server.history.count() == REQUESTS and server.rule_count == 0
