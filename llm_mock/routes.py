"""The route table: which adapter and handler answer a method and path.

Every adapter declares its routes (`FormatAdapter.routes`); the registry builds one table from
them. Patterns name their variable parts (`/v1beta/models/{model}:generateContent`); a part matches
up to the next `/` (shortest first, so a literal suffix after it still matches) and is URL-decoded.
Literal paths are a dict lookup, the rest regexes tried in declaration order. An unknown path is
answered by the adapter its prefix or the request's headers point to, so a client gets a 404 in
the shape it parses.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Optional
from urllib.parse import unquote

if TYPE_CHECKING:
    from .formats.base import FormatAdapter, Route

_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})  # shared by every literal route's match: read-only


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    adapter: FormatAdapter
    params: Mapping[str, str]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`/a/{name}:verb` → a regex with a named group per part."""
    pieces, at = [], 0
    for part in _PART.finditer(pattern):
        pieces.append(re.escape(pattern[at:part.start()]))
        pieces.append(f"(?P<{part.group(1)}>[^/]+?)")
        at = part.end()
    pieces.append(re.escape(pattern[at:]))
    return re.compile("^" + "".join(pieces) + "$")


class RouteTable:
    """Routes of the given adapters, in order; the first adapter is the default error shape.

    `services` own routes too (the admin API) but are no wire format: they answer their own routes
    and the unknown paths under their prefixes, and are never chosen by a request's headers."""

    def __init__(self, adapters: list, services: tuple = ()):
        self.adapters = list(adapters)
        self.services = tuple(services)
        self._literal: dict = {}  # (method, path) → its RouteMatch, built once
        self._literal_methods: dict = {}  # path → methods
        self._patterns: list = []  # (regex, route, adapter)
        for adapter in (*self.adapters, *self.services):
            for route in adapter.routes:
                if _PART.search(route.pattern):
                    self._patterns.append((compile_pattern(route.pattern), route, adapter))
                else:
                    self._literal.setdefault((route.method, route.pattern), RouteMatch(route, adapter, _NO_PARAMS))
                    self._literal_methods.setdefault(route.pattern, []).append(route.method)

    def match(self, method: str, path: str) -> Optional[RouteMatch]:
        found = self._literal.get((method, path))
        if found is not None:
            return found
        for regex, route, adapter in self._patterns:
            if route.method == method:
                hit = regex.match(path)
                if hit is not None:
                    return RouteMatch(route, adapter, {k: unquote(v) for k, v in hit.groupdict().items()})
        return None

    def allowed(self, path: str) -> list:
        """The methods some route serves on `path` (empty: the path is unknown)."""
        methods = list(self._literal_methods.get(path, ()))
        for regex, route, _ in self._patterns:
            if route.method not in methods and regex.match(path):
                methods.append(route.method)
        return methods

    def adapter_for(self, path: str, headers: Mapping[str, str]) -> FormatAdapter:
        """The adapter whose error shape a request on `path` with `headers` expects."""
        best, length = None, 0
        for adapter in (*self.adapters, *self.services):
            for prefix in adapter.prefixes:
                if path.startswith(prefix) and len(prefix) > length:
                    best, length = adapter, len(prefix)
        return best if best is not None else self.by_headers(headers)

    def by_headers(self, headers: Mapping[str, str]) -> FormatAdapter:
        """The first adapter one of whose header hints the request carries; else the default."""
        for adapter in self.adapters:
            if any(hint in headers for hint in adapter.header_hints):
                return adapter
        return self.adapters[0]
