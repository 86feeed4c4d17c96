"""`ReplyOptions.over` spells its fields out (for speed): every field must be laid over."""
from dataclasses import fields

from llm_mock.replies import ReplyOptions


def test_every_field_set_wins_and_every_unset_one_falls_back():
    names = [f.name for f in fields(ReplyOptions)]
    base = ReplyOptions(**{name: index + 1 for index, name in enumerate(names)})
    for name in names:
        mine = ReplyOptions(**{name: 100})
        merged = mine.over(base)
        for index, other in enumerate(names):
            assert getattr(merged, other) == (100 if other == name else index + 1), (name, other)


def test_zero_is_set_not_unset():
    merged = ReplyOptions(latency=0, chunk_size=0).over(ReplyOptions(latency=5, chunk_size=7, ttft=3))
    assert (merged.latency, merged.chunk_size, merged.ttft) == (0, 0, 3)
