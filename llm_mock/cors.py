"""CORS (`cors=True`, `--cors`; off by default): what lets a browser SDK (`openai` with
`dangerouslyAllowBrowser`, `@anthropic-ai/sdk` likewise) call the server from a page on another
origin. Every answer carries `Access-Control-Allow-Origin` (the request's `Origin`) and exposes its
headers (request ids, `retry-after` …) to the page; a preflight `OPTIONS` gets the methods of the
path and the request headers it asked for (`Authorization`, `x-api-key`, `anthropic-version`, the
SDKs' `x-stainless-*` …), and the private-network permission Chrome asks of a loopback server."""
from __future__ import annotations

from collections.abc import Mapping

MAX_AGE = "86400"


def response_headers(request_headers: Mapping[str, str]) -> list:
    """Headers for every answer to a request from `Origin` (none without one: not a browser)."""
    origin = request_headers.get("origin")
    if not origin:
        return []
    return [("access-control-allow-origin", origin), ("vary", "Origin"), ("access-control-expose-headers", "*")]


def preflight_headers(request_headers: Mapping[str, str], allowed: list) -> list:
    """Headers of the 204 to a preflight `OPTIONS` on a path serving the `allowed` methods."""
    headers = response_headers(request_headers)
    if not headers:
        return []
    asked = request_headers.get("access-control-request-headers")
    headers += [("access-control-allow-methods", ", ".join(allowed)),
                ("access-control-allow-headers", asked or "*"),
                ("access-control-max-age", MAX_AGE)]
    if request_headers.get("access-control-request-private-network", "").lower() == "true":
        headers.append(("access-control-allow-private-network", "true"))
    return headers
