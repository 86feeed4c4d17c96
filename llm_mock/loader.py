"""Rule files: JSON5, JSON and Python, read into the same `Rule` objects the Python API builds.

Every key is understood or rejected: a problem names the file, the rule's index (counting from 0,
as in `rules[N]`) and the field, e.g. `rules.json5: rule 3: when.toolNmae: unknown key`.
`.py` files are run (from their source, in a fresh module), so loading one runs its code: load only
files you trust.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import sys
import types
from typing import Any, Optional

from . import schema
from .builder import RuleBuilder
from .engine import Rule
from .matching import compile_match
from .plain import Plain
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions
from .schema import OPTION_KEYS, Invalid, reply_object

EXTENSIONS = (".json5", ".json", ".py")
_TEMPLATE_REF = re.compile(r"^\$([A-Za-z_][\w-]*)$")
_RULE_KEYS = ("when", "reply", "replies", "times", "first", "chaos", "recording") + OPTION_KEYS
_module_counter = itertools.count(1)


class Problem(Plain):
    """One thing wrong in a rule file."""

    __slots__ = ("file", "reason", "rule", "field")

    def __init__(self, file: str, reason: str, rule: Optional[int] = None, field: Optional[str] = None):
        self.file, self.reason, self.rule, self.field = file, reason, rule, field


    def __str__(self) -> str:
        parts = [self.file]
        if self.rule is not None:
            parts.append(f"rule {self.rule}")
        if self.field:
            parts.append(self.field)
        return ": ".join(parts + [self.reason])


class RuleFileError(ValueError):
    """Rule files that cannot be loaded; `problems` lists every problem found."""

    def __init__(self, problems: list):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Loaded(Plain):
    """The rules of a file or directory, in order; the fallback the files set (None if none did)."""

    __slots__ = ("rules", "fallback", "files")

    def __init__(self) -> None:
        self.rules: list = []
        self.fallback: Any = None
        self.files: list = []  # (path, number of rules) per file read



def load_path(path: str) -> Loaded:
    """Everything under `path` (a file, or a directory read recursively in sorted order)."""
    loaded, problems = check_path(path)
    if problems:
        raise RuleFileError(problems)
    return loaded


def check_path(path: str) -> tuple:
    """(Loaded, problems): the same loading as `load_path`, reporting problems instead of raising."""
    problems: list = []
    loaded = Loaded()
    entries: list = []
    try:
        files = rule_files(path)
    except ValueError as exc:
        return loaded, [Problem(path, str(exc))]
    for file in files:
        collected = _File(file, problems).load()
        if collected is None:
            continue
        rules, fallback = collected
        entries.extend(rules)
        loaded.files.append((file, len(rules)))
        if fallback is not None:
            loaded.fallback = fallback
    loaded.rules = [rule for rule in entries if rule.first] + [rule for rule in entries if not rule.first]
    return loaded, problems


def check_data(data: Any, source: str) -> tuple:
    """(Loaded, problems) for rule-file data already parsed (a body the admin API received): the
    schema and the messages of a file, `source` naming it in problems and on the rules."""
    problems: list = []
    loaded = Loaded()
    collected = _File(source, problems)._document(data)
    if collected is not None and not problems:
        rules, loaded.fallback = collected
        loaded.rules = [rule for rule in rules if rule.first] + [rule for rule in rules if not rule.first]
        loaded.files.append((source, len(rules)))
    return loaded, problems


def rule_files(path: str) -> list:
    """The rule files `path` stands for: itself, or every .json5/.json/.py file below it, sorted.
    Inside a directory, names starting with a dot and other extensions are skipped."""
    if os.path.isdir(path):
        found = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if name.startswith(".") or name == "__pycache__":
                continue
            if os.path.isdir(full):
                found.extend(rule_files(full))
            elif name.endswith(EXTENSIONS):
                found.append(full)
        return found
    if not os.path.exists(path):
        raise ValueError("no such file or directory")
    if not path.endswith(EXTENSIONS):
        extension = os.path.splitext(path)[1] or "(none)"
        raise ValueError(f'unsupported file extension "{extension}" (expected .json5, .json or .py)')
    return [path]


class _File:
    """One file's rules; problems are appended to the shared list."""

    def __init__(self, path: str, problems: list):
        self.path, self.problems = path, problems
        self.templates: dict = {}

    def problem(self, reason: str, rule: Optional[int] = None, field: Optional[str] = None) -> None:
        self.problems.append(Problem(self.path, reason, rule, field))

    def load(self) -> Optional[tuple]:
        before = len(self.problems)
        if self.path.endswith(".py"):
            result = self._python()
        else:
            try:
                data = _read_data(self.path)
            except ValueError as exc:
                self.problem(str(exc))
                return None
            result = self._document(data)
        return result if len(self.problems) == before else None

    def _document(self, data: Any) -> Optional[tuple]:
        if isinstance(data, list):
            return self._rules(data), None
        if not isinstance(data, dict):
            self.problem(f"the top level must be an array of rules or an object {{templates, fallback, rules}}, "
                         f"not {schema.kind(data)}")
            return None
        try:
            data = schema.keys(data, ("templates", "fallback", "rules"), "")
        except Invalid as bad:
            self.problem(bad.reason, field=bad.field)
            return None
        return self._parts(data.get("templates"), data.get("rules", []), data.get("fallback"))

    def _parts(self, templates: Any, rules: Any, fallback: Any) -> tuple:
        self._templates(templates)
        if isinstance(rules, (list, tuple)):
            built = self._rules(list(rules))
        else:
            built = []
            self.problem(f"must be an array of rules, not {schema.kind(rules)}", field="rules")
        if fallback is not None:
            try:
                fallback = self.reply(fallback, "fallback")
            except Invalid as bad:
                self.problem(bad.reason, field=bad.field)
        return built, fallback

    def _templates(self, templates: Any) -> None:
        if templates is None:
            return
        if not isinstance(templates, dict):
            self.problem(f"must be an object mapping names to replies, not {schema.kind(templates)}",
                         field="templates")
            return
        for name, value in templates.items():
            where = f"templates.{name}"
            try:
                if not isinstance(name, str) or not _TEMPLATE_REF.match("$" + name):
                    raise Invalid(where, "a template name is letters, digits, _ and -, starting with a letter or _")
                self.templates[name] = self.reply(value, where, in_template=True)
            except Invalid as bad:
                self.problem(bad.reason, field=bad.field)

    def _rules(self, rules: list) -> list:
        built = []
        for index, value in enumerate(rules):
            before = len(self.problems)
            rule = self._rule(index, value)
            if rule is not None and len(self.problems) == before:
                built.append(rule)
        return built

    def _rule(self, index: int, value: Any) -> Optional[Rule]:
        """The rule, or None, reporting every bad key of the rule."""
        if not isinstance(value, dict):
            self.problem(f"a rule must be an object with `when` and `reply` or `replies`, not {schema.kind(value)}",
                         index)
            return None
        try:
            spec = schema.keys(value, _RULE_KEYS, "")
        except Invalid as bad:
            self.problem(bad.reason, index, bad.field)
            return None
        if "when" not in spec:
            self.problem("missing (every rule needs `when`)", index, "when")
        if ("reply" in spec) == ("replies" in spec):
            self.problem("a rule needs exactly one of `reply` or `replies`", index, "reply")
        parts: dict = {}
        for key, parse in (("when", schema.when), ("reply", self.reply), ("replies", self._replies),
                           ("times", schema.count), ("first", schema.flag), ("chaos", schema.chaos)):
            if key in spec:
                try:
                    parts[key] = parse(spec[key], spec.field(key))
                except Invalid as bad:
                    self.problem(bad.reason, index, bad.field)
        try:
            options = schema.options(spec)
        except Invalid as bad:
            self.problem(bad.reason, index, bad.field)
            return None
        recording = None
        if "recording" in spec and ("reply" in parts or "replies" in parts):
            steps = len(parts["replies"]) if "replies" in parts else 1
            try:
                recording = schema.recording(spec["recording"], spec.field("recording"), steps)
            except Invalid as bad:
                self.problem(bad.reason, index, bad.field)
                return None
        if "when" not in parts or ("reply" not in parts and "replies" not in parts):
            return None
        try:
            test, description = compile_match(parts["when"])
        except ValueError as exc:
            self.problem(str(exc), index, spec.field("when"))
            return None
        rule = Rule(test, description, parts.get("reply"), options, parts.get("replies"),
                    remaining=parts.get("times"), first=parts.get("first", False), chaos=parts.get("chaos"),
                    match=parts["when"], source=self.path)
        if recording is not None:  # a rule the recorder wrote: it knows its exchange and its hashes
            from .record.recorded import recorded_rule

            rule = recorded_rule(rule, parts["when"], recording, self.path)
        return rule

    def reply(self, value: Any, where: str, in_template: bool = False) -> Any:
        """A reply as the Python API takes it: a `ReplyObject` (or a callable, from .py files)."""
        if callable(value) and not isinstance(value, type):
            return value
        if isinstance(value, (ReplyObject, ErrorReply, Fault)):
            return schema.normalised(value, where)
        if isinstance(value, str):
            if value.startswith("$$"):
                return ReplyObject(text=value[1:])
            ref = _TEMPLATE_REF.match(value)
            if ref is None:
                return ReplyObject(text=value)
            if in_template:
                raise Invalid(where, f'a template cannot refer to another template ({value}); '
                                     'write "$$" for a literal $')
            if ref.group(1) not in self.templates:
                known = ", ".join(sorted(self.templates)) or "none defined"
                raise Invalid(where, f'unknown template "{value}" (templates: {known}); write "$$" for a literal $')
            return self.templates[ref.group(1)]
        return reply_object(value, where)

    def _replies(self, entries: Any, where: str) -> list:
        """A sequence: [(reply, ReplyOptions)], each entry a reply or `{reply, latency?, chunkSize?, ...}`."""
        if not isinstance(entries, list) or not entries:
            raise Invalid(where, "must be a non-empty array of replies")
        steps = []
        for index, entry in enumerate(entries):
            at = f"{where}[{index}]"
            if isinstance(entry, dict) and "reply" in entry:
                spec = schema.keys(entry, ("reply",) + OPTION_KEYS, at)
                steps.append((self.reply(spec["reply"], f"{at}.reply"), schema.options(spec)))
            else:
                steps.append((self.reply(entry, at), ReplyOptions()))
        return steps

    def _python(self) -> Optional[tuple]:
        """A .py file: its `templates`, `rules` and `fallback` values, then what `register(builder)` adds.

        The source is compiled and run in a fresh module every time, never through the import system:
        nothing is written beside the file (no `__pycache__` in the user's folder), and a file rewritten
        within the same second with the same size is not answered from stale bytecode."""
        stem = re.sub(r"\W", "_", os.path.basename(self.path)[:-3])
        name = f"_llm_mock_rules_{next(_module_counter)}_{stem}"
        try:
            with open(self.path, "rb") as handle:
                source = handle.read()
        except OSError as exc:
            self.problem(f"cannot read: {exc}")
            return None
        module = types.ModuleType(name)
        module.__file__ = self.path
        try:
            code = compile(source, self.path, "exec", dont_inherit=True)
            sys.modules[name] = module  # while it runs, as an import would (dataclasses look it up)
            try:
                exec(code, module.__dict__)
            finally:
                sys.modules.pop(name, None)
        except Exception as exc:  # the file's own code failed: report it like any other problem
            self.problem(f"importing it raised {self._exception(exc)}")
            return None
        register = getattr(module, "register", None)
        if not any(hasattr(module, n) for n in ("register", "rules", "fallback")):
            self.problem("defines none of `register(server)`, `rules` or `fallback`")
            return None
        built, fallback = self._parts(getattr(module, "templates", None), getattr(module, "rules", []),
                                      getattr(module, "fallback", None))
        if register is not None:
            if not callable(register):
                self.problem("must be a function taking the rule builder", field="register")
                return built, fallback
            builder = RuleBuilder()
            try:
                register(builder)
            except Exception as exc:
                self.problem(f"raised {self._exception(exc)}", field="register()")
                return built, fallback
            for rule in builder.engine.snapshot():
                rule.source = self.path
            built += builder.engine.snapshot()
            fallback = builder.engine.fallback if builder.engine.fallback is not None else fallback
        return built, fallback

    def _exception(self, exc: BaseException) -> str:
        """`Type: message (line N)`, N being the line of this file where it happened."""
        line = exc.lineno if isinstance(exc, SyntaxError) else None
        tb = exc.__traceback__
        while tb is not None:
            if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(self.path):
                line = tb.tb_lineno
            tb = tb.tb_next
        return f"{type(exc).__name__}: {exc}" + (f" (line {line})" if line else "")


# -- reading ------------------------------------------------------------------------------------
def _read_data(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from None
    if path.endswith(".json5"):
        try:
            import json5
        except ImportError:
            raise ValueError("reading .json5 files needs the json5 package: pip install json5") from None
        try:
            return json5.loads(text, allow_duplicate_keys=False)
        except ValueError as exc:
            raise ValueError(f"invalid JSON5: {str(exc).replace('<string>:', 'line ')}") from None
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def unique_keys(pairs: list, message: str = 'Duplicate key "{}" found in object') -> dict:
    """A JSON object from `pairs`, refusing a key given twice (`json` would keep the last silently);
    `message` names the key (the admin API words it its own way)."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(message.format(key))
        result[key] = value
    return result


read_data = _read_data
"""A .json5 / .json rule file's data, parsed (what `RemoteMockServer.load` sends)."""
