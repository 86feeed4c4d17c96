"""MockServer: a `RuleBuilder` over a live engine, the request history and the server's lifecycle.

The lifecycle calls work both ways: `server.start()` as a plain call, and `await server.start()`
(also `stop`, `load`, `from_json_config`, `run_until_shutdown`) as the project llm_mock replaces
wrote them in async code. The quick ones finish at once and return a value that can also be
awaited; `run_until_shutdown` awaited from an event loop waits without blocking the loop.
"""
from __future__ import annotations

import _thread
import dis
import errno
import random
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import replace
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Optional, Union

from . import formats
from .admin import ADMIN
from .budget import ByteBudget
from .builder import RuleBuilder
from .chaos import Counter
from .config import MockServerOptions
from .connection import Connection
from .engine import RuleEngine
from .history import RequestHistory
from .log import Logger
from .pacing import Pacer
from .replies import ReplyOptions
from .responder import CLIENT_GONE
from .response_store import ResponseStore
from .service import check_exposure
from .sessions import Session, Sessions

if TYPE_CHECKING:
    from .watch import Watcher

formats.add_service(ADMIN)  # the admin API's routes, beside the formats' (it is no format)

_STARVED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}  # accept() without a descriptor to give
_GONE = {errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED, errno.ESHUTDOWN}


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a deep listen backlog, daemon threads and tracked connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 2048
    allow_reuse_address = True

    def __init__(self, address, app: MockServer):
        self.app = app
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        self._starved, self._backoff = False, 0.005
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Connection)

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup of the host (milliseconds at every start)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple:
        """Accept a connection. Out of file descriptors, `accept` fails at once while the listening
        socket stays readable, and the loop would spin at full speed: back off instead (5 ms
        doubling to 100 ms between tries), say so once, and say when connections are accepted again."""
        try:
            accepted = self.socket.accept()
        except OSError as exc:
            if exc.errno not in _STARVED:
                raise
            if not self._starved:
                self._starved = True
                self.app.log.problem("warning", f"cannot accept connections: {exc.strerror} (the file descriptor "
                                                f"limit, {self.open_connections} connections open); waiting for "
                                                "descriptors to free up (raise it with `ulimit -n`)")
            time.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, 0.1)
            raise
        if self._starved:
            self._starved, self._backoff = False, 0.005
            self.app.log.problem("info", "accepting connections again")
        return accepted

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

    def handle_error(self, request, client_address) -> None:
        """An exception that escaped a connection: the client going away is routine (debug); anything
        else is a failure of the server's own, said at error level (the traceback at debug)."""
        exc = sys.exc_info()[1]
        client = f"{client_address[0]}:{client_address[1]}" if isinstance(client_address, tuple) else "a client"
        if isinstance(exc, OSError) and (isinstance(exc, CLIENT_GONE) or exc.errno in _GONE):
            self.app.log.debug(f"connection from {client} ended: {type(exc).__name__}: {exc}")
            return
        self.app.log.problem("error", f"connection from {client} closed without an answer, llm_mock failed: "
                                      f"{type(exc).__name__}: {exc}")
        import traceback  # failures only: a server start need not load it

        self.app.log.debug(traceback.format_exc())


def _awaited_by_caller(frame: Any) -> bool:
    """True when the caller's next instruction awaits what this call returns (`await f()`), so one
    method can serve `await server.run_until_shutdown()` and a plain blocking call alike."""
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset > frame.f_lasti and instruction.opname not in ("CACHE", "EXTENDED_ARG", "NOP"):
            return instruction.opname == "GET_AWAITABLE"
    return False


class Done:
    """The result of a lifecycle call that is already complete; `await` on it returns at once."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield

    def __repr__(self) -> str:
        return "Done()"


class Count(int):
    """A number that may also be awaited (what `load` returns)."""

    def __await__(self) -> Generator[Any, None, int]:
        return int(self)
        yield


class MockServer(RuleBuilder):
    """A mock LLM API server answering from rules. Use `with MockServer() as server:`."""

    def __init__(self, options: Optional[MockServerOptions] = None, **overrides: Any):
        self.options = replace(options or MockServerOptions(), **overrides)
        self.budget = ByteBudget(self.options.history_max_bytes)  # history and replay memory, together
        super().__init__(RuleEngine(self.budget))
        self.log = Logger(self.options.log_level)
        self.history = RequestHistory(self.options.history_limit, self.budget)
        self.responses = ResponseStore()  # stored Responses (`previous_response_id`, retrieve, background)
        self.sessions = Sessions(self, self.options.max_sessions, self.options.session_history_limit)
        self.chaos_counter = Counter()
        self._jitter = random.Random(self.options.jitter_seed)
        self._httpd: Optional[_HTTPServer] = None
        self.pacer = Pacer()
        self._thread: Optional[threading.Thread] = None
        self._watch_path: Optional[str] = None
        self._watcher: Optional[Watcher] = None
        self.started_at = time.monotonic()
        check_exposure(self.options)
        self._recordings: Any = None
        self._recordings_lock = threading.Lock()
        if self.records:
            self.recordings  # noqa: B018  (built now: bad record options fail here, not at the first miss)
        if self.options.fallback is not None:
            self.fallback(self.options.fallback)

    def __await__(self) -> Generator[Any, None, MockServer]:
        """`await server.start()` / `await MockServer.from_json_config(...)` give the server itself."""
        return self
        yield

    # -- rules ------------------------------------------------------------------------------
    def load(self, path: str) -> Count:
        """Add the rules of a JSON5 / JSON / .py file or directory; returns how many were added."""
        from .loader import load_path

        loaded = load_path(path)
        self.engine.extend(loaded.rules)
        if loaded.fallback is not None:
            self.fallback(loaded.fallback)
        self.log.info(f"Loaded {len(loaded.rules)} rule(s) from {path}")
        return Count(len(loaded.rules))

    def reload(self, path: str) -> int:
        """Replace every rule with the rules under `path`, at once (watch mode); returns how many."""
        from .loader import load_path

        loaded = load_path(path)
        self.engine.replace(loaded.rules, loaded.fallback if loaded.fallback is not None else self.options.fallback)
        return len(loaded.rules)

    def session(self, name: str) -> Session:
        """The session `name` (created on first use): its own rules, counts, fallback and journal;
        `session.url` is the base URL that sends a client's requests to it."""
        return self.sessions.get(name)

    def reset(self) -> None:
        """Clear rules, history, sessions and stored responses and restore the default fallback (or the
        configured one)."""
        self.engine.clear()
        self.history.clear()
        self.sessions.clear()
        self.responses.clear()
        self.chaos_counter.reset()
        self._jitter = random.Random(self.options.jitter_seed)  # a reset replays chaos and jitter alike
        self.fallback(self.options.fallback)
        self.log.info("Server reset: rules and history cleared")

    @property
    def records(self) -> bool:
        """Whether any record or replay option is set."""
        o = self.options
        return bool(o.record or o.upstream or o.upstreams or o.redact or o.replay or o.replay_timing)

    @property
    def recordings(self) -> Any:
        """Record and replay (`record/`): its settings and state, `record.Recordings`. Imported and
        built on first use (a miss, a recorded rule's answer, these options set), not at start."""
        if self._recordings is None:
            with self._recordings_lock:
                if self._recordings is None:
                    from .record import Recordings

                    self._recordings = Recordings(self.options, self.log, self.engine)
        return self._recordings

    @property
    def reply_defaults(self) -> ReplyOptions:
        o = self.options
        return ReplyOptions(o.default_latency, o.default_chunk_size, o.default_ttft,
                            o.default_tokens_per_second, o.default_jitter)

    def jitter_rng(self) -> random.Random:
        return self._jitter

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def routes(self) -> list[str]:
        """`METHOD /path` of every route served (the admin API's too, unless it is off)."""
        owners = [*formats.ADAPTERS, *(formats.SERVICES if self.options.admin else ())]
        return [f"{route.method} {route.pattern}" for owner in owners for route in owner.routes]

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("Server is not running. Call start() first.")
        return int(self._httpd.server_address[1])

    @property
    def bound_address(self) -> tuple[str, int]:
        """(address, port) the listening socket is bound to, as the system reports it (`0.0.0.0` for
        every IPv4 interface), unlike `url`, which names an address a local client can use."""
        if self._httpd is None:
            raise RuntimeError("Server is not running. Call start() first.")
        return str(self._httpd.server_address[0]), int(self._httpd.server_address[1])

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

    def start(self) -> MockServer:
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

    def stop(self) -> Done:
        """Stop serving and close open connections; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if httpd is not None:
            httpd.shutdown()
            self.pacer.close()
            httpd.close_connections()
            httpd.server_close()
            self.log.info("Server stopped")
        return Done()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> MockServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def from_json_config(cls, path: str) -> MockServer:
        """A server (not started) built from a config.json: options, fallback, then its rules."""
        options = MockServerOptions.from_json_file(path)
        options.check_watch(path)
        server = cls(options)
        if options.rules:
            server.load(options.rules)
            if options.watch:
                server._watch_path = options.rules
        return server

    def run_until_shutdown(self, watch_path: Optional[str] = None) -> Union[None, Coroutine[Any, Any, None]]:
        """Serve (and watch rules, if asked) until SIGINT or SIGTERM, then stop cleanly.

        `await server.run_until_shutdown()` waits without blocking the event loop; a plain call
        blocks, also inside a coroutine (as llm_mock's own examples call it)."""
        if _awaited_by_caller(sys._getframe(1)):
            return self._run_async(watch_path)
        stopping = threading.Event()
        self._serve(watch_path, stopping.set)
        try:
            while not stopping.wait(0.2) and self.running:
                pass
        finally:
            self._shutdown()
        return None

    async def _run_async(self, watch_path: Optional[str]) -> None:
        import asyncio  # here: only an awaiting caller has it loaded already

        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        self._serve(watch_path, lambda: loop.call_soon_threadsafe(stopping.set))
        try:
            while self.running and not stopping.is_set():
                try:
                    await asyncio.wait_for(stopping.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._shutdown()

    def _serve(self, watch_path: Optional[str], stop: Callable[[], object]) -> None:
        """Start (if needed), start watching, and route SIGINT/SIGTERM to `stop`."""
        if not self.running:
            self.start()
        watch_path = watch_path or self._watch_path
        if watch_path:
            from .watch import Watcher

            self._watcher = Watcher(watch_path, lambda: self.reload(watch_path), self.log,
                                    settle=self.options.watch_settle_ms / 1000).start()
        self._signals: dict[int, Any] = {}  # the handlers to restore, as `signal.signal` returned them
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._signals[sig] = signal.signal(sig, lambda number, frame: stop())

    def _shutdown(self) -> None:
        for sig, handler in self._signals.items():
            signal.signal(sig, handler)
        self.log.info("Shutting down")
        self.stop()
