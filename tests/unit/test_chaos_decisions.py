"""Seeded chaos without a server: the nth request's fate depends only on the seed and n, configs
build it, and bad rates are refused."""
from __future__ import annotations

import pytest

from llm_mock import Chaos, MockServerOptions


def test_the_nth_fate_depends_only_on_seed_and_n():
    chaos = Chaos(seed=11, error_rate=0.3, faults={"disconnect": 0.2, "stall": 0.1})
    fates = [chaos.decide(n) for n in range(1, 2001)]
    assert fates == [Chaos(seed=11, error_rate=0.3, faults={"disconnect": 0.2, "stall": 0.1}).decide(n)
                     for n in range(1, 2001)]
    errors = sum(1 for error, _ in fates if error is not None)
    disconnects = sum(1 for _, fault in fates if fault is not None and fault.kind == "disconnect")
    assert 0.25 < errors / 2000 < 0.35 and 0.15 < disconnects / 2000 < 0.25
    assert chaos.decide(500) == chaos.decide(500)


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
