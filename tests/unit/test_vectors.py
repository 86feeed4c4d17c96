"""The shared embedding function and the embeddings adapter as pure functions (no socket)."""
from __future__ import annotations

import json
import math
import random

import pytest

from llm_mock.embeddings import (
    check_vectors,
    cosine,
    default_dimensions,
    embed,
    embed_tokens,
    from_base64,
    shorten,
    to_base64,
    vectors_for,
)
from llm_mock.formats.base import Call
from llm_mock.formats.openai_embeddings import EmbeddingRequest, Embeddings
from llm_mock.replies import ReplyObject, build_completion, normalise_reply
from llm_mock.request import RequestError


def norm(vector) -> float:
    return math.sqrt(math.fsum(v * v for v in vector))


def test_same_text_same_vector_across_calls_and_lengths():
    assert embed("Hello, world") == embed("Hello, world")
    assert embed("Hello, world") == embed("hello world")  # case and punctuation are not words
    for size in (1, 3, 64, 100, 1536, 3072, 5000):
        vector = embed("a text to embed", size)
        assert len(vector) == size and math.isclose(norm(vector), 1.0, rel_tol=1e-6)


def test_every_prefix_is_the_shortened_vector():
    full = embed("nested prefixes keep every feature", 3072)
    for size in (64, 256, 700, 1536):
        short = embed("nested prefixes keep every feature", size)
        assert all(math.isclose(a, b, abs_tol=1e-7) for a, b in zip(shorten(full, size), short, strict=True))


def test_shared_words_and_word_pieces_raise_similarity():
    base = embed("the runner was running in the park")
    assert cosine(base, embed("a runner runs in a park")) > 0.3
    assert cosine(embed("running"), embed("runner")) > cosine(embed("running"), embed("banana"))
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(200)]
    pairs = [(embed(" ".join(words[i:i + 5])), embed(" ".join(words[i + 100:i + 105]))) for i in range(0, 100, 5)]
    scores = [abs(cosine(a, b)) for a, b in pairs]
    assert max(scores) < 0.12 and sum(scores) / len(scores) < 0.05  # unrelated: near orthogonal


def test_texts_without_words_and_empty_text_still_give_unit_vectors():
    for text in ("", "!!!", "…", "  "):
        assert math.isclose(norm(embed(text, 32)), 1.0, rel_tol=1e-6)
    assert embed("!!!") != embed("???")


def test_token_ids_embed_as_words():
    assert embed_tokens([15339, 1917], 16) == embed("15339 1917", 16)


def test_base64_round_trip_is_little_endian_float32():
    vector = [0.1, -0.2, 0.3, -0.4]
    assert to_base64(vector) == "zczMPc3MTL6amZk+zczMvg=="  # the reference's worked example
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(from_base64(to_base64(vector)), vector, strict=False))


def test_model_dimensions():
    assert default_dimensions("text-embedding-3-large") == 3072
    assert default_dimensions("text-embedding-3-small") == default_dimensions("anything") == 1536


def test_rule_vectors_are_checked_and_assigned_per_input():
    assert vectors_for([1, 2], 2) == [[1.0, 2.0], [1.0, 2.0]]
    assert vectors_for([[1], [2]], 3) == [[1.0], [2.0], None]
    assert vectors_for(None, 2) == [None, None]
    for bad in ([], "x", [[1], "y"], [1, True], [float("nan")], [[]]):
        with pytest.raises(ValueError):
            check_vectors(bad)
    assert normalise_reply({"embeddings": [0.5, 0.5]}).embeddings == [0.5, 0.5]
    with pytest.raises(ValueError, match="embeddings"):
        normalise_reply(ReplyObject(embeddings=["a"]))


def parse(body: dict) -> EmbeddingRequest:
    request = Embeddings().parse(body, Call("POST", "/v1/embeddings"))
    assert isinstance(request, EmbeddingRequest)
    return request


def test_parse_normalises_inputs_into_messages():
    request = parse({"model": "text-embedding-3-small", "input": ["first text", "second text"]})
    assert [m.content for m in request.messages] == ["first text", "second text"]
    assert request.last_message == "first text\nsecond text" and request.format == "embeddings"
    assert request.input_tokens == 6 and not request.stream
    assert parse({"model": "m", "input": [[1, 2], [3]]}).inputs == [[1, 2], [3]]
    assert parse({"model": "m", "input": [1, 2]}).inputs == [[1, 2]]


@pytest.mark.parametrize("body", [{"input": "x"}, {"model": "m"}, {"model": "m", "input": 5},
                                  {"model": "m", "input": [True]}, {"model": "m", "input": [-1]},
                                  {"model": "m", "input": "x", "dimensions": "8"}])
def test_parse_rejects(body):
    with pytest.raises(RequestError):
        parse(body)


def test_render_uses_the_rule_vectors_then_computes_and_encodes():
    adapter = Embeddings()
    request = parse({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8,
                     "encoding_format": "base64"})
    completion = build_completion(request, normalise_reply({"embeddings": [[1, 0]], "text": "ignored"}), 0)
    body = json.loads(json.dumps(adapter.render_json(request, completion)))
    assert from_base64(body["data"][0]["embedding"]) == [1.0, 0.0]
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(from_base64(body["data"][1]["embedding"]),
                                                                embed("b", 8), strict=False))
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    overridden = build_completion(request, normalise_reply({"usage": {"input": 99}}), 0)
    assert adapter.render_json(request, overridden)["usage"]["prompt_tokens"] == 99
