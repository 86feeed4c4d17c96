"""Deterministic embedding vectors that carry meaning, from the standard library alone.

The method is feature hashing. A text is lower-cased and split into words (runs of letters and
digits); its features are every word (weight 1; a short list of English function words, weight
0.15) and every character 3-gram of each word with boundary marks (`<ru`, `run`, `un>`; weight
0.5/sqrt(n) for a word of n 3-grams, so word pieces count but never outweigh the word). Each
feature is hashed (BLAKE2b, so the result does not depend on the process or platform) to a sign
and to one position in each of the nested prefixes of 64, 256, 1024, 4096 and 16384 positions
(weights 0.5, 1, 1, 1, 1). The vector is the signed, weighted sum, scaled to unit length.

So texts that share words or word pieces point the same way (cosine well above 0), unrelated texts
are nearly orthogonal (cosine near 0, the noise falling as the vector gets longer), the same text
always gives the same vector, and every prefix of a vector is itself a meaningful embedding:
`embed(text, n)` is `embed(text, N)[:n]` scaled back to unit length for any n <= N, which is what
the real APIs' `dimensions` (or `outputDimensionality`) does. A text with no words falls back to its
raw characters; the empty text gets one fixed unit vector.

Used by every route that embeds (OpenAI `/v1/embeddings` and any other format's embedding route).
"""
from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Optional

DEFAULT_DIMENSIONS = 1536
MODEL_DIMENSIONS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536}

_LEVELS = ((64, 0.5), (256, 1.0), (1024, 1.0), (4096, 1.0), (16384, 1.0))  # (prefix length, weight)
_WORD = re.compile(r"\w+")
_FUNCTION_WORDS = (  # English function words: shared by unrelated texts, so they weigh little
    "a an and are as at be been but by can could did do does for from had has have he her his how i if in "
    "into is it its me my no not of on or our she so than that the their them then there these they this to "
    "was we were what when where which who why will with would you your")
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())
_DIGITS = 9  # decimals kept: about float32 precision for the values of a unit vector


def default_dimensions(model: str) -> int:
    """The length a model's vectors have when the request does not say (1536 for unknown models)."""
    return MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list:
    """The unit-length embedding of `text` with `dimensions` values (see the module docstring)."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, got {dimensions}")
    vector = [0.0] * dimensions
    for feature, weight in _features(text):
        for position, signed in _positions(feature):
            if position < dimensions:
                vector[position] += signed * weight
    return _unit(vector, text)


def embed_tokens(tokens: Sequence[int], dimensions: int = DEFAULT_DIMENSIONS) -> list:
    """The embedding of a list of token ids: each id is a word (`[15339, 1917]` embeds "15339 1917")."""
    return embed(" ".join(str(token) for token in tokens), dimensions)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def shorten(vector: Sequence[float], dimensions: int) -> list:
    """The first `dimensions` values scaled back to unit length (what `dimensions` does to a vector)."""
    head = [float(v) for v in vector[:dimensions]]
    norm = math.sqrt(sum(v * v for v in head))
    return [round(v / norm, _DIGITS) for v in head] if norm else head


def to_base64(vector: Iterable[float]) -> str:
    """Little-endian float32 values, base64-encoded: the `encoding_format: "base64"` form."""
    values = list(vector)
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def from_base64(data: str) -> list:
    """The inverse of `to_base64` (float32 precision)."""
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _features(text: str) -> list:
    """(feature, weight) pairs: words, then the 3-grams of each word."""
    words = _WORD.findall(text.lower())
    if not words:
        stripped = "".join(text.split())
        return [("c:" + stripped[i:i + 3], 1.0) for i in range(max(len(stripped) - 2, 1))] if stripped else []
    features = []
    for word in words:
        features.append(("w:" + word, 0.15 if word in _STOPWORDS else 1.0))
        marked = f"<{word}>"
        grams = [marked[i:i + 3] for i in range(len(marked) - 2)]
        weight = 0.5 / math.sqrt(len(grams))
        features.extend(("g:" + gram, weight) for gram in grams)
    return features


@lru_cache(maxsize=1 << 16)
def _positions(feature: str) -> tuple:
    """(position, signed weight) of `feature` in each nested prefix, from one 64-bit hash."""
    import hashlib  # here, not at start: loading it costs a server start ~2 ms (cached below)

    bits = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    sign = 1.0 if bits & 1 else -1.0
    bits >>= 1
    out = []
    for size, weight in _LEVELS:
        out.append((bits % size, sign * weight))
        bits //= size
    return tuple(out)


def _unit(vector: list, text: Optional[str]) -> list:
    norm = math.sqrt(sum(v * v for v in vector))
    if not norm:  # no features (the empty text) or features that cancel out: a fixed unit vector
        vector = [0.0] * len(vector)
        vector[_positions("empty:")[0][0] % len(vector)] = 1.0
        return vector
    return [round(v / norm, _DIGITS) for v in vector]


def check_vectors(value: object) -> list:
    """A rule's `embeddings`: one vector (numbers) or a list of vectors, as given; `ValueError` else."""
    if not isinstance(value, list) or not value:
        raise ValueError("reply field 'embeddings' must be a vector (a list of numbers) or a list of vectors")
    vectors = value if isinstance(value[0], list) else [value]
    for index, vector in enumerate(vectors):
        if not isinstance(vector, list) or not vector or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vector):
            raise ValueError(f"reply field 'embeddings': vector {index} must be a non-empty list of finite numbers")
    return value


def vectors_for(given: Optional[list], count: int) -> list:
    """For each of `count` inputs, the rule's vector for it, or None (compute it)."""
    if not given:
        return [None] * count
    if not isinstance(given[0], list):  # one vector for every input
        return [[float(v) for v in given]] * count
    return [[float(v) for v in given[i]] if i < len(given) else None for i in range(count)]
