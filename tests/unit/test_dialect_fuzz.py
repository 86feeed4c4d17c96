"""Seeded fuzzing of the Gemini and Ollama adapters: valid bodies with values swapped for wrong
types or deleted must parse and render, or fail with a `RequestError` (a 400), never anything else."""
from __future__ import annotations

import copy
import json
import random

import pytest

from llm_mock.formats import gemini, ollama
from llm_mock.formats.base import Call, Route
from llm_mock.replies import ReplyObject, ToolCall, build_completion
from llm_mock.request import RequestError

VALUES = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": 1}, [{}], [None], {"text": 1}, "user", "model",
          [{"text": "hi"}]]
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png",
                                                                                  "data": "AA=="}}]},
                       {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}, "id": "1"}}]},
                       {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 1}}}]}],
          "systemInstruction": {"parts": [{"text": "s"}]},
          "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}, {"googleSearch": {}}],
          "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
          "generationConfig": {"maxOutputTokens": 50, "candidateCount": 2, "thinkingConfig": {"includeThoughts": True}},
          "content": {"parts": [{"text": "e"}]},
          "requests": [{"content": {"parts": [{"text": "e"}]}, "outputDimensionality": 4}],
          "generateContentRequest": {"contents": [{"parts": [{"text": "x"}]}]}}
OLLAMA = {"model": "m",
          "messages": [{"role": "user", "content": "hi", "images": ["AA=="]},
                       {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
                       {"role": "tool", "content": "r", "tool_name": "f"}],
          "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "think": True,
          "format": "json", "options": {"num_predict": 20}, "prompt": "p", "system": "s", "input": ["a", "b"],
          "dimensions": 4, "stream": False}
REPLY = ReplyObject(text="hello world", reasoning="r", tools=[ToolCall("f", {"a": 1})])
CASES = {"gemini": (GEMINI, gemini.Gemini(), (gemini.count_tokens, gemini.embed_content, gemini.batch_embed_contents)),
         "ollama": (OLLAMA, ollama.Ollama(), (ollama.embed_route, ollama.embeddings_route, ollama.show, ollama.pull))}


def _paths(value, prefix=()):
    if prefix:
        yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _mutate(base: dict, rng: random.Random) -> dict:
    body = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(body))
        if not paths:
            break
        path = rng.choice(paths)
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return body


@pytest.mark.parametrize("name", CASES)
def test_broken_bodies_are_400s(name):
    base, adapter, handlers = CASES[name]
    rng = random.Random(20261201)
    for _ in range(1500):
        body = _mutate(base, rng)
        route = Route("POST", "/x", options={"stream": True, "generate": rng.random() < 0.5})
        target = "/x?alt=sse" if rng.random() < 0.5 else "/x"
        call = Call("POST", "/x", {"model": "m"}, {}, {}, json.dumps(body).encode(), None, route, target)
        try:
            request = adapter.parse(body, call)
            completion = build_completion(request, REPLY, 3)
            json.dumps(adapter.render_json(request, completion))
            assert adapter.render_events(request, completion).frames
        except RequestError as error:
            assert error.status == 400 and error.message
        for handler in handlers:
            try:
                json.dumps(handler(call, adapter), default=repr)
            except RequestError as error:
                assert error.status == 400 and error.message
