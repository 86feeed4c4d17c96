"""Seeded chaos (the same seed replays the same failures) and paced timing (time to first token,
tokens per second, seeded jitter)."""
from __future__ import annotations

import json
import random
import time

import anthropic
import openai
import pytest

from fault_helpers import TEXT, USER, chat_stream, make_anthropic, make_openai
from llm_mock import Chaos, ErrorReply, MockServer, MockServerOptions
from llm_mock.formats.base import Frame
from llm_mock.replies import FAULT_KINDS
from llm_mock.pacing import schedule
from raw_http import BODIES, ROUTES, connect, exchange, post, request_bytes, wait_for

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
    assert wait_for(lambda: server.history.count() == count)
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


def test_the_nth_fate_depends_only_on_seed_and_n():
    chaos = Chaos(seed=11, error_rate=0.3, faults={"disconnect": 0.2, "stall": 0.1})
    fates = [chaos.decide(n) for n in range(1, 2001)]
    assert fates == [Chaos(seed=11, error_rate=0.3, faults={"disconnect": 0.2, "stall": 0.1}).decide(n)
                     for n in range(1, 2001)]
    errors = sum(1 for error, _ in fates if error is not None)
    disconnects = sum(1 for _, fault in fates if fault is not None and fault.kind == "disconnect")
    assert 0.25 < errors / 2000 < 0.35 and 0.15 < disconnects / 2000 < 0.25
    assert chaos.decide(500) == chaos.decide(500)


def test_chaos_errors_carry_retry_after_and_are_retried(server):
    server.options.chaos = Chaos(seed=1, error_rate=1.0, error_statuses=(429,), retry_after=0.01)
    with pytest.raises(openai.RateLimitError) as caught:
        make_openai(server, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert server.history.count() == 3
    assert caught.value.response.headers["retry-after-ms"] == "10"


def test_a_rule_overrides_the_servers_chaos():
    with MockServer(chaos=Chaos(error_rate=1.0, error_statuses=(503,))) as server:
        server.when("calm").reply("all fine").chaos(Chaos())
        server.when("wild").reply(TEXT, chunk_size=5).chaos(Chaos(seed=2, faults={"truncate": 1.0}))
        oai = make_openai(server)
        assert oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "calm"}]) \
            .choices[0].message.content == "all fine"
        chunks = list(oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "wild"}],
                                                  stream=True))
        assert all(c.choices[0].finish_reason is None for c in chunks)
        with pytest.raises(anthropic.InternalServerError) as caught:
            make_anthropic(server).messages.create(model="m", max_tokens=10, messages=USER)
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


def test_chaos_from_a_config_dict():
    options = MockServerOptions.from_dict({"chaos": {"seed": 9, "error_rate": 0.5, "error_statuses": [500]}})
    assert options.chaos == Chaos(seed=9, error_rate=0.5, error_statuses=(500,))
    assert [options.chaos.decide(n) for n in range(20)] == [Chaos(9, 0.5, (500,)).decide(n) for n in range(20)]


@pytest.mark.parametrize("bad", [
    {"faults": {"explode": 0.1}},
    {"error_rate": 0.7, "faults": {"empty": 0.5}},
    {"error_rate": -0.1},
    {"faults": {"stall": "often"}},
])
def test_chaos_rejects_bad_rates(bad):
    with pytest.raises(ValueError):
        Chaos(**bad)


# -- timing ------------------------------------------------------------------------------------

FRAMES = [Frame(b"start"), Frame(b"text", 8), Frame(b"text", 8), Frame(b"text", 4), Frame(b"end")]


def test_ttft_then_tokens_per_second_schedule():
    offsets = schedule(FRAMES, ttft=200, tokens_per_second=10)
    assert offsets == pytest.approx([0, 0.2, 0.4, 0.5, 0.5])  # 8 characters are 2 tokens: 0.2 s at 10/s


def test_latency_schedule_and_no_pacing():
    assert schedule(FRAMES, latency=30) == pytest.approx([0, 0.03, 0.06, 0.09, 0.12])
    assert schedule(FRAMES) is None


def test_jitter_is_seeded_and_bounded():
    first = schedule(FRAMES, latency=10, jitter=20, rng=random.Random(5))
    assert first == schedule(FRAMES, latency=10, jitter=20, rng=random.Random(5))
    assert first != schedule(FRAMES, latency=10, jitter=20, rng=random.Random(6))
    gaps = [b - a for a, b in zip(first, first[1:])]
    assert first[0] == 0 and all(0.01 <= gap <= 0.03 for gap in gaps)


def test_a_servers_jitter_seed_fixes_its_schedules():
    schedules = []
    for _ in range(2):
        server = MockServer(jitter_seed=42)
        schedules.append([schedule(FRAMES, jitter=50, rng=server.jitter_rng()) for _ in range(3)])
    assert schedules[0] == schedules[1] and schedules[0][0] != schedules[0][1]
    server.reset()
    assert [schedule(FRAMES, jitter=50, rng=server.jitter_rng()) for _ in range(3)] == schedules[0]


def test_ttft_and_tokens_per_second_pace_a_real_stream(server, oai):
    server.when("go").reply(TEXT, chunk_size=5, ttft=500, tokens_per_second=50)  # 10 pieces of 1.25 tokens
    started = time.monotonic()
    arrivals = [(time.monotonic() - started, c.choices[0].delta.content) for c in chat_stream(oai)]
    total = time.monotonic() - started
    assert arrivals[0][1] == "" and arrivals[0][0] < 0.4  # the role chunk is not held back
    first_text = next(at for at, content in arrivals if content)
    assert 0.48 <= first_text < 0.9
    assert 0.7 <= total < 1.6  # ttft + 9 gaps of 25 ms, loosely


def test_ttft_and_tokens_per_second_delay_a_json_reply(server, oai):
    server.when("go").reply(TEXT, ttft=100, tokens_per_second=100)  # 13 output tokens: 0.23 s in all
    started = time.monotonic()
    oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert 0.22 <= time.monotonic() - started < 1.0
