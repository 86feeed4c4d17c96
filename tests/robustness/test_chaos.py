"""Seeded chaos over real connections: the same seed replays the same failures, a reset replays
them again, chaos errors are retried by the SDKs, and a rule's chaos overrides the server's.
(The seeded decisions themselves: tests/unit/test_chaos_decisions.py.)"""
from __future__ import annotations

import json

import anthropic
import openai
import pytest

from llm_mock import Chaos, ErrorReply, MockServer
from llm_mock.replies import FAULT_KINDS
from support.clients import anthropic_client, openai_client
from support.faults import TEXT, USER
from support.raw_http import BODIES, ROUTES, connect, exchange, post, request_bytes, wait_for

EVERY_KIND = Chaos(seed=7, error_rate=0.25, faults={kind: 0.06 for kind in FAULT_KINDS})
REQUESTS = 45


def run_sequence(server, count: int = REQUESTS) -> list:
    """Send `count` requests one after another (routes in turn, streamed every other time) on fresh
    connections; returns what each client saw: the status code, or None for no response."""
    seen = []
    for index in range(count):
        path = ROUTES[index % len(ROUTES)]
        body = json.dumps({**BODIES[path], "stream": index % 2 == 0}).encode()
        out, _ = exchange(server, request_bytes(path, body, {"connection": "close"}), timeout=0.5)  # a stall: give up
        seen.append(int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else None)
    wait_for(lambda: server.history.count() == count)
    return seen


def outcomes(server) -> list:
    return [(entry.status, entry.outcome) for entry in server.history]


def chaos_run(chaos: Chaos) -> tuple:
    with MockServer(chaos=chaos) as server:
        seen = run_sequence(server)
        return seen, outcomes(server)


# -- seeded chaos ------------------------------------------------------------------------------

def test_the_same_seed_replays_the_same_failures():
    seen, recorded = chaos_run(EVERY_KIND)
    again_seen, again_recorded = chaos_run(Chaos(**{**vars(EVERY_KIND)}))
    assert recorded == again_recorded and seen == again_seen
    kinds = {outcome for _, outcome in recorded}
    assert "ok" in kinds and "error reply" in kinds and len({k for k in kinds if k.startswith("fault ")}) >= 4
    assert {status for status, outcome in recorded if outcome == "error reply"} <= {429, 500, 503}
    assert {status for status, outcome in recorded if outcome == "ok"} == {200}
    assert any(status is None for status in seen)  # some faults answer nothing at all
    other_seen, other_recorded = chaos_run(Chaos(**{**vars(EVERY_KIND), "seed": 8}))
    assert other_recorded != recorded


def test_reset_replays_the_sequence_on_the_same_server():
    chaos = Chaos(seed=3, error_rate=0.3, faults={"truncate": 0.2, "malformed": 0.2})
    with MockServer(chaos=chaos) as server:
        run_sequence(server, 24)
        first = outcomes(server)
        server.reset()
        run_sequence(server, 24)
        assert outcomes(server) == first


def test_chaos_errors_carry_retry_after_and_are_retried(server):
    server.options.chaos = Chaos(seed=1, error_rate=1.0, error_statuses=(429,), retry_after=0.01)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(server, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert server.history.count() == 3
    assert caught.value.response.headers["retry-after-ms"] == "10"


def test_a_rule_overrides_the_servers_chaos():
    with MockServer(chaos=Chaos(error_rate=1.0, error_statuses=(503,))) as server:
        server.when("calm").reply("all fine").chaos(Chaos())
        server.when("wild").reply(TEXT, chunk_size=5).chaos(Chaos(seed=2, faults={"truncate": 1.0}))
        oai = openai_client(server)
        assert oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "calm"}]) \
            .choices[0].message.content == "all fine"
        chunks = list(oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "wild"}],
                                                  stream=True))
        assert all(c.choices[0].finish_reason is None for c in chunks)
        with pytest.raises(anthropic.InternalServerError) as caught:
            anthropic_client(server).messages.create(model="m", max_tokens=10, messages=USER)
        assert caught.value.status_code == 503
        assert outcomes(server) == [(200, "ok"), (200, "fault truncate"), (503, "error reply")]


def test_per_rule_chaos_without_server_chaos(server, claude):
    server.when("go").reply("fine").chaos(Chaos(seed=4, error_rate=1.0, error_statuses=(529,)))
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model="m", max_tokens=10, messages=USER)
    other = claude.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "else"}])
    assert other.stop_reason == "end_turn"


def test_an_explicit_error_or_fault_is_never_replaced_by_chaos():
    with MockServer(chaos=Chaos(faults={"reset": 1.0})) as server:
        server.when("go").reply(ErrorReply(418, "teapot"))
        status, _, body = post(connect(server), "/v1/chat/completions", {**BODIES["/v1/chat/completions"],
                                                                         "messages": USER})
        assert status == 418 and json.loads(body)["error"]["message"] == "teapot"
