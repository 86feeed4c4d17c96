"""Server settings: `MockServerOptions`, from keyword arguments, config.json or the command line.

Every option is checked here, once, whichever way it arrives: a wrong value is an `OptionError`
in one line naming where it came from and the key (`config.json: timeout must be a number of
seconds, 0 or more (0: no timeout), not 'abc'`), never a server that starts and then fails every
connection.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Optional, Union

from . import schema
from .chaos import Chaos
from .log import LEVELS
from .replies import Resolver, normalise_reply

_ALIASES = {"latency": "default_latency", "chunk_size": "default_chunk_size", "chunkSize": "default_chunk_size",
            "logLevel": "log_level", "defaultLatency": "default_latency", "defaultChunkSize": "default_chunk_size"}


class OptionError(RuntimeError, ValueError):
    """An option that cannot be used; the message is one line: `source: key must be ..., not X`.
    (A `ValueError` for keyword arguments, a `RuntimeError` as config-file errors always were.)"""

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source, self.key = source, key


@dataclass
class MockServerOptions:
    """Server settings. `port=0` picks a free port; latency (ms) and chunk size (characters) are
    the defaults for rules that set none. `fallback`, `rules` and `watch` are read by
    `from_json_config` and the CLI. `log_level=None` (the default) logs nothing but the server's
    own problems; `"none"` silences those too."""

    port: int = 0
    host: str = "127.0.0.1"
    log_level: Optional[str] = None
    default_latency: float = 0
    default_chunk_size: int = 0
    fallback: Resolver = None
    rules: Optional[str] = None
    watch: bool = False
    watch_settle_ms: float = 200
    default_ttft: Optional[float] = None
    default_tokens_per_second: Optional[float] = None
    default_jitter: Optional[float] = None
    history_limit: int = 10_000
    history_max_bytes: int = 64 * 1024 * 1024
    max_body_size: int = 32 * 1024 * 1024
    max_head_size: int = 64 * 1024
    timeout: float = 60.0
    chaos: Optional[Chaos] = None
    jitter_seed: int = 0
    cors: bool = False
    admin: bool = True  # the admin API under /__llm_mock/
    admin_token: Optional[str] = None  # required on admin routes when set (and to bind beyond loopback)
    strict: bool = False  # an unmatched request gets a 404 naming its near misses, not the fallback
    max_sessions: int = 100  # sessions open at once; the least recently used goes beyond
    session_history_limit: int = 1000  # journal entries each session keeps
    # record and replay (llm_mock/record/): misses forwarded to `upstream` (or the format's entry in
    # `upstreams`: openai, anthropic, gemini, ollama, or a format or transport name) and saved in
    # `record`; `redact` regexes scrubbed from what is saved; `replay_timing` "recorded" or a speed
    # factor; `replay` "strict" is strict mode plus the staleness rule (a stale recording is a miss)
    record: Optional[str] = None
    upstream: Optional[str] = None
    upstreams: dict[str, str] = field(default_factory=dict)
    redact: list[str] = field(default_factory=list)
    replay_timing: Union[str, float, None] = None
    replay: Optional[str] = None

    def __post_init__(self) -> None:
        check(self, "MockServerOptions")

    @classmethod
    def from_json_file(cls, path: str) -> MockServerOptions:
        """Options from a JSON config file; a relative `rules` path resolves against the file's folder."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise RuntimeError(f"Config file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RuntimeError(f"Cannot read config file {path}: {exc}") from None
        except ValueError as exc:
            raise RuntimeError(f"Invalid JSON in config file {path}: {exc}") from None
        return cls.from_dict(data, os.path.dirname(os.path.abspath(path)), source=path)

    @classmethod
    def from_dict(cls, data: Any, base_dir: str = ".", source: str = "config") -> MockServerOptions:
        """Options from a parsed config object; errors name `source` and the key."""
        if not isinstance(data, dict):
            raise OptionError(source, "", f"must be a JSON object at top level, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ALIASES.get(key, key)
            if name not in known:
                raise OptionError(source, "", f"unknown config key {key!r} (known: {', '.join(sorted(known))})")
            if name in values:
                raise OptionError(source, key, f"{key} is given twice (under two spellings)")
            values[name] = value
        if isinstance(values.get("chaos"), dict):
            values["chaos"] = _chaos(values["chaos"], source)
        check_values(values, source)
        for key in ("rules", "record"):
            if isinstance(values.get(key), str) and not os.path.isabs(values[key]):
                values[key] = os.path.normpath(os.path.join(base_dir, values[key]))
        return cls(**values)

    def check_watch(self, source: str) -> None:
        """Watching needs something to watch: `watch` without `rules` is an error."""
        if self.watch and not self.rules:
            raise OptionError(source, "watch", "watch needs rules to watch (-r PATH or `rules` in config.json)")


# -- the checks ---------------------------------------------------------------------------------------
def _whole(minimum: int = 0, maximum: Optional[int] = None) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum and \
        (maximum is None or v <= maximum)


def _number(minimum_exclusive: bool = False) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and \
        (v > 0 if minimum_exclusive else v >= 0)


def _optional(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or test(v)


def _host(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not any(c.isspace() for c in value)


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and bool(value.split("//", 1)[1])


def _regex(value: Any) -> bool:
    try:
        re.compile(value)
    except (TypeError, re.error):
        return False
    return isinstance(value, str)


def _fallback(value: Any) -> Optional[str]:
    """Why `value` is not a reply (None when it is one)."""
    if value is None or callable(value):
        return None
    try:
        normalise_reply(value)
    except (TypeError, ValueError) as exc:
        return f"must be a reply (a string or a reply object): {exc}"
    return None


# key: (test, what it must be)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "port": (_whole(0, 65535), "an integer from 0 to 65535"),
    "host": (_host, "an address such as 127.0.0.1"),
    "log_level": (lambda v: v is None or v in LEVELS, f"one of {', '.join(LEVELS)}"),
    "default_latency": (_number(), "a number of milliseconds, 0 or more"),
    "default_chunk_size": (_whole(), "a whole number of characters, 0 or more (0: the whole text)"),
    "rules": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a path to a rule file or directory"),
    "watch": (lambda v: isinstance(v, bool), "true or false"),
    "watch_settle_ms": (_number(), "a number of milliseconds, 0 or more"),
    "default_ttft": (_optional(_number()), "a number of milliseconds, 0 or more, or null"),
    "default_tokens_per_second": (_optional(_number(True)), "a positive number, or null"),
    "default_jitter": (_optional(_number()), "a number of milliseconds, 0 or more, or null"),
    "history_limit": (_whole(), "a whole number of requests, 0 or more (0: no limit)"),
    "history_max_bytes": (_whole(), "a whole number of bytes, 0 or more (0: no limit)"),
    "max_body_size": (_whole(1), "a whole number of bytes, 1 or more"),
    "max_head_size": (_whole(1024), "a whole number of bytes, 1024 or more"),
    "timeout": (_number(), "a number of seconds, 0 or more (0: no timeout)"),
    "chaos": (lambda v: v is None or isinstance(v, Chaos), "a chaos object {seed, errorRate, errorStatuses, "
                                                           "faults, retryAfter}"),
    "jitter_seed": (_whole(), "a whole number, 0 or more"),
    "cors": (lambda v: isinstance(v, bool), "true or false"),
    "admin": (lambda v: isinstance(v, bool), "true or false"),
    "admin_token": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a non-empty string, or null"),
    "strict": (lambda v: isinstance(v, bool), "true or false"),
    "max_sessions": (_whole(1), "a whole number of sessions, 1 or more"),
    "session_history_limit": (_whole(), "a whole number of requests, 0 or more (0: no limit)"),
    "record": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a path to a directory"),
    "upstream": (lambda v: v is None or _url(v), "an http:// or https:// URL such as https://api.openai.com"),
    "upstreams": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and _url(u) for k, u in v.items()),
                  'an object of URLs by format, e.g. {"openai": "https://api.openai.com"}'),
    "redact": (lambda v: isinstance(v, list) and all(_regex(p) for p in v), "an array of regexes"),
    "replay_timing": (lambda v: v is None or v == "recorded" or _number(True)(v),
                      '"recorded" or a positive speed factor'),
    "replay": (lambda v: v in (None, "strict", "lenient"), '"strict" or "lenient"'),
}


def check_values(values: dict[str, Any], source: str) -> None:
    """Each value of `values` (option name → value) checked; the first bad one raises `OptionError`."""
    for key, value in values.items():
        if key == "fallback":
            problem = _fallback(value)
            if problem:
                raise OptionError(source, key, f"{key} {problem}")
            continue
        test, expected = RULES[key]
        if not test(value):
            raise OptionError(source, key, f"{key} must be {expected}, not {value!r}")


def check(options: MockServerOptions, source: str) -> None:
    check_values({f.name: getattr(options, f.name) for f in fields(options)}, source)


def _chaos(value: dict[str, Any], source: str) -> Chaos:
    try:
        return schema.chaos(value, "chaos")
    except schema.Invalid as bad:
        reason = bad.reason[len("chaos "):] if bad.reason.startswith("chaos ") else bad.reason
        raise OptionError(source, bad.field, f"{bad.field}: {reason}") from None
