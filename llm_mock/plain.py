"""Plain records: slotted classes whose `repr` and equality read their slots.

The internal records every server start creates (routes, calls, frames, completions, resolutions…)
are these rather than dataclasses: a dataclass is built by compiling generated source at import, about
half a millisecond each, and a cold start paid that for every one. The public types (`Rule`,
`MockRequest`, the replies, the options) stay dataclasses.
"""
from __future__ import annotations

from typing import Any


class Plain:
    """Subclasses list their fields in `__slots__` and write their own `__init__`."""

    __slots__ = ()

    def _values(self) -> tuple:
        names: tuple[str, ...] = self.__slots__
        return tuple(getattr(self, name) for name in names)

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())
