"""MockServer: the rules API, the request history and the server's lifecycle."""
from __future__ import annotations

import _thread
import json
import os
import random
import signal
import socket
import socketserver
import threading
from dataclasses import dataclass, fields, replace
from http.server import ThreadingHTTPServer
from typing import Any, Optional

from .engine import DEFAULT_FALLBACK, PendingRule, RuleEngine, RuleHandle
from .faults import Chaos, Counter
from .formats import ROUTES
from .handler import Handler
from .history import RequestHistory
from .log import Logger
from .pacer import Pacer
from .replies import ErrorReply, ReplyOptions
from .rules import MatchObject


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

    @classmethod
    def from_json_file(cls, path: str) -> "MockServerOptions":
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
    def from_dict(cls, data: Any, base_dir: str = ".", source: str = "config") -> "MockServerOptions":
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
        if isinstance(values.get("rules"), str) and not os.path.isabs(values["rules"]):
            values["rules"] = os.path.normpath(os.path.join(base_dir, values["rules"]))
        return cls(**values)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a deep listen backlog, daemon threads and tracked connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 2048
    allow_reuse_address = True

    def __init__(self, address, app: "MockServer"):
        self.app = app
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup of the host (milliseconds at every start)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request, client_address) -> None:
        """A thread per connection, started without `Thread.start()`'s wait for it to run: under a
        flood of connections that wait, a turn at the interpreter lock each, stalls the accept loop
        for seconds (1000 streams at once: time to first byte p99 from ~15 s to under 1 s)."""
        _thread.start_new_thread(self.process_request_thread, (request, client_address))

    def track(self, connection, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # never print tracebacks for client faults
        self.app.log.debug(f"connection from {client_address[0]} ended with an error")


class MockServer:
    """A mock OpenAI + Anthropic server answering from rules. Use `with MockServer() as server:`."""

    def __init__(self, options: Optional[MockServerOptions] = None, **overrides):
        self.options = replace(options or MockServerOptions(), **overrides)
        self.log = Logger(self.options.log_level)
        self.engine = RuleEngine()
        self.history = RequestHistory(self.options.history_limit)
        self.chaos_counter = Counter()
        self._jitter = random.Random(self.options.jitter_seed)
        self._httpd: Optional[_HTTPServer] = None
        self.pacer = Pacer()
        self._thread: Optional[threading.Thread] = None
        self._watch_path: Optional[str] = None
        self._watcher = None
        if self.options.fallback is not None:
            self.fallback(self.options.fallback)

    # -- rules ------------------------------------------------------------------------------
    def when(self, match: Any) -> PendingRule:
        """Start a rule: a string (case-insensitive substring of the last user message), a compiled
        regex, a `MatchObject` / dict, or a callable taking the request."""
        return PendingRule(self.engine, match)

    def when_tool(self, name: str) -> PendingRule:
        return self.when(MatchObject(tool_name=name))

    def when_tool_result(self, call_id: str) -> PendingRule:
        return self.when(MatchObject(tool_call_id=call_id))

    def when_server_tool(self, tool_type: str) -> PendingRule:
        return self.when(MatchObject(server_tool=tool_type))

    def next_error(self, status: int, message: Optional[str] = None, type: Optional[str] = None,
                   **error_fields) -> RuleHandle:
        """The next request (any route) gets this HTTP error; queued errors fire last-in, first-out."""
        error = ErrorReply(status, message, type, **error_fields)
        return self.when(lambda request: True).reply(error).times(1).first()

    def fallback(self, reply: Any) -> None:
        """The reply when no rule matches."""
        self.engine.set_fallback(reply)

    def is_done(self) -> bool:
        """True when every `times`-limited rule is used up and every sequence has served all its steps."""
        return self.engine.is_done()

    @property
    def rules(self) -> list:
        """A snapshot: `RuleSummary(description, remaining)` for each rule (`inf` when unlimited)."""
        return self.engine.rules

    @property
    def rule_count(self) -> int:
        return len(self.engine)

    def load(self, path: str) -> int:
        """Add the rules of a JSON5 / JSON / .py file or directory; returns how many were added."""
        from .loader import load_path

        loaded = load_path(path)
        for rule in loaded.rules:
            self.engine.add(rule)
        if loaded.fallback is not None:
            self.fallback(loaded.fallback)
        self.log.info(f"Loaded {len(loaded.rules)} rule(s) from {path}")
        return len(loaded.rules)

    def reset(self) -> None:
        """Clear rules and history and restore the default fallback (or the configured one)."""
        self.engine.clear()
        self.history.clear()
        self.chaos_counter.reset()
        self._jitter = random.Random(self.options.jitter_seed)  # a reset replays chaos and jitter alike
        self.fallback(self.options.fallback if self.options.fallback is not None else DEFAULT_FALLBACK)
        self.log.info("Server reset: rules and history cleared")

    @property
    def reply_defaults(self) -> ReplyOptions:
        o = self.options
        return ReplyOptions(o.default_latency, o.default_chunk_size, o.default_ttft,
                            o.default_tokens_per_second, o.default_jitter)

    def jitter_rng(self) -> random.Random:
        return self._jitter

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def routes(self) -> list:
        return list(ROUTES)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("Server is not running. Call start() first.")
        return self._httpd.server_address[1]

    @property
    def open_connections(self) -> int:
        """Client connections open right now (each holds one thread)."""
        return self._httpd.open_connections if self._httpd is not None else 0

    @property
    def url(self) -> str:
        """`http://host:port` of the running server (a wildcard host is given as loopback). Before
        `start()` it is known only for a fixed `port`; with `port=0` it raises until started."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.options.host, self.options.host)
        host = f"[{host}]" if ":" in host else host
        port = self.options.port if self._httpd is None and self.options.port else self.port
        return f"http://{host}:{port}"

    def start(self) -> "MockServer":
        """Listen (a free port when `port` is 0) and serve from a daemon thread; returns at once."""
        if self._httpd is not None:
            raise RuntimeError("Server is already running.")
        self._httpd = _HTTPServer((self.options.host, self.options.port), self)
        self.pacer = Pacer()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"llm_mock:{self.port}", daemon=True)
        self._thread.start()
        self.log.info(f"Listening on {self.url}")
        return self

    def stop(self) -> None:
        """Stop serving and close open connections; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if httpd is None:
            return
        httpd.shutdown()
        self.pacer.close()
        httpd.close_connections()
        httpd.server_close()
        self.log.info("Server stopped")

    def __enter__(self) -> "MockServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def __aenter__(self) -> "MockServer":
        return self.start()

    async def __aexit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def from_json_config(cls, path: str) -> "MockServer":
        """A server (not started) built from a config.json: options, fallback, then its rules."""
        options = MockServerOptions.from_json_file(path)
        server = cls(options)
        if options.rules:
            server.load(options.rules)
            if options.watch:
                server._watch_path = options.rules
        return server

    def run_until_shutdown(self, watch_path: Optional[str] = None) -> None:
        """Serve (and watch rules, if asked) until SIGINT or SIGTERM, then stop cleanly."""
        stopping = threading.Event()
        if not self.running:
            self.start()
        watch_path = watch_path or self._watch_path
        if watch_path:
            from .watch import Watcher

            self._watcher = Watcher(self, watch_path)
            self._watcher.start()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda number, frame: stopping.set())
        try:
            while not stopping.wait(0.2) and self.running:
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.log.info("Shutting down")
            self.stop()
