"""The recorder's readers for Gemini, Ollama, legacy completions, embeddings and Bedrock's event stream,
as pure functions: an answer's bytes in, a rule's reply out."""
from __future__ import annotations

import json

import llm_mock.record  # noqa: F401  (registers the dialect readers)
from llm_mock.embeddings import to_base64
from llm_mock.framing import EventStream
from llm_mock.record.extract import aws_events, error_of, reply_of

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def gemini_chunk(parts: list, finish: str = "", usage: dict | None = None) -> dict:
    candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage or {"promptTokenCount": 5}}


def test_gemini_json_with_thoughts_signature_and_a_call():
    body = gemini_chunk([{"text": "Hmm.", "thought": True, "thoughtSignature": "SIG"}, {"text": "Sure."},
                         {"functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"}}], "STOP",
                        {"promptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 3})
    assert reply_of("gemini", 200, JSON, json.dumps(body).encode(), False) == {
        "text": "Sure.", "reasoning": "Hmm.", "signature": "SIG",
        "tools": [{"name": "f", "args": {"a": 1}, "id": "c1"}], "usage": {"input": 5, "output": 10, "reasoning": 3}}


def test_gemini_streams_sse_and_json_array_alike():
    chunks = [gemini_chunk([{"text": "Hel"}]), gemini_chunk([{"text": "lo"}], "MAX_TOKENS",
                                                           {"promptTokenCount": 5, "candidatesTokenCount": 2})]
    expected = {"text": "Hello", "usage": {"input": 5, "output": 2},
                "fault": {"kind": "incomplete", "after_chars": 5}}
    assert reply_of("gemini", 200, SSE, sse(*chunks), True) == expected
    array = ("[" + ",\r\n".join(json.dumps(c) for c in chunks) + "]").encode()
    assert reply_of("gemini", 200, JSON, array, True) == expected
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    cut = ("[" + json.dumps(chunks[0]) + "\r\n," + json.dumps(error) + "]").encode()
    assert reply_of("gemini", 200, JSON, cut, True)["fault"] == {
        "kind": "error", "after_chars": 3, "error": {"status": 503, "message": "The model is overloaded.",
                                                      "type": "UNAVAILABLE"}}


def test_gemini_safety_stop_is_a_content_filter():
    body = json.dumps(gemini_chunk([{"text": "I"}], "SAFETY")).encode()
    assert reply_of("gemini", 200, JSON, body, False)["fault"] == {
        "kind": "incomplete", "after_chars": 1, "reason": "content_filter"}


def test_google_errors_keep_their_status_name_and_retry_delay():
    body = {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}
    assert error_of(429, {}, json.dumps(body).encode()) == {
        "status": 429, "message": "Quota", "type": "RESOURCE_EXHAUSTED", "retry_after": 7.0}


def test_ollama_chat_ndjson_json_and_generate():
    lines = [{"message": {"role": "assistant", "content": "", "thinking": "Hm"}, "done": False},
             {"message": {"role": "assistant", "content": "Hi"}, "done": False},
             {"message": {"role": "assistant", "content": "", "tool_calls": [
                 {"id": "call_1", "function": {"index": 0, "name": "f", "arguments": {"x": 2}}}]}, "done": False},
             {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
              "prompt_eval_count": 9, "eval_count": 4}]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    expected = {"text": "Hi", "reasoning": "Hm", "tools": [{"name": "f", "args": {"x": 2}, "id": "call_1"}],
                "usage": {"input": 9, "output": 4}}
    assert reply_of("ollama", 200, {"content-type": "application/x-ndjson"}, body, True) == expected
    whole = {"message": {"role": "assistant", "content": "Hi", "thinking": "Hm", "tool_calls": lines[2]["message"][
        "tool_calls"]}, "done": True, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 4}
    assert reply_of("ollama", 200, JSON, json.dumps(whole).encode(), False) == expected
    generate = {"response": "Long", "done": True, "done_reason": "length", "prompt_eval_count": 2, "eval_count": 1}
    assert reply_of("ollama", 200, JSON, json.dumps(generate).encode(), False) == {
        "text": "Long", "usage": {"input": 2, "output": 1}, "fault": {"kind": "incomplete", "after_chars": 4}}
    broken = json.dumps(lines[1]).encode() + b'\n{"error":"model crashed"}\n'
    assert reply_of("ollama", 200, {"content-type": "application/x-ndjson"}, broken, True)["fault"] == {
        "kind": "error", "after_chars": 2, "error": {"status": 500, "message": "model crashed"}}
    assert reply_of("ollama", 404, JSON, b'{"error":"model \\"x\\" not found"}', False) == {
        "error": {"status": 404, "message": 'model "x" not found'}}


def test_legacy_completions_json_and_stream():
    body = {"choices": [{"text": "Once", "index": 0, "finish_reason": "length", "logprobs": None}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}}
    expected = {"text": "Once", "usage": {"input": 2, "output": 1}, "fault": {"kind": "incomplete", "after_chars": 4}}
    assert reply_of("completions", 200, JSON, json.dumps(body).encode(), False) == expected
    stream = (sse({"choices": [{"text": "On", "index": 0, "finish_reason": None}]},
                  {"choices": [{"text": "ce", "index": 0, "finish_reason": "length"}]},
                  {"choices": [], "usage": body["usage"]}) + b"data: [DONE]\r\n\r\n")
    assert reply_of("completions", 200, SSE, stream, True) == expected


def test_embeddings_float_and_base64():
    vector = [0.5, -0.25, 1.0]
    body = {"data": [{"object": "embedding", "index": 0, "embedding": to_base64(vector)}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}}
    assert reply_of("embeddings", 200, JSON, json.dumps(body).encode(), False) == {
        "embeddings": [vector], "usage": {"input": 4}}
    body["data"] = [{"index": 1, "embedding": [1.0]}, {"index": 0, "embedding": vector}]
    assert reply_of("embeddings", 200, JSON, json.dumps(body).encode(), False)["embeddings"] == [vector, [1.0]]


def test_bedrock_event_stream_decoded_back_to_anthropic_events():
    events = [{"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}]
    body = b"".join(EventStream.chunk(json.dumps(e).encode()).data for e in events)
    assert aws_events(body) == [(None, e) for e in events]
    failed = body + EventStream.exception("throttlingException", {"message": "slow down"}).data
    media = {"content-type": "application/vnd.amazon.eventstream"}
    assert reply_of("anthropic", 200, media, failed, True)["fault"] == {
        "kind": "error", "after_chars": 2, "error": {"status": 429, "message": "slow down",
                                                      "type": "ThrottlingException"}}
    assert aws_events(body[:-3]) == [(None, e) for e in events[:2]]  # a message cut short is not read
    headers = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    assert error_of(429, headers, b'{"message":"Too many requests"}') == {
        "status": 429, "message": "Too many requests", "type": "ThrottlingException"}
