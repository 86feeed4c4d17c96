"""llm_mock: a mock LLM API server for tests (OpenAI, Anthropic, Gemini, Ollama and the clouds)."""
from .builder import PendingRule, RuleBuilder, RuleHandle
from .chaos import Chaos
from .config import MockServerOptions
from .engine import RuleSummary
from .history import RecordedRequest, RequestHistory
from .matching import MatchObject
from .remote import RemoteMockServer
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, ToolCall
from .request import Message, MockRequest, ToolDef
from .server import MockServer
from .version import __version__

__all__ = [
    "Chaos", "ErrorReply", "Fault", "MatchObject", "Message", "MockRequest", "MockServer", "MockServerOptions",
    "PendingRule", "RecordedRequest", "RemoteMockServer", "ReplyObject", "ReplyOptions", "RequestHistory",
    "RuleBuilder", "RuleHandle",
    "RuleSummary", "ToolCall", "ToolDef", "__version__",
]
