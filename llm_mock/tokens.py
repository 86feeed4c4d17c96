"""Deterministic token estimates: about four bytes of UTF-8 per token, as tokenizers average.

No tokenizer is bundled (the package is stdlib-only); the point is usage that is non-zero, grows
with the text, and is identical however the same reply is delivered.
"""
from __future__ import annotations

from typing import Optional


def estimate_tokens(text: Optional[str]) -> int:
    """Tokens in `text`: ceil(utf-8 bytes / 4), 0 for empty text."""
    if not text:
        return 0
    return (len(text.encode("utf-8")) + 3) // 4


def truncate_to_tokens(text: str, limit: int) -> str:
    """The longest prefix of `text` whose estimate is at most `limit` tokens (whole characters only)."""
    if estimate_tokens(text) <= limit:
        return text
    return text.encode("utf-8")[: limit * 4].decode("utf-8", errors="ignore")
