"""The byte budget shared by the history and the retry-replay memory, as a pure data structure."""
from __future__ import annotations

import threading

from llm_mock.budget import ByteBudget
from llm_mock.history import RecordedRequest, RequestHistory
from llm_mock.retries import ReplayMemory


class Holder:
    def __init__(self, name: str):
        self.name, self.dropped = name, 0

    def drop_kept(self) -> None:
        self.dropped += 1


def test_the_oldest_bodies_go_first_and_their_holders_are_told():
    budget = ByteBudget(100)
    a, b, c = Holder("a"), Holder("b"), Holder("c")
    budget.keep(a, b"x" * 40)
    budget.keep(b, b"y" * 40)
    assert budget.total == 80 and not a.dropped
    budget.keep(c, b"z" * 30)  # 110 > 100: a's body goes
    assert (a.dropped, b.dropped, c.dropped) == (1, 0, 0)
    assert budget.total == 70


def test_a_piece_held_twice_counts_once_and_stays_while_one_holder_keeps_it():
    budget = ByteBudget(1000)
    body = b"q" * 300
    first, second = Holder("history"), Holder("replay")
    budget.keep(first, body)
    budget.keep(second, body)
    assert budget.total == 300
    budget.release(first, body)
    assert budget.total == 300
    budget.release(second, body)
    assert budget.total == 0
    budget.release(second, body)  # twice: nothing more
    assert budget.total == 0


def test_dropping_a_shared_piece_drops_it_for_every_holder():
    budget = ByteBudget(500)
    body = b"q" * 300
    entry, record = Holder("history"), Holder("replay")
    budget.keep(record, body)
    budget.keep(entry, body)
    budget.keep(Holder("new"), b"n" * 300)
    assert (entry.dropped, record.dropped) == (1, 1)
    assert budget.total == 300


def test_a_body_larger_than_the_budget_is_dropped_at_once():
    budget = ByteBudget(100)
    big = Holder("big")
    budget.keep(big, b"b" * 101)
    assert big.dropped == 1 and budget.total == 0


def test_zero_means_no_limit_and_no_tracking():
    budget = ByteBudget(0)
    holder = Holder("h")
    for _ in range(100):
        budget.keep(holder, b"x" * 10_000)
    assert budget.total == 0 and not holder.dropped


def entry(body: bytes) -> RecordedRequest:
    return RecordedRequest("openai", "POST", "/v1/chat/completions", (("content-type", "application/json"),),
                           body, "rule", 200, 0.0, 1.0, "ok")


def test_history_entries_say_their_body_was_dropped():
    budget = ByteBudget(10_000)
    history = RequestHistory(100, budget)
    for n in range(10):
        history.record(entry(bytes([65 + n]) * 3000))
    kept = [e for e in history if not e.body_dropped]
    dropped = [e for e in history if e.body_dropped]
    assert len(kept) == 3 and [e.body[:1] for e in kept] == [b"H", b"I", b"J"]
    assert dropped == list(history)[:7]  # the oldest first
    old = dropped[0]
    assert old.body == b"" and old.request is None and old.headers == {"content-type": "application/json"}
    assert (old.status, old.rule, old.duration_ms, old.outcome) == (200, "rule", 1.0, "ok")
    assert "body dropped" in repr(old)
    try:
        old.last_message
    except AttributeError as exc:
        assert "history_max_bytes" in str(exc)
    else:
        raise AssertionError("no AttributeError")
    assert budget.total <= 10_000


def test_count_eviction_and_clear_give_the_bytes_back():
    budget = ByteBudget(1_000_000)
    history = RequestHistory(3, budget)
    for n in range(10):
        history.record(entry(b"%d" % n * 1000))
    assert len(history) == 3
    assert budget.total == 3 * 1000
    history.clear()
    assert budget.total == 0


def test_the_replay_memory_shares_the_budget():
    budget = ByteBudget(2500)
    memory = ReplayMemory(budget, cap=100)
    history = RequestHistory(100, budget)
    bodies = [bytes([65 + n]) * 1000 for n in range(4)]
    for body in bodies:
        memory.remember(("/p", body), f"answer {body[:1]!r}")
        history.record(entry(body))
    assert budget.total <= 2500
    assert memory.get(("/p", bodies[0])) is None  # dropped with its body: a retry is answered afresh
    assert memory.get(("/p", bodies[3])) == "answer b'D'"
    assert [e.body_dropped for e in history] == [True, True, False, False]
    memory.clear()
    history.clear()
    assert budget.total == 0


def test_many_threads_keep_the_total_exact():
    budget = ByteBudget(50_000)
    history = RequestHistory(1000, budget)
    memory = ReplayMemory(budget, cap=50)

    def work(n: int) -> None:
        for i in range(200):
            body = b"%d-%d" % (n, i) * 100
            memory.remember(("/p", body), i)
            history.record(entry(body))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = {id(e.body): len(e.body) for e in history if not e.body_dropped}
    assert budget.total <= 50_000
    assert budget.total >= sum(kept.values()) > 0
