"""llm_mock: a mock OpenAI and Anthropic API server for tests."""
from .builder import PendingRule, RuleBuilder, RuleHandle
from .chaos import Chaos
from .config import MockServerOptions
from .engine import RuleSummary
from .history import RecordedRequest, RequestHistory
from .matching import MatchObject
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, ToolCall
from .request import Message, MockRequest, ToolDef
from .server import MockServer

__version__ = "0.1.0"

__all__ = [
    "Chaos", "ErrorReply", "Fault", "MatchObject", "Message", "MockRequest", "MockServer", "MockServerOptions",
    "PendingRule", "RecordedRequest", "ReplyObject", "ReplyOptions", "RequestHistory", "RuleBuilder", "RuleHandle",
    "RuleSummary", "ToolCall", "ToolDef",
]
