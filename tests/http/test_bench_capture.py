"""The bench's reading of llm_mock's answers, over real HTTP: with the rules the bench launches
llm_mock with, every workload in every wire llm_mock serves passes the bench's check (status,
the workload's whole text, events counted), so its rows measure the reply they claim to."""
from __future__ import annotations

import sys
from pathlib import Path

from llm_mock import MockServer

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

from lineup import CAPTURED, capture  # noqa: E402  (bench/ is put on the path above)
from workloads import WORKLOADS  # noqa: E402


def test_llm_mock_answers_every_workload_as_the_bench_expects(capsys):
    with MockServer() as server:
        for spec in WORKLOADS.values():
            server.when(spec.marker).reply(spec.text, chunk_size=spec.chunk_size, latency=spec.latency)
        answers = capture(server.port, "llm_mock", strict=True)
    assert {("json", "openai"), ("sse", "openai"), ("sse", "responses"), ("sse", "anthropic"),
            ("paced", "openai"), ("accuracy", "openai")} <= set(answers) <= set(CAPTURED)
    for (workload, _), answer in answers.items():
        spec = WORKLOADS[workload]
        if spec.stream:  # one event per chunk of text, and a few around them
            assert len(spec.text) // spec.chunk_size <= answer.events <= len(spec.text) // spec.chunk_size + 12
    left_out = capsys.readouterr().out
    assert all(f"sse/{fmt}" not in left_out for fmt in ("openai", "responses", "anthropic"))
