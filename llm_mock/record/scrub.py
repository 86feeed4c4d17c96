"""Scrubbing: what a recording must never hold, removed before anything reaches the disk.

Credential headers are dropped whole (`Authorization`, `x-api-key`, `api-key`, `x-goog-api-key`,
cookies, AWS session tokens); `key=` query values (Gemini's `?key=`) are replaced. Every other
header value, every body and every stream frame is scrubbed of API-key shapes (OpenAI `sk-…`,
Anthropic `sk-ant-…`, Google `AIza…`, AWS access key ids, bearer tokens) and of the user's own
patterns (`--redact REGEX`), each match replaced by one fixed marker.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote

MARKER = "[redacted]"

DROPPED_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
    "x-amz-security-token",
})
"""Request or response headers that carry a credential: never stored, whatever their value."""

SECRET_QUERY_KEYS = frozenset({"key", "api_key", "api-key", "access_token", "token"})

_START = r"(?<![A-Za-z0-9_\-])"  # a key starts a word: "task-list-…" holds no "sk-" key
KEY_SHAPES = (
    _START + r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic (sk-ant-api03-…, sk-ant-admin01-…)
    _START + r"sk-[A-Za-z0-9_\-]{16,}",  # OpenAI (sk-…, sk-proj-…, sk-svcacct-…)
    _START + r"AIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    _START + r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",  # AWS access key ids
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/\-]{8,}=*",  # a bearer token, wherever it appears
)
"""API-key shapes scrubbed from every header value, body and frame."""


class Scrubber:
    """Replaces key shapes and the user's patterns with `MARKER`; drops credential headers."""

    def __init__(self, patterns: Iterable[str] = ()):
        extra = []
        for pattern in patterns:
            try:
                extra.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"--redact {pattern!r} is not a valid regex: {exc}") from None
            if extra[-1].match(""):
                raise ValueError(f"--redact {pattern!r} matches the empty string; it would redact nothing useful")
        self._patterns = [re.compile("|".join(f"(?:{shape})" for shape in KEY_SHAPES)), *extra]

    def text(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(MARKER, text)
        return text

    def data(self, data: bytes) -> bytes:
        """Bytes scrubbed as UTF-8 text (bytes that are not UTF-8 pass through the key shapes as
        Latin-1, which keeps every byte where it was)."""
        try:
            return self.text(data.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return self.text(data.decode("latin-1")).encode("latin-1", "replace")

    def value(self, value: Any) -> Any:
        """A JSON value with every string (keys included) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def headers(self, pairs: Iterable[tuple]) -> list:
        """Header pairs without credential headers, the others' values scrubbed."""
        return [(name, self.text(value)) for name, value in pairs if name.lower() not in DROPPED_HEADERS]

    def target(self, target: str) -> str:
        """A path with its query: secret query values replaced, the rest scrubbed."""
        path, mark, query = target.partition("?")
        if not mark:
            return self.text(path)
        pairs = [(k, MARKER if k.lower() in SECRET_QUERY_KEYS else v)
                 for k, v in parse_qsl(query, keep_blank_values=True)]
        return self.text(path + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='[]')}" for k, v in pairs))
