"""llm_mock: a mock OpenAI and Anthropic API server for tests."""
from .builder import PendingRule, RuleBuilder, RuleHandle
from .chaos import Chaos
from .history import RecordedRequest, RequestHistory
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, ToolCall
from .request import Message, MockRequest, ToolDef
from .matching import MatchObject
from .config import MockServerOptions
from .engine import RuleSummary
from .server import MockServer
from .remote import RemoteMockServer

__version__ = "0.1.0"

__all__ = [
    "Chaos", "ErrorReply", "Fault", "MatchObject", "Message", "MockRequest", "MockServer", "MockServerOptions",
    "PendingRule", "RecordedRequest", "RemoteMockServer", "ReplyObject", "ReplyOptions", "RequestHistory",
    "RuleBuilder", "RuleHandle",
    "RuleSummary", "ToolCall", "ToolDef",
]
