"""Time to first token and tokens per second on a real connection, streamed and not."""
from __future__ import annotations

import time

from support.faults import TEXT, USER, chat_stream


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
