"""History and the retry-replay memory are bounded in bytes (`history_max_bytes`), not only in
entries: large prompts no longer pile up (600 prompts of 1 MiB took RSS from 24 to 627 MiB)."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import pytest

from llm_mock import MockServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHAT = "/v1/chat/completions"
KIB = 1024


def body(text: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()


def post(conn: http.client.HTTPConnection, data: bytes, headers: dict = None) -> str:
    conn.request("POST", CHAT, data, {"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    assert response.status == 200, payload
    return json.loads(payload)["choices"][0]["message"]["content"]


def test_the_oldest_bodies_are_dropped_first_and_their_entries_say_so():
    with MockServer(history_max_bytes=2 * 1024 * KIB) as server:
        server.when("big").reply("ok")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for n in range(12):
            post(conn, body(f"big {n} " + "x" * 256 * KIB))
        entries = list(server.history)
        assert len(entries) == 12
        flags = [entry.body_dropped for entry in entries]
        assert flags == sorted(flags, reverse=True)  # a run of dropped ones, then the kept ones
        assert 4 <= flags.count(False) <= 7
        assert server.budget.total <= 2 * 1024 * KIB
        newest, oldest = entries[-1], entries[0]
        assert newest.last_message.startswith("big 11 ") and newest.headers["content-type"] == "application/json"
        assert oldest.body == b"" and oldest.request is None and "body dropped" in repr(oldest)
        assert (oldest.status, oldest.rule, oldest.outcome) == (200, '"big"', "ok") and oldest.duration_ms > 0


def test_a_retry_of_a_request_whose_body_was_dropped_is_answered_afresh():
    with MockServer(history_max_bytes=1024 * KIB) as server:
        server.when("step").reply_sequence(["first", "second", "third"])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        old, recent = body("step old " + "o" * 400 * KIB), body("step recent " + "r" * 100 * KIB)
        assert post(conn, old) == "first"
        for n in range(3):
            post(conn, body(f"filler {n} " + "f" * 300 * KIB))
        assert post(conn, recent) == "second"
        retry = {"x-stainless-retry-count": "1"}
        assert post(conn, recent, retry) == "second"  # still remembered: replayed
        assert post(conn, old, retry) == "third"  # forgotten with its body: a fresh attempt


def test_zero_means_no_byte_limit():
    with MockServer(history_max_bytes=0) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for n in range(8):
            post(conn, body(f"{n} " + "z" * 200 * KIB))
        assert not any(entry.body_dropped for entry in server.history)
        assert server.history.first().last_message.startswith("0 ")


RSS = """
import http.client, json, sys, time
from llm_mock import MockServer

def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024

server = MockServer(**json.loads(sys.argv[1])).start()
conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
prompt = "x" * (1024 * 1024)
before = rss()
for n in range(int(sys.argv[2])):
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": [
        {"role": "user", "content": prompt + str(n)}]}), {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
print(round(before), round(rss()))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc")
def test_rss_stays_near_the_budget_with_1_mib_prompts():
    run = subprocess.run([sys.executable, "-c", RSS, json.dumps({"history_max_bytes": 16 * 1024 * KIB}), "150"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert run.returncode == 0, run.stderr
    before, after = map(int, run.stdout.split())
    assert after - before < 80, f"RSS {before} -> {after} MiB"  # 150 MiB of prompts, 16 MiB kept
