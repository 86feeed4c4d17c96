"""Server settings: `MockServerOptions`, from keyword arguments, config.json or the command line."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Optional, Union

from .chaos import Chaos


@dataclass
class MockServerOptions:
    """Server settings. `port=0` picks a free port; latency (ms) and chunk size (characters) are
    the defaults for rules that set none. `fallback`, `rules` and `watch` are read by
    `from_json_config` and the CLI."""

    port: int = 0
    host: str = "127.0.0.1"
    log_level: str = "none"
    default_latency: float = 0
    default_chunk_size: int = 0
    fallback: Any = None
    rules: Optional[str] = None
    watch: bool = False
    default_ttft: Optional[float] = None
    default_tokens_per_second: Optional[float] = None
    default_jitter: Optional[float] = None
    history_limit: int = 10_000
    max_body_size: int = 32 * 1024 * 1024
    timeout: float = 60.0
    chaos: Optional[Chaos] = None
    jitter_seed: int = 0
    admin: bool = True  # the admin API under /__llm_mock/
    admin_token: Optional[str] = None  # required on admin routes when set (and to bind beyond loopback)
    strict: bool = False  # an unmatched request gets a 404 naming its near misses, not the fallback
    max_sessions: int = 100  # sessions open at once; the least recently used goes beyond
    session_history_limit: int = 1000  # journal entries each session keeps
    # record and replay (llm_mock/record/): misses forwarded to `upstream` (or the format's entry in
    # `upstreams`: openai, anthropic, gemini, ollama, or a format or transport name) and saved in
    # `record`; `redact` regexes scrubbed from what is saved; `replay_timing` "recorded" or a speed
    # factor; `replay` "strict" makes a miss an error naming the closest recording
    record: Optional[str] = None
    upstream: Optional[str] = None
    upstreams: dict = field(default_factory=dict)
    redact: list = field(default_factory=list)
    replay_timing: Union[str, float, None] = None
    replay: Optional[str] = None

    @classmethod
    def from_json_file(cls, path: str) -> MockServerOptions:
        """Options from a JSON config file; a relative `rules` path resolves against the file's folder."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise RuntimeError(f"Config file not found: {path}") from None
        except ValueError as exc:
            raise RuntimeError(f"Invalid JSON in config file {path}: {exc}") from None
        return cls.from_dict(data, os.path.dirname(os.path.abspath(path)), source=path)

    @classmethod
    def from_dict(cls, data: Any, base_dir: str = ".", source: str = "config") -> MockServerOptions:
        if not isinstance(data, dict):
            raise RuntimeError(f"Config file {source} must be a JSON object at top level, got {type(data).__name__}")
        aliases = {"latency": "default_latency", "chunk_size": "default_chunk_size", "chunkSize": "default_chunk_size",
                   "logLevel": "log_level", "defaultLatency": "default_latency",
                   "defaultChunkSize": "default_chunk_size"}
        known = {f.name for f in fields(cls)}
        values = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in known:
                raise RuntimeError(f"{source}: unknown config key {key!r} (known: {', '.join(sorted(known))})")
            values[name] = value
        if isinstance(values.get("chaos"), dict):
            values["chaos"] = Chaos(**values["chaos"])
        for key in ("rules", "record"):
            if isinstance(values.get(key), str) and not os.path.isabs(values[key]):
                values[key] = os.path.normpath(os.path.join(base_dir, values[key]))
        return cls(**values)
