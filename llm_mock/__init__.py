"""llm_mock: a mock LLM API server for tests (OpenAI, Anthropic, Gemini, Ollama and the clouds)."""
from typing import TYPE_CHECKING, Any

from .builder import PendingRule, RuleBuilder, RuleHandle
from .chaos import Chaos
from .config import MockServerOptions
from .engine import RuleSummary
from .history import RecordedRequest, RequestHistory
from .matching import MatchObject
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, ToolCall
from .request import Message, MockRequest, ToolDef
from .server import MockServer
from .version import __version__

if TYPE_CHECKING:
    from .remote import RemoteMockServer


def __getattr__(name: str) -> Any:
    """`RemoteMockServer` on first use: a server that never drives another need not load its client."""
    if name == "RemoteMockServer":
        from .remote import RemoteMockServer

        return RemoteMockServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Chaos", "ErrorReply", "Fault", "MatchObject", "Message", "MockRequest", "MockServer", "MockServerOptions",
    "PendingRule", "RecordedRequest", "RemoteMockServer", "ReplyObject", "ReplyOptions", "RequestHistory",
    "RuleBuilder", "RuleHandle",
    "RuleSummary", "ToolCall", "ToolDef", "__version__",
]
