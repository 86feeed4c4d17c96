"""llm_mock: a mock OpenAI and Anthropic API server for tests."""
from .engine import PendingRule, RuleHandle, RuleSummary
from .faults import Chaos
from .history import RecordedRequest, RequestHistory
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, ToolCall
from .request import Message, MockRequest, ToolDef
from .rules import MatchObject
from .server import MockServer, MockServerOptions

__version__ = "0.1.0"

__all__ = [
    "Chaos", "ErrorReply", "Fault", "MatchObject", "Message", "MockRequest", "MockServer", "MockServerOptions",
    "PendingRule", "RecordedRequest", "ReplyObject", "ReplyOptions", "RequestHistory", "RuleHandle",
    "RuleSummary", "ToolCall", "ToolDef",
]
