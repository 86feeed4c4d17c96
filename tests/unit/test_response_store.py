"""The response store as a pure object: bounds, chains, the background clock, cancel; and the
input-item listing it serves."""
from __future__ import annotations

import time

import pytest

from llm_mock.formats.responses_state import item_list
from llm_mock.response_store import ResponseStore, StoredResponse


def record(rid: str, raw_input, output=(), previous=None, size=10, status="completed",
           background=False) -> StoredResponse:
    response = {"id": rid, "status": status, "background": background, "output": list(output), "usage": {}}
    return StoredResponse(response, raw_input, list(output), previous, None, size)


def test_bounded_by_count_and_bytes_oldest_out():
    store = ResponseStore(limit=3, max_bytes=100)
    for i in range(5):
        store.put(record(f"r{i}", "x"))
    assert [rid in store for rid in ("r0", "r1", "r2", "r3", "r4")] == [False, False, True, True, True]
    store.put(record("big", "x", size=90))
    assert len(store) == 2 and "r4" in store and "big" in store  # 10 + 90 fit in 100; the older ones went
    store.put(record("huge", "x", size=500))
    assert len(store) == 1 and "huge" in store  # the newest stays even alone over the bound
    assert store.delete("huge") and not store.delete("huge") and len(store) == 0


def test_chain_walks_back_to_the_first_turn():
    store = ResponseStore()
    out1 = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "one"}]}]
    store.put(record("r1", "first", out1))
    store.put(record("r2", [{"role": "user", "content": "second"}], [{"type": "function_call", "call_id": "c"}], "r1"))
    store.put(record("r3", [{"type": "function_call_output", "call_id": "c", "output": "x"}], [], "r2"))
    chain = store.chain("r3")
    assert chain == [{"role": "user", "content": "first"}, *out1, {"role": "user", "content": "second"},
                     {"type": "function_call", "call_id": "c"},
                     {"type": "function_call_output", "call_id": "c", "output": "x"}]
    store.delete("r1")
    assert store.chain("r3")[0] == {"role": "user", "content": "second"}  # the walk stops at a gap
    with pytest.raises(KeyError):
        store.chain("r1")
    store.clear()
    assert len(store) == 0


def test_background_clock_and_cancel():
    item = record("bg", "x", [{"type": "message"}], background=True)
    item.clock(0.05, 0.15)
    assert item.status == "queued" and item.view()["output"] == [] and item.view()["usage"] is None
    time.sleep(0.07)
    assert item.status == "in_progress"
    time.sleep(0.1)
    assert item.status == "completed" and item.view() is item.response
    late = record("late", "x", background=True)
    late.clock(0, 10)
    assert late.cancel()["status"] == "cancelled" and late.status == "cancelled"
    assert late.cancel()["status"] == "cancelled"
    finished = record("done", "x", background=True)
    assert finished.cancel()["status"] == "completed"


def test_input_items_get_ids_and_full_shapes():
    items = item_list([
        "plain",
        {"role": "system", "content": "rules"},
        {"type": "message", "id": "msg_mine", "role": "assistant", "content": "earlier"},
        {"role": "user", "content": [{"type": "input_text", "text": "parts"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "reasoning", "summary": []},
    ])
    assert [i["type"] for i in items] == ["message"] * 4 + ["function_call", "function_call_output", "reasoning"]
    assert items[0]["content"] == [{"type": "input_text", "text": "plain"}] and items[0]["role"] == "user"
    assert items[2]["id"] == "msg_mine" and items[2]["content"] == [
        {"type": "output_text", "text": "earlier", "annotations": []}]
    assert all(i["id"] for i in items) and len({i["id"] for i in items}) == len(items)
    assert items[5]["status"] == "completed" and items[6]["id"].startswith("reasoning_")
    assert item_list("one")[0]["content"][0]["text"] == "one"


def test_a_stored_stream_counts_what_it_holds():
    """A streamed response is stored with what re-renders it: its size counts the text and, when
    asked for, the logprobs (which dwarf the text), so the byte bound still bounds memory."""
    from llm_mock import ReplyObject
    from llm_mock.formats.base import Call
    from llm_mock.formats.openai_responses import Responses
    from llm_mock.replies import build_completion, normalise_reply

    class App:
        responses = ResponseStore()

    adapter, text = Responses(), "word " * 400
    sizes = []
    for extra in ({}, {"include": ["message.output_text.logprobs"], "top_logprobs": 20}):
        request = adapter.parse({"model": "gpt-4.1", "input": "hi", "stream": True, **extra},
                                Call("POST", "/v1/responses", app=App))
        events = adapter.render_events(request, build_completion(request, normalise_reply(ReplyObject(text=text)), 10))
        record = App.responses.get(events.context[1])
        assert b"".join(record.events()) == b"".join(frame.data for frame in events.frames)
        sizes.append(record.size)
    assert 2 * len(text) < sizes[0] < 10_000 and sizes[1] > 1_000_000
