"""Matcher types, importable where the project llm_mock replaces kept them."""
from ..engine import PendingRule, RuleHandle, RuleSummary
from ..rules import Match, MatchObject

__all__ = ["Match", "MatchObject", "PendingRule", "RuleHandle", "RuleSummary"]
