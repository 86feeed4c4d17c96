"""The HTTP handler: read a request, dispatch on path to its format adapter, answer, record.

socket → handler → adapter.parse → engine.resolve → adapter.render → sse writer → socket; the
history records the request before its answer's first byte. Nothing a client sends produces a 500 or a traceback:
bad input is a 400 in the format's own error shape.
"""
from __future__ import annotations

import io
import json
import select
import socket
import struct
import time
import traceback
from urllib.parse import parse_qsl, unquote
from http.server import BaseHTTPRequestHandler

from . import catalog
from .engine import RuleError
from .faults import CONNECTION_END, apply_fault
from .formats import ADAPTERS, BY_NAME
from .formats.base import Frame, dumps
from .history import RecordedRequest
from .http_head import HeadError, RequestDeadline, read_body, read_headers
from .log import describe_reply, describe_request, shorten
from .replies import ErrorReply, build_completion
from .request import RequestError
from .sse import LAST_CHUNK, SSE_HEADERS, chunk, response_head, schedule

JSON_TYPE = ("content-type", "application/json")
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, TimeoutError)


class Rejected(Exception):
    """A request refused before it reached the rules (bad body, size, route, method)."""

    def __init__(self, status: int, message: str, param: str = None, close: bool = False):
        super().__init__(message)
        self.error = ErrorReply(status, message, "invalid_request_error" if status < 500 else None, param=param)
        self.close = close


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm_mock"

    def setup(self) -> None:
        self.timeout = self.server.app.options.timeout or 86400.0  # a timeout keeps the socket non-blocking for the pacer
        super().setup()
        self.rfile.close()
        self.reader = RequestDeadline(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self.reader)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except CLIENT_GONE:
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # the access log is ours (see `_log`)
        pass

    def parse_request(self) -> bool:
        """The request line and headers (`http_head`), keep-alive and `Expect: 100-continue`."""
        self.command, self.close_connection = None, True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, f"Bad request line {self.requestline[:80]!r}.")
            return False
        self.command, self.path, self.request_version = words
        if self.request_version not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(505, f"HTTP version {self.request_version} is not supported; use HTTP/1.1.")
            return False
        try:
            self.headers = read_headers(self.rfile)
        except HeadError as bad:
            self.send_error(bad.status, bad.message)
            return False
        connection = self.headers.get("connection", "").lower()
        self.close_connection = "close" in connection if self.request_version == "HTTP/1.1" \
            else "keep-alive" not in connection
        if self.headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def send_error(self, code: int, message: str = None, explain: str = None) -> None:
        """Malformed request lines and oversized headers, answered in OpenAI's error shape."""
        self.close_connection = True
        body = dumps(BY_NAME["openai"].render_error(ErrorReply(code, message or explain), "")).encode()
        try:
            self.wfile.write(response_head(code, [JSON_TYPE, ("connection", "close")], len(body)) + body)
        except OSError:
            pass

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = lambda self: self._serve(self.command)

    # -- one request ----------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        app = self.server.app
        started = time.monotonic()
        route = self.path.split("?", 1)[0]
        adapter = ADAPTERS.get(route) or self._guess_format()
        request_id = adapter.new_request_id()
        body, request, rule, outcome = b"", None, None, "ok"
        resolution = None
        self._entry = entry = RecordedRequest(
            adapter.name if route in ADAPTERS else None, method, self.path, self.headers.pairs, body,
            None, 0, time.time(), 0, outcome, None, _reparse)
        self._published = False
        try:
            if route not in ADAPTERS:
                status, outcome = self._catalog(app, adapter, method, route, request_id)
            else:
                if method != "POST":
                    self._drain()
                    raise Rejected(405, f"Method {method} not allowed on {route}; use POST.")
                body = entry.body = self._read_body(app.options.max_body_size)
                request = adapter.parse(_json_object(body, self.headers.get("content-type")), dict(self.headers.joined),
                                        self.path)
                request.body = body
                resolution = app.engine.resolve(request)
                rule = entry.rule = resolution.rule
                status, outcome = self._answer(app, adapter, request, resolution, request_id)
        except Rejected as rejected:
            status, outcome = rejected.error.status, "rejected"
            if rejected.close:
                self.close_connection = True
            self._send_error(adapter, rejected.error, request_id, outcome)
        except RequestError as bad:
            status, outcome = bad.status, "rejected"
            self._send_error(adapter, ErrorReply(bad.status, bad.message, param=bad.param), request_id, outcome)
        except RuleError as failure:
            status, outcome, rule = 500, "rule error", failure.description
            entry.rule = rule
            app.log.error(f"{failure}\n{''.join(traceback.format_exception(failure.cause))}")
            self._send_error(adapter, ErrorReply(500, f"llm_mock: {failure}"), request_id, outcome)
        except CLIENT_GONE:
            status, outcome = 200, "disconnected"
            self.close_connection = True
        self._publish(status, outcome)
        self.reader.deadline = None
        entry.duration_ms = (time.monotonic() - started) * 1000
        if app.log.enabled("info"):
            self._log(app, method, request, rule, status, outcome, started, resolution)

    def _catalog(self, app, adapter, method: str, route: str, request_id: str) -> tuple:
        """Model listings and Anthropic's token counter; anything else is a 404."""
        anthropic = adapter.name == "anthropic"
        if method == "GET" and route == "/v1/models":
            query = dict(parse_qsl(self.path.partition("?")[2]))
            body = catalog.anthropic_models(query) if anthropic else catalog.openai_models()
        elif method == "GET" and route.startswith("/v1/models/") and len(route) > len("/v1/models/"):
            model = unquote(route[len("/v1/models/"):])
            body = catalog.anthropic_model(model) if anthropic else catalog.openai_model(model)
        elif method == "POST" and route == "/v1/messages/count_tokens":
            adapter = BY_NAME["anthropic"]
            data = _json_object(self._read_body(app.options.max_body_size), self.headers.get("content-type"))
            data.setdefault("max_tokens", 1)  # the only field count_tokens does not take
            body = {"input_tokens": adapter.parse(data, dict(self.headers.joined), self.path).input_tokens}
        else:
            self._drain()
            raise Rejected(404, f"Invalid URL ({method} {self.path})")
        payload = dumps(body).encode("utf-8")
        self._publish(200, "ok")
        self.wfile.write(response_head(200, [JSON_TYPE, (adapter.request_id_header, request_id)], len(payload))
                         + payload)
        return 200, "ok"

    def _answer(self, app, adapter, request, resolution, request_id: str) -> tuple:
        """Send the reply for a resolved request; returns (status, outcome)."""
        reply = resolution.reply
        options = resolution.options.over(app.reply_defaults)
        error, fault = reply.error, reply.fault
        chaos = resolution.chaos or app.options.chaos
        if chaos is not None and error is None and fault is None:
            error, fault = chaos.decide(app.chaos_counter.next())
        if error is not None:
            self._send_error(adapter, error, request_id, "error reply")
            return error.status, "error reply"
        completion = build_completion(request, reply, options.chunk_size or 0, fault)
        if request.stream:
            return self._stream(app, adapter, request, completion, options, fault, request_id)
        return self._json(adapter, request, completion, options, fault, request_id)

    def _json(self, adapter, request, completion, options, fault, request_id: str) -> tuple:
        outcome = "ok" if fault is None else f"fault {fault.kind}"
        body = dumps(adapter.render_json(request, completion)).encode("utf-8")
        delay = (options.ttft or 0) / 1000
        if options.tokens_per_second:
            delay += completion.output_tokens / options.tokens_per_second
        if delay > 0:
            time.sleep(delay)
        headers = [JSON_TYPE, (adapter.request_id_header, request_id)]
        if fault is not None and fault.kind not in ("incomplete",):
            if fault.kind in ("error", "failed"):
                error = fault.error or ErrorReply(500)
                self._send_error(adapter, error, request_id, outcome)
                return error.status, outcome
            if fault.kind == "empty":
                body = b""
            elif fault.kind == "malformed":
                body = body[: len(body) // 2]
            else:  # disconnect, truncate, stall, reset: part of the body (or nothing), then the end
                sent = response_head(200, headers, len(body)) + body[: len(body) // 2] \
                    if fault.kind == "truncate" else b""
                self._publish(200, outcome)
                self._end_connection("close" if fault.kind == "truncate" else CONNECTION_END[fault.kind], sent, fault)
                return 200, outcome
        self._publish(200, outcome)
        self.wfile.write(response_head(200, headers, len(body)) + body)
        return 200, outcome

    def _stream(self, app, adapter, request, completion, options, fault, request_id: str) -> tuple:
        events = adapter.render_events(request, completion)
        events.request_id = request_id
        head = response_head(200, SSE_HEADERS + [(adapter.request_id_header, request_id)])
        end, outcome = "body", "ok" if fault is None else f"fault {fault.kind}"
        self._publish(200, outcome)
        if fault is None:
            frames = events.frames
            if adapter.terminator:
                frames = frames + [Frame(adapter.terminator)]
        else:
            cut = apply_fault(adapter, events, fault)
            frames, end = cut.frames, cut.end
            if end in ("close", "reset") and not frames and fault.after_events == 0:
                self._end_connection(end, b"", fault)  # no response at all: a connection error
                return 200, outcome
        offsets = schedule(frames, options.latency or 0, options.ttft or 0, options.tokens_per_second or 0,
                           options.jitter or 0, app.jitter_rng())
        last = LAST_CHUNK if end == "body" else b""
        if offsets is None:  # unpaced: the whole response, one chunk, one write
            body = b"".join(frame.data for frame in frames)
            self.wfile.write(head + (chunk(body) if body else b"") + last)
        else:
            app.pacer.send(self.connection, head, [chunk(frame.data) for frame in frames], offsets, last)
        if end != "body":
            self._end_connection(end, b"", fault)
        return 200, outcome

    def _end_connection(self, how: str, data: bytes, fault) -> None:
        """Finish a faulty response: close, reset, or stall then close."""
        self.close_connection = True
        sock = self.connection
        if data:
            self.wfile.write(data)
        if how == "stall":  # hold the connection until the client gives up or stall_ms passes
            deadline = time.monotonic() + fault.stall_ms / 1000
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], min(0.25, max(deadline - time.monotonic(), 0)))
                try:
                    if readable and not sock.recv(65536):  # what the client sends is discarded
                        break
                except OSError:
                    break
        if how == "reset":  # close now: socketserver's shutdown(SHUT_WR) would send a FIN before the RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            sock.close()
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- helpers ------------------------------------------------------------------------------
    def _publish(self, status: int, outcome: str) -> None:
        """Put this request in the history before the first byte of its answer goes out, so a client
        holding a response always finds it there; later calls only update status and outcome."""
        self._entry.status, self._entry.outcome = status, outcome
        if not self._published:
            self._published = True
            self.server.app.history.record(self._entry)

    def _send_error(self, adapter, error: ErrorReply, request_id: str, outcome: str = "rejected") -> None:
        self._publish(error.status, outcome)
        body = dumps(adapter.render_error(error, request_id)).encode("utf-8")
        headers = [JSON_TYPE, (adapter.request_id_header, request_id), *error.response_headers()]
        if error.status == 405:
            headers.append(("allow", "POST"))
        if self.close_connection:
            headers.append(("connection", "close"))
        self.wfile.write(response_head(error.status, headers, len(body)) + body)

    def _read_body(self, limit: int) -> bytes:
        try:
            return read_body(self.rfile, self.headers, limit)
        except HeadError as bad:
            raise Rejected(bad.status, bad.message, close=True) from None

    def _drain(self) -> None:
        try:
            self._read_body(self.server.app.options.max_body_size)
        except Rejected:
            self.close_connection = True

    def _guess_format(self):
        anthropic = "anthropic-version" in self.headers or "x-api-key" in self.headers
        return BY_NAME["anthropic" if anthropic else "openai"]

    def _log(self, app, method, request, rule, status, outcome, started, resolution=None) -> None:
        kind = "stream" if request is not None and request.stream else "json"
        said = shorten(request.last_message) if request is not None else ""
        ms = (time.monotonic() - started) * 1000
        app.log.info(f'{method} {self.path} [{kind}] "{said}" -> {rule or ("fallback" if outcome == "ok" else outcome)} '
                     f"{status} ({ms:.0f}ms)")
        if request is not None and app.log.enabled("debug"):
            app.log.debug(f"  request: {describe_request(request)}")
            if resolution is not None:
                app.log.debug(f"  reply: {describe_reply(resolution.reply)}")


def _json_object(body: bytes, content_type) -> dict:
    if content_type and "json" not in content_type.lower():
        raise Rejected(400, f"Unsupported Content-Type {content_type!r}: send the body as application/json.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, f"The request body is not valid UTF-8 (byte {exc.start}).")
    try:
        data = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise Rejected(400, f"We could not parse the JSON body of your request: {exc}")
    if not isinstance(data, dict):
        raise Rejected(400, "The request body must be a JSON object.")
    if ("\\ud" in text or "\\uD" in text) and _lone_surrogate(data):  # only \u escapes make them
        raise Rejected(400, "We could not parse the JSON body of your request: a \\u escape is an unpaired "
                            "UTF-16 surrogate.")
    return data


def _not_json(constant: str):
    raise ValueError(f"{constant} is not valid JSON")


def _lone_surrogate(value) -> bool:
    """True if any key or string in `value` holds an unpaired surrogate (it cannot be sent back as UTF-8)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _reparse(entry: RecordedRequest):
    """Rebuild a recorded request's `MockRequest` from its stored body."""
    adapter = BY_NAME.get(entry.format)
    if adapter is None or not entry.body:
        return None
    request = adapter.parse(json.loads(entry.body), entry.headers, entry.path)
    request.body = entry.body
    return request
