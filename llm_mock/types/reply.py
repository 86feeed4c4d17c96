"""Reply types, importable where the project llm_mock replaces kept them."""
from ..replies import ErrorReply, Fault, Reply, ReplyObject, ReplyOptions, Resolver, ToolCall

__all__ = ["ErrorReply", "Fault", "Reply", "ReplyObject", "ReplyOptions", "Resolver", "ToolCall"]
