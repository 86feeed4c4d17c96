"""The route table: which adapter and handler answer a method and path.

Every adapter declares its routes (`FormatAdapter.routes`); the registry builds one table from
them. Patterns name their variable parts (`/v1beta/models/{model}:generateContent`); a part matches
up to the next `/` (shortest first, so a literal suffix after it still matches) and is URL-decoded.
Literal paths are a dict lookup, the rest regexes tried in declaration order (each compiled the
first time a path starts with its literal head, so a server start compiles none). An unknown path is
answered by the adapter its prefix or the request's headers point to, so a client gets a 404 in
the shape it parses.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Optional
from urllib.parse import unquote

from .plain import Plain

if TYPE_CHECKING:
    from .formats.base import FormatAdapter, Route

_PART = r"\{([A-Za-z_][A-Za-z0-9_]*)\}"  # compiled (and cached by `re`) on first use
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})  # shared by every literal route's match: read-only


class RouteMatch(Plain):
    """The route a request took, its adapter and the named parts of its path (URL-decoded)."""

    __slots__ = ("route", "adapter", "params")

    def __init__(self, route: Route, adapter: FormatAdapter, params: Mapping[str, str]):
        self.route, self.adapter, self.params = route, adapter, params


class _Pattern:
    """A route with named parts: its literal head is checked first, its regex compiled on first need."""

    __slots__ = ("route", "adapter", "head", "_regex")

    def __init__(self, route: Route, adapter: FormatAdapter):
        self.route, self.adapter = route, adapter
        self.head = route.pattern[:route.pattern.index("{")]
        self._regex: Optional[re.Pattern[str]] = None

    def match(self, path: str) -> Optional[re.Match[str]]:
        if not path.startswith(self.head):
            return None
        if self._regex is None:
            self._regex = compile_pattern(self.route.pattern)
        return self._regex.match(path)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`/a/{name}:verb` → a regex with a named group per part."""
    pieces, at = [], 0
    for part in re.finditer(_PART, pattern):
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
        self._patterns: list = []  # _Pattern, in order
        for adapter in (*self.adapters, *self.services):
            for route in adapter.routes:
                if "{" in route.pattern:
                    self._patterns.append(_Pattern(route, adapter))
                else:
                    self._literal.setdefault((route.method, route.pattern), RouteMatch(route, adapter, _NO_PARAMS))
                    self._literal_methods.setdefault(route.pattern, []).append(route.method)

    def match(self, method: str, path: str) -> Optional[RouteMatch]:
        found = self._literal.get((method, path))
        if found is not None:
            return found
        for pattern in self._patterns:
            if pattern.route.method == method:
                hit = pattern.match(path)
                if hit is not None:
                    return RouteMatch(pattern.route, pattern.adapter,
                                      {k: unquote(v) for k, v in hit.groupdict().items()})
        return None

    def allowed(self, path: str) -> list:
        """The methods some route serves on `path` (empty: the path is unknown)."""
        methods = list(self._literal_methods.get(path, ()))
        for pattern in self._patterns:
            if pattern.route.method not in methods and pattern.match(path):
                methods.append(pattern.route.method)
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
