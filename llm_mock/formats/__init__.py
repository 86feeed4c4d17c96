"""The registry of wire formats: request path → adapter. A new format is one module and one line here."""
from __future__ import annotations

from .anthropic import Messages
from .base import FormatAdapter
from .openai_chat import ChatCompletions
from .openai_responses import Responses

ADAPTERS: dict = {adapter.path: adapter for adapter in (
    ChatCompletions(),
    Responses(),
    Messages(),
)}
BY_NAME: dict = {adapter.name: adapter for adapter in ADAPTERS.values()}
ROUTES: tuple = tuple(ADAPTERS)

__all__ = ["ADAPTERS", "BY_NAME", "ROUTES", "FormatAdapter"]
