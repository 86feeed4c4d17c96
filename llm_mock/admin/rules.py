"""Admin routes over the rules: list, add (in the rule-file dialect), change, remove; the next
error, the fallback, reset, exhaustion and health."""
from __future__ import annotations

import re
import time
from typing import Any, Optional

from .. import schema
from ..builder import RuleHandle
from ..engine import Rule
from ..formats.base import Call
from ..loader import check_data
from ..request import RequestError
from ..version import __version__
from .common import error_answer, flag, read_json, scope

_DOCUMENT_KEYS = ("templates", "fallback", "rules")
_REF = re.compile(r"^(?:(\d+)|r(\d+))$")
MAX_RULES = 10_000  # per server or session: what one POST can leave behind is bounded


def rule_json(rule: Rule, index: Optional[int]) -> dict:
    """A rule as the admin API lists it (`remaining` null: unlimited)."""
    return {"index": index, "id": f"r{rule.id}", "description": rule.description, "remaining": rule.remaining,
            "served": rule.served, "steps": len(rule.sequence) if rule.sequence is not None else None,
            "first": rule.first, "source": rule.source, "done": rule.done}


def health(call: Call) -> dict:
    app = call.app
    return {"status": "ok", "version": __version__, "rules": len(app.engine),
            "uptime_s": round(time.monotonic() - app.started_at, 3), "requests": app.history.count(),
            "sessions": len(app.sessions)}


def list_sessions(call: Call) -> list:
    now = time.monotonic()
    return [{"session": s.name, "rules": len(s.engine), "requests": s.history.count(),
             "idle_s": round(now - s.used, 3), "url": s.url} for s in call.app.sessions.all()]


def delete_session(call: Call) -> dict:
    name = call.params["id"]
    session = call.app.sessions.remove(name)
    if session is None:
        raise RequestError(f"no session {name!r}", "id", 404)
    return {"removed": name, "rules": len(session.engine), "requests": session.history.count()}


def clear_sessions(call: Call) -> dict:
    return {"removed": call.app.sessions.clear()}


def list_rules(call: Call) -> list:
    return [rule_json(rule, index) for index, rule in enumerate(scope(call).engine.snapshot())]


def add_rules(call: Call) -> Any:
    """`POST /rules`: a rule object, an array of rules, or `{rules, templates?, fallback?}`,
    checked as a rule file is; any problem and nothing is added."""
    target = scope(call)
    first, replace = flag(call, "first"), flag(call, "replace")
    data = read_json(call)
    if isinstance(data, dict) and not ("rules" in data or "templates" in data or set(data) <= {"fallback"}):
        data = [data]  # one rule
    loaded, problems = check_data(data, "admin")
    if problems:
        lines = [": ".join(str(part) for part in (f"rule {p.rule}" if p.rule is not None else None, p.field, p.reason)
                           if part) for p in problems]
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        return error_answer(400, f"{count}, nothing added: " + "\n".join(lines),
                            problems=[{"rule": p.rule, "field": p.field, "reason": p.reason} for p in problems])
    rules = loaded.rules
    engine = target.engine
    if len(rules) + (0 if replace else len(engine)) > MAX_RULES:
        owner = "server" if target is call.app else "session"
        raise RequestError(f"too many rules: at most {MAX_RULES} per {owner}")
    for rule in rules:
        rule.source = "admin"
        rule.first = rule.first or first
    if replace:
        engine.replace(rules, loaded.fallback if loaded.fallback is not None else engine.fallback)
    else:
        engine.insert([rule for rule in rules if rule.first], [rule for rule in rules if not rule.first])
        if loaded.fallback is not None:
            target.fallback(loaded.fallback)
    positions = {id(rule): index for index, rule in enumerate(engine.snapshot())}
    return {"added": len(rules), "rules": [rule_json(rule, positions.get(id(rule))) for rule in rules]}


def clear_rules(call: Call) -> dict:
    engine = scope(call).engine
    removed = len(engine)
    engine.replace([], engine.fallback)
    return {"removed": removed}


def change_rule(call: Call) -> dict:
    """`PATCH /rules/{index}` with `{times?, first?, chaos?}`: what `.times(n)`, `.first()` and
    `.chaos(c)` after `.reply()` do."""
    target = scope(call)
    index, rule = _find(target, call.params["index"])
    data = read_json(call)
    if not isinstance(data, dict):
        raise RequestError(f"the body must be an object {{times?, first?, chaos?}}, not {schema.kind(data)}")
    try:
        spec = schema.keys(data, ("times", "first", "chaos"), "")
        times = schema.count(spec["times"], spec.field("times")) if "times" in spec else None
        chaos = schema.chaos(spec["chaos"], spec.field("chaos")) if "chaos" in spec else None
        first = schema.flag(spec["first"], spec.field("first")) if "first" in spec else False
    except schema.Invalid as bad:
        raise RequestError(f"{bad.field}: {bad.reason}", bad.field) from None
    handle = RuleHandle(target.engine, rule)  # checked whole, then applied
    if times is not None:
        handle.times(times)
    if chaos is not None:
        handle.chaos(chaos)
    if first:
        handle.first()
    positions = {id(r): i for i, r in enumerate(target.engine.snapshot())}
    return rule_json(rule, positions.get(id(rule)))


def delete_rule(call: Call) -> dict:
    target = scope(call)
    index, rule = _find(target, call.params["index"])
    target.engine.remove(rule)
    return rule_json(rule, index)


def _find(target: Any, ref: str) -> tuple:
    """(index, rule) for `3` (the rule at index 3) or `r12` (the rule whose id is r12)."""
    found = _REF.match(ref)
    if found is None:
        raise RequestError(f"a rule is named by its index (3) or its id (r12), not {ref!r}", "index")
    rules = target.engine.snapshot()
    if found.group(1) is not None:
        index = int(found.group(1))
        if index < len(rules):
            return index, rules[index]
        raise RequestError(f"no rule at index {index} (there {'is' if len(rules) == 1 else 'are'} "
                           f"{len(rules)} rule{'' if len(rules) == 1 else 's'})", "index", 404)
    for index, rule in enumerate(rules):
        if rule.id == int(found.group(2)):
            return index, rule
    raise RequestError(f"no rule with id {ref} (used up or removed?)", "index", 404)


def next_error(call: Call) -> dict:
    """`POST /next-error` with `{status, message?, type?, code?, param?, headers?, retryAfter?, shouldRetry?}`."""
    target = scope(call)
    data = read_json(call)
    try:
        spec = schema.error_spec(data, "")
    except schema.Invalid as bad:
        raise RequestError(f"{bad.field}: {bad.reason}" if bad.field else bad.reason, bad.field or None) from None
    handle = target.next_error(**spec)
    handle.rule.source = "admin"
    return rule_json(handle.rule, 0)


def set_fallback(call: Call) -> dict:
    """`POST /fallback` with a reply (`"text"`, `{text, tools, ...}`, `{reply: ...}`; null: the default)."""
    target = scope(call)
    data = read_json(call)
    if isinstance(data, dict) and set(data) == {"reply"}:
        data = data["reply"]
    loaded, problems = check_data({"fallback": data}, "admin")
    if problems:
        p = problems[0]
        raise RequestError(f"{p.field}: {p.reason}" if p.field else p.reason, p.field)
    target.fallback(loaded.fallback)
    return {"fallback": "default" if loaded.fallback is None else "set"}


def reset(call: Call) -> dict:
    scope(call).reset()
    return {"reset": True}


def done(call: Call) -> dict:
    target = scope(call)
    rules = target.engine.snapshot()
    unused = [{"id": exchange, "file": source} for exchange, source in call.app.recordings.unused()]
    return {"done": target.is_done(),
            "pending": [rule_json(rule, index) for index, rule in enumerate(rules) if not rule.done],
            "unused_recordings": unused}
