"""The pacing schedule: when each event of a stream is due, for latency, time to first token plus
tokens per second, and seeded jitter. (Paced streams on a real connection: tests/http/test_paced_streams.py.)"""
from __future__ import annotations

import random

import pytest

from llm_mock import MockServer
from llm_mock.formats.base import Frame
from llm_mock.pacing import schedule

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
    gaps = [b - a for a, b in zip(first, first[1:], strict=False)]
    assert first[0] == 0 and all(0.01 <= gap <= 0.03 for gap in gaps)


def test_a_servers_jitter_seed_fixes_its_schedules():
    schedules = []
    for _ in range(2):
        server = MockServer(jitter_seed=42)
        schedules.append([schedule(FRAMES, jitter=50, rng=server.jitter_rng()) for _ in range(3)])
    assert schedules[0] == schedules[1] and schedules[0][0] != schedules[0][1]
    server.reset()
    assert [schedule(FRAMES, jitter=50, rng=server.jitter_rng()) for _ in range(3)] == schedules[0]
