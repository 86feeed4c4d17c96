"""The registry of wire formats. A new format is one module and one line in `ADAPTERS`.

Each adapter declares its routes; `table()` is the route table built from all of them, and
`names()` the format names rules may match on (`format=`). `register`/`unregister` add a format
at run time (a test's own format, a plugin). `SERVICES` own routes in the same table without being
formats (no `format=` name, no completion route): the admin API, added by `server.py` because it
builds on the rule engine and the loader, which themselves read this registry.
"""
from __future__ import annotations

from ..routes import RouteTable
from .anthropic import Messages
from .azure import AzureChatCompletions, AzureCompletions, AzureEmbeddings, AzureResponses
from .base import FormatAdapter
from .bedrock import BedrockMessages
from .gemini import Gemini
from .ollama import Ollama
from .openai_chat import ChatCompletions
from .openai_completions import Completions
from .openai_embeddings import Embeddings
from .openai_responses import Responses
from .vertex import VertexMessages

ADAPTERS: list = [
    ChatCompletions(),
    Responses(),
    Messages(),
    Embeddings(),
    Completions(),
    Gemini(),
    Ollama(),
    AzureChatCompletions(),
    AzureResponses(),
    AzureCompletions(),
    AzureEmbeddings(),
    BedrockMessages(),
    VertexMessages(),
]

SERVICES: list = []

_table = RouteTable(ADAPTERS)


def table() -> RouteTable:
    """The route table of every registered adapter."""
    return _table


def names() -> tuple:
    """The format names, each once, in registration order."""
    return tuple(dict.fromkeys(adapter.name for adapter in ADAPTERS))


def completion_paths() -> list:
    """The path patterns that answer completions (`POST`, parse → rules → render), in order."""
    return [route.pattern for adapter in ADAPTERS for route in adapter.routes
            if route.handler is None and route.method == "POST"]


def by_name(name: str) -> FormatAdapter:
    """The first adapter of format `name` (its own routes, not a transport's)."""
    for adapter in ADAPTERS:
        if adapter.name == name and not adapter.transport:
            return adapter
    raise KeyError(name)


def register(adapter: FormatAdapter) -> None:
    """Add a format (its routes answer at once)."""
    ADAPTERS.append(adapter)
    _rebuild()


def unregister(adapter: FormatAdapter) -> None:
    ADAPTERS.remove(adapter)
    _rebuild()


def add_service(service: object) -> None:
    """Serve a route owner that is no format (once; adding it again does nothing)."""
    if service not in SERVICES:
        SERVICES.append(service)
        _rebuild()


def _rebuild() -> None:
    global _table
    _table = RouteTable(ADAPTERS, tuple(SERVICES))


__all__ = ["ADAPTERS", "SERVICES", "FormatAdapter", "add_service", "by_name", "completion_paths", "names", "register",
           "table", "unregister"]
