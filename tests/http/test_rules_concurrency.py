"""Rules under concurrency, over real HTTP: a matcher that blocks stalls only its own request; a rule
enters the engine whole (position, count and reply at once), so counts stay exact while requests flow."""
from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from llm_mock import MockServer

CHAT = "/v1/chat/completions"


def ask(server: MockServer, text: str, timeout: float = 10) -> str:
    """One chat completion on a fresh connection; returns the reply text."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        conn.request("POST", CHAT, json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data
        return json.loads(data)["choices"][0]["message"]["content"]
    finally:
        conn.close()


def test_a_blocking_matcher_stalls_only_its_own_request():
    entered, gate = threading.Event(), threading.Event()

    def slow(request) -> bool:
        if "slow" not in request.last_message:
            return False
        entered.set()
        return gate.wait(20)

    with MockServer() as server:
        server.when(slow).reply("slow answer")
        server.when("hello").reply("hi")
        with ThreadPoolExecutor(max_workers=16) as pool:
            blocked = pool.submit(ask, server, "slow please", 30)
            assert entered.wait(5)
            started = time.monotonic()
            answers = list(pool.map(lambda n: ask(server, f"hello {n}", 5), range(50)))
            elapsed = time.monotonic() - started
            assert answers == ["hi"] * 50
            assert elapsed < 5
            assert not blocked.done()  # still inside its matcher while the 50 were answered
            gate.set()
            assert blocked.result(10) == "slow answer"
        assert [entry.rule for entry in server.history][-1] == "(predicate)"


def test_a_rule_is_visible_only_whole():
    """The first request to see a new rule sees it at its position, with its count."""
    with MockServer() as server:
        server.when("x").reply("old")
        engine, seen = server.engine, []
        add = engine.add

        def add_then_ask(rule):
            added = add(rule)
            seen.append(ask(server, "x"))  # a request that lands the moment the rule is visible
            return added

        engine.add = add_then_ask
        server.when("x").times(3).first().reply("new")
        engine.add = add
        answers = seen + [ask(server, "x") for _ in range(4)]
        assert answers == ["new", "new", "new", "old", "old"]


def hammer(server: MockServer, stop: threading.Event, answers: list) -> None:
    while not stop.is_set():
        answers.append(ask(server, "x"))


def test_times_first_reply_counts_exactly_under_load():
    with MockServer() as server:
        server.when("x").reply("old")
        stop, answers = threading.Event(), []
        threads = [threading.Thread(target=hammer, args=(server, stop, answers)) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        server.when("x").times(3).first().reply("new")
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
        assert answers.count("new") == 3
        assert answers.count("old") > 20


def test_times_after_reply_counts_what_the_rule_already_answered():
    """`.reply(...).first().times(n)` is three steps: requests between them reach the rule, and
    `times(n)` then counts them, so the rule answers max(n, already answered) requests in all."""
    with MockServer() as server:
        server.when("x").reply("old")
        stop, answers = threading.Event(), []
        threads = [threading.Thread(target=hammer, args=(server, stop, answers)) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        handle = server.when("x").reply("new").first()
        time.sleep(0.05)  # requests answered "new" while the rule has no count yet
        handle.times(3)
        served_at_times = handle.rule.served
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
        assert served_at_times > 0
        assert answers.count("new") == handle.rule.served == max(3, served_at_times)
