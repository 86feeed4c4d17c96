"""Deterministic tokens: about four bytes of UTF-8 per token, as tokenizers average.

No tokenizer is bundled (the package is stdlib-only); the point is usage that is non-zero, grows
with the text, and is identical however the same reply is delivered. One tokenisation serves the
usage estimate, `max_tokens` truncation and log-probabilities alike: token k holds the characters
whose UTF-8 encoding starts in bytes [4k, 4k+4) of the text. So tokens are whole characters, they
concatenate to the text exactly, and there are ceil(bytes / 4) of them, one fewer when the last
four-byte window holds only the tail of a character that started before it.
"""
from __future__ import annotations

from typing import Optional


def estimate_tokens(text: Optional[str]) -> int:
    """Tokens in `text` (0 for empty text): `len(split_tokens(text))`, computed without splitting."""
    if not text:
        return 0
    if text.isascii():
        return (len(text) + 3) // 4
    data = text.encode("utf-8")
    count = (len(data) + 3) // 4
    if all(0x80 <= byte < 0xC0 for byte in data[4 * (count - 1):]):  # the last window starts no character
        count -= 1
    return count


def split_tokens(text: Optional[str]) -> list:
    """The tokens of `text`, in order; `"".join(split_tokens(t)) == t`."""
    if not text:
        return []
    if text.isascii():
        return [text[i:i + 4] for i in range(0, len(text), 4)]
    tokens, start, window, offset = [], 0, 0, 0
    for index, char in enumerate(text):
        if offset >= 4 * (window + 1):  # this character starts in a later window: close the token
            tokens.append(text[start:index])
            start, window = index, offset // 4
        code = ord(char)
        offset += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    tokens.append(text[start:])
    return tokens


def truncate_to_tokens(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` tokens (its first `limit` tokens)."""
    if text.isascii():
        return text[: max(limit, 0) * 4]
    data = text.encode("utf-8")
    cut = max(limit, 0) * 4
    if cut >= len(data):
        return text
    while cut < len(data) and 0x80 <= data[cut] < 0xC0:  # keep the character that starts before the cut
        cut += 1
    return data[:cut].decode("utf-8")
