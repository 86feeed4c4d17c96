"""A new request gives way while the pacer writes due events, and only then (pacing.py says why)."""
from __future__ import annotations

import socket
import threading
import time

from llm_mock import pacing
from llm_mock.pacing import Pacer


def _timed(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_an_idle_pacer_lets_requests_through_at_once():
    pacer = Pacer()
    assert max(_timed(pacer.give_way) for _ in range(100)) < 0.01


def test_a_request_waits_while_the_pacer_writes_then_goes_on(monkeypatch):
    pacer = Pacer()
    writing, release = threading.Event(), threading.Event()
    advance = Pacer._advance

    def slow_advance(self, job):  # a write that takes as long as the test says
        writing.set()
        release.wait(5)
        return advance(self, job)

    monkeypatch.setattr(Pacer, "_advance", slow_advance)
    server, client = socket.socketpair()
    server.setblocking(False)
    stream = threading.Thread(target=pacer.send, args=(server, b"head", [b"a", b"b"], [0.0, 0.01], b"end"))
    stream.start()
    try:
        assert writing.wait(5), "the pacer never wrote the second chunk"
        waited: list = []
        request = threading.Thread(target=lambda: waited.append(_timed(pacer.give_way)))
        request.start()
        time.sleep(0.02)
        assert request.is_alive(), "a request went ahead while the pacer was writing"
        release.set()
        request.join(5)
        assert 0.015 < waited[0] < pacing._GIVE_WAY
        stream.join(5)
        assert client.recv(100) == b"headabend"
    finally:
        release.set()
        pacer.close()
        server.close()
        client.close()


def test_a_stuck_pacer_holds_a_request_back_only_so_long(monkeypatch):
    pacer = Pacer()
    pacer._idle.clear()  # as while writing, for longer than any request should wait
    assert pacing._GIVE_WAY * 0.9 < _timed(pacer.give_way) < pacing._GIVE_WAY + 0.05
