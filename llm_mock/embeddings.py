"""Deterministic embedding vectors: the same text always gives the same vector, on every route.

Each word is hashed to a few signed positions of the vector (feature hashing), and the sum is
scaled to length 1. Texts that share words point in similar directions, so similarity searches in
a test behave plausibly; nothing is learned and nothing is random.
"""
from __future__ import annotations

import hashlib
import math
import re

_WORD = re.compile(r"\w+", re.UNICODE)
_SLOTS = 4  # positions each word adds to


def embed(text: str, dimensions: int) -> list[float]:
    """A unit vector of `dimensions` floats for `text` (an empty text gives a fixed vector too)."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, got {dimensions}")
    vector = [0.0] * dimensions
    words = _WORD.findall(text.lower()) or [text]
    for word in words:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8 * _SLOTS).digest()
        for slot in range(_SLOTS):
            value = int.from_bytes(digest[slot * 8:slot * 8 + 8], "little")
            vector[value % dimensions] += 1.0 if value >> 63 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # every contribution cancelled out: fall back to one fixed direction
        vector[0], norm = 1.0, 1.0
    return [round(x / norm, 8) for x in vector]
