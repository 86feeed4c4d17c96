"""Matcher types, importable where the project llm_mock replaces kept them."""
from ..builder import PendingRule, RuleHandle
from ..engine import RuleSummary
from ..matching import Match, MatchObject

__all__ = ["Match", "MatchObject", "PendingRule", "RuleHandle", "RuleSummary"]
