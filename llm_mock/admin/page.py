"""The journal page: `GET /__llm_mock/`, one self-contained HTML file (no external scripts, fonts
or CDNs; its policy header forbids them) that polls the journal and explains each request."""
from __future__ import annotations

from typing import Optional

from ..formats.base import Answer, Call

_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
           "img-src 'self' data:; base-uri 'none'; form-action 'none'")
_page: Optional[bytes] = None


def page(call: Call) -> Answer:
    global _page
    if _page is None:
        from importlib import resources  # here: only the page reads a package file

        _page = (resources.files(__package__) / "page.html").read_bytes()
    return Answer(_page, 200, (("content-security-policy", _POLICY), ("cache-control", "no-store")),
                  "text/html; charset=utf-8")


def to_page(call: Call) -> Answer:
    """`/__llm_mock` → `/__llm_mock/` (relative, so a `/session/{id}` prefix stays)."""
    return Answer(b"", 308, (("location", "__llm_mock/"),), "text/plain")
